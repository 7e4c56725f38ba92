//! The real `iop-callback` binary as a child process, for what only a process shows:
//! its log output, signals, exit codes.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use wiremock::MockServer;

use crate::helpers::{TestApp, plain_config, service_args};

/// The binary, run with the test flags and RUST_LOG=debug, its stderr collected.
pub struct RunningBinary {
    pub child: Child,
    log: Arc<Mutex<String>>,
    /// Woken at each line the process writes.
    logged: Arc<tokio::sync::Notify>,
    pub address: String,
    pub port: String,
}

impl RunningBinary {
    pub fn start(platform: &MockServer, data: &tempfile::TempDir, extra: &[&str]) -> Self {
        let args = service_args(&platform.uri(), data, extra);
        let mut child = Command::new(env!("CARGO_BIN_EXE_iop-callback"))
            .args(&args[1..])
            .env("RUST_LOG", "debug")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        let logged = Arc::new(tokio::sync::Notify::new());
        let wake = logged.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("iop-callback listening") {
                    let _ = tx.send(line.clone());
                }
                {
                    let mut sink = sink.lock().unwrap();
                    sink.push_str(&line);
                    sink.push('\n');
                }
                wake.notify_waiters();
            }
            // The pipe closed: nothing more will come.
            wake.notify_waiters();
        });
        // The startup line names the bound port; waiting for it is waiting for a fact.
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the binary starts and logs its address");
        let port = line
            .split("127.0.0.1:")
            .nth(1)
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
            .expect("listen address in the startup line")
            .to_owned();
        RunningBinary {
            child,
            log,
            logged,
            address: format!("http://127.0.0.1:{port}"),
            port,
        }
    }

    /// Stops the process at once and returns its log, waiting (briefly) until `last_words`
    /// has been read out of the pipe.
    pub async fn kill_and_collect_log(mut self, last_words: &str) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.log_containing(last_words).await
    }

    /// How many lines the process has logged so far.
    pub fn log_lines(&self) -> usize {
        self.log.lock().unwrap().lines().count()
    }

    /// The log so far, once it contains `text` (or after two seconds).
    pub async fn log_containing(&self, text: &str) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        loop {
            // Registered before looking, so a line written in between still wakes us.
            let next_line = self.logged.notified();
            tokio::pin!(next_line);
            next_line.as_mut().enable();
            let log = self.log.lock().unwrap().clone();
            if log.contains(text) || tokio::time::timeout_at(deadline, next_line).await.is_err() {
                return self.log.lock().unwrap().clone();
            }
        }
    }
}

impl RunningBinary {
    /// A `TestApp` view of this process, so the browser helpers work against it.
    pub fn as_test_app(&self, platform: MockServer) -> TestApp {
        TestApp {
            address: self.address.clone(),
            metrics_address: None,
            platform,
            config: plain_config(),
            // A separate process keeps its own time; this clock moves nothing there.
            clock: iop_callback::clock::ManualClock::starting_now(),
            _data: tempfile::tempdir().unwrap(),
        }
    }
}

/// A test that fails half-way must not leave the process running.
impl Drop for RunningBinary {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
