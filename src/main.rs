use std::process::ExitCode;

use clap::Parser;
use iop_callback::cli::Cli;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if let Some(help) = iop_callback::cli::short_help(&args) {
        print!("{help}");
        return ExitCode::SUCCESS;
    }
    let cli = Cli::parse();
    iop_callback::telemetry::init(cli.service.log_format);
    match iop_callback::commands::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("iop-callback: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}
