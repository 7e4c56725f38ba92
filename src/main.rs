use std::process::ExitCode;

use clap::Parser;
use iop_callback::cli::Cli;

// glibc's malloc took a tenth of the service's CPU under the side-by-side benchmark, and
// its arena locks put threads to sleep when one thread freed what another allocated (as
// the SQLite writer and the request tasks do all the time): jemalloc gave a fifth more flows
// a second and a shorter tail (BENCHMARKS.md). Its options are in .cargo/config.toml.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if let Some(help) = iop_callback::cli::short_help(&args) {
        print!("{help}");
        return ExitCode::SUCCESS;
    }
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(error) => {
            let hint = iop_callback::cli::env_hint(&error, &args);
            let _ = error.print();
            if let Some(hint) = hint {
                eprintln!("{hint}");
            }
            return ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(2));
        }
    };
    iop_callback::telemetry::init(cli.service.log_format);
    match iop_callback::commands::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("iop-callback: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}
