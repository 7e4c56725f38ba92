//! The load flags flow-bench and push-bench share: the store, the connections, and how long.

use std::time::Duration;

pub(crate) struct Load {
    /// `sqlite` or `postgres`.
    pub(crate) database: String,
    pub(crate) connections: usize,
    pub(crate) duration: Duration,
}

impl Default for Load {
    fn default() -> Self {
        Load {
            database: "sqlite".into(),
            connections: 64,
            duration: Duration::from_secs(60),
        }
    }
}

impl Load {
    /// Takes `flag`'s value when the flag is one of the load's; false when it is not.
    pub(crate) fn take(&mut self, flag: &str, value: &str) -> bool {
        match flag {
            "--database" => self.database = value.to_owned(),
            "--connections" => self.connections = value.parse().expect("a number"),
            "--duration" => self.duration = Duration::from_secs(value.parse().expect("seconds")),
            _ => return false,
        }
        true
    }
}
