//! A PostgreSQL server of the test's own, to crash and restart: the shared test server
//! serves every other test at the same moment, so it is never the one restarted. The
//! cluster is made with `initdb` in a temporary folder (as the `postgres` user when the
//! tests run as root, since the server refuses to run as root), listens on a free port of
//! 127.0.0.1 with trust authentication, and is stopped and removed when dropped.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::helpers::free_port;

pub struct OwnPostgres {
    bin: PathBuf,
    data: tempfile::TempDir,
    port: u16,
}

/// The folder of PostgreSQL's server programs: Debian's newest, or `initdb` on PATH.
fn server_programs() -> Option<PathBuf> {
    let mut debian: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|version| version.path().join("bin"))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    debian.sort_by_key(|bin| {
        bin.parent()
            .and_then(|version| version.file_name())
            .and_then(|name| name.to_str()?.parse::<u32>().ok())
    });
    debian.pop().or_else(|| {
        let found = Command::new("sh")
            .args(["-c", "command -v initdb"])
            .output()
            .ok()?;
        let path = String::from_utf8(found.stdout).ok()?;
        Some(Path::new(path.trim()).parent()?.to_owned())
    })
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.trim_ascii() == b"0")
}

impl OwnPostgres {
    /// A new server, running; `None` (after saying so) where PostgreSQL is not installed
    /// and IOP_POSTGRES_REQUIRED is not set.
    pub fn start() -> Option<Self> {
        let Some(bin) = server_programs() else {
            assert!(
                std::env::var("IOP_POSTGRES_REQUIRED").as_deref() != Ok("1"),
                "PostgreSQL's initdb is not installed, and IOP_POSTGRES_REQUIRED=1 forbids skipping"
            );
            eprintln!("SKIPPED postgres test: no initdb (install postgresql)");
            return None;
        };
        let data = tempfile::tempdir().unwrap();
        if running_as_root() {
            let owned = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(data.path())
                .status()
                .unwrap();
            assert!(owned.success(), "chown the cluster's folder to postgres");
        }
        let port = free_port();
        let server = OwnPostgres { bin, data, port };
        let cluster = server.data.path().join("cluster");
        server.run(
            "initdb",
            &[
                "--no-sync",
                "--auth=trust",
                "--username=postgres",
                "--encoding=UTF8",
                "-D",
                cluster.to_str().unwrap(),
            ],
        );
        server.start_again();
        Some(server)
    }

    /// What the service is given: the server's own `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Kills the server as a power cut would, without a checkpoint: it recovers from its
    /// write-ahead log when started again.
    pub fn crash(&self) {
        self.pg_ctl(&["stop", "-m", "immediate"]);
    }

    /// Starts the server and waits until it takes connections.
    pub fn start_again(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.data.path().display()
        );
        let log = self.data.path().join("server.log");
        self.pg_ctl(&["start", "-w", "-l", log.to_str().unwrap(), "-o", &options]);
    }

    fn pg_ctl(&self, args: &[&str]) {
        let cluster = self.data.path().join("cluster");
        let mut all = vec!["-D", cluster.to_str().unwrap()];
        all.extend_from_slice(args);
        self.run("pg_ctl", &all);
    }

    /// Runs one of the server's programs and fails the test if it fails.
    fn run(&self, program: &str, args: &[&str]) {
        let out = self.command(program, args).output().unwrap();
        assert!(
            out.status.success(),
            "{program} {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// One of the server's programs, as `postgres` when the tests run as root.
    fn command(&self, program: &str, args: &[&str]) -> Command {
        let path = self.bin.join(program);
        let mut command = if running_as_root() {
            let mut as_postgres = Command::new("runuser");
            as_postgres.args(["-u", "postgres", "--"]).arg(&path);
            as_postgres
        } else {
            Command::new(&path)
        };
        command.args(args);
        command
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        // Quietly, and even when the test failed: a panic here would abort the run.
        let cluster = self.data.path().join("cluster");
        let _ = self
            .command(
                "pg_ctl",
                &["-D", cluster.to_str().unwrap(), "stop", "-m", "immediate"],
            )
            .output();
    }
}
