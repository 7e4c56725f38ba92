//! Which engine a database URL names, and the URL as a type whose `Debug` and `Display` hide the password (and the
//! query, where libpq-style URLs may carry one): it appears in logs, errors and `Debug`
//! of the configuration, never the secret in it.

use std::fmt;

/// The database engines iop-callback runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// One file; one box.
    Sqlite,
    /// Several replicas sharing one database.
    Postgres,
}

impl Engine {
    pub fn of(database_url: &str) -> Option<Engine> {
        let url = database_url.trim();
        if url.starts_with("sqlite:") {
            Some(Engine::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Engine::Postgres)
        } else {
            None
        }
    }
}

#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl {
    raw: String,
    engine: Engine,
}

/// Whether a postgres:// URL lists several `host:port` before its path.
fn several_hosts(raw: &str) -> bool {
    let rest = raw.split_once("://").map_or(raw, |(_, rest)| rest);
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    let hosts = authority
        .rsplit_once('@')
        .map_or(authority, |(_, hosts)| hosts);
    hosts.contains(',')
}

impl DatabaseUrl {
    /// A `sqlite:` or `postgres://` URL; the error never repeats the value.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let raw = raw.trim();
        let engine = Engine::of(raw)
            .ok_or("must be a sqlite: URL (sqlite://data/iop-callback.db) or a postgres:// URL")?;
        if engine == Engine::Postgres && several_hosts(raw) {
            return Err(
                "names several hosts (`a,b`), which this service's PostgreSQL driver cannot \
                 fail over between: give one address that follows the primary (the cluster's \
                 virtual IP or DNS name, HAProxy, or pgBouncer in session mode); README: \
                 database failover",
            );
        }
        Ok(DatabaseUrl {
            raw: raw.to_owned(),
            engine,
        })
    }

    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// A SQLite database's file, as an absolute path; `None` for PostgreSQL.
    pub fn sqlite_file(&self) -> Option<std::path::PathBuf> {
        use std::str::FromStr;
        // sqlx would read a postgres:// URL as a file name, password and all.
        if self.engine != Engine::Sqlite {
            return None;
        }
        let options = sqlx::sqlite::SqliteConnectOptions::from_str(&self.raw).ok()?;
        let file = options.get_filename();
        Some(std::path::absolute(file).unwrap_or_else(|_| file.to_owned()))
    }

    /// The whole URL, password included: only for connecting.
    pub fn expose(&self) -> &str {
        &self.raw
    }

    /// What may be shown: the SQLite URL as given, or PostgreSQL's user, hosts, ports and
    /// database without the password or the query.
    pub fn redacted(&self) -> String {
        match self.engine {
            Engine::Sqlite => self.raw.clone(),
            Engine::Postgres => {
                let (scheme, rest) = self.raw.split_once("://").unwrap_or(("postgres", ""));
                let rest = rest.split(['?', '#']).next().unwrap_or("");
                let (authority, database) = rest.split_once('/').unwrap_or((rest, ""));
                let where_to = match authority.rsplit_once('@') {
                    Some((user, hosts)) => {
                        let user = user.split(':').next().unwrap_or("");
                        format!("{user}@{hosts}")
                    }
                    None => authority.to_owned(),
                };
                format!("{scheme}://{where_to}/{database}")
            }
        }
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({})", self.redacted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_sqlite_url_names_a_file() {
        let postgres = DatabaseUrl::parse("postgres://u:secretpw@a:5432/tokens").unwrap();
        assert_eq!(postgres.sqlite_file(), None);
        let sqlite = DatabaseUrl::parse("sqlite://data/t.db").unwrap();
        assert!(sqlite.sqlite_file().unwrap().ends_with("data/t.db"));
    }

    #[test]
    fn a_postgres_password_never_shows() {
        for raw in [
            "postgres://u:secretpw@db.example:5432/tokens",
            "postgresql://u:secretpw@a:5432/tokens?sslmode=require",
            "postgres://db.example/tokens?user=u&password=secretpw",
        ] {
            let url = DatabaseUrl::parse(raw).unwrap();
            for shown in [url.to_string(), format!("{url:?}")] {
                assert!(!shown.contains("secretpw"), "{shown}");
                assert!(shown.contains("/tokens"), "{shown}");
            }
            assert_eq!(url.expose(), raw);
        }
        let refused = DatabaseUrl::parse("postgres://u:secretpw@a:5432,b:5433/tokens").unwrap_err();
        assert!(refused.contains("several hosts") && !refused.contains("secretpw"));
        assert!(
            DatabaseUrl::parse("postgres://u:a,b@h/db?options=x,y").is_ok(),
            "a comma elsewhere"
        );
    }

    #[test]
    fn other_schemes_are_refused_without_repeating_the_value() {
        let refused = DatabaseUrl::parse("mysql://u:secretpw@h/db").unwrap_err();
        assert!(!refused.contains("secretpw"));
    }
}
