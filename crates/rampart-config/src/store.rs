//! `[store]`: where a node keeps its state. SQLite in the data directory is the embedded
//! default; PostgreSQL lets several nodes share one queue, directory, trace, bans and counters
//! (docs/SCALING.md).

use crate::report::{ConfigError, Locator};
use crate::Config;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Which database holds the node's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum StoreBackend {
    /// SQLite in `data_dir` (and message files beside it): one node, no external service.
    #[default]
    Sqlite,
    /// A PostgreSQL database shared by every node of the installation.
    Postgresql,
}

/// The store.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `sqlite` (the default) or `postgresql`.
    pub backend: StoreBackend,
    /// With `postgresql`: the database, as `postgresql://user@host:port/dbname`, with
    /// `?sslmode=verify-full&sslrootcert=/etc/rampart/db-ca.pem` for TLS to another host. No
    /// password here: it goes in `password_file`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// With `postgresql`: a file holding the database user's password (one line, mode 0600).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    /// Connections of the pool that serves SMTP and JMAP sessions.
    pub pool_sessions: usize,
    /// Connections of the pool that enqueues and records delivery outcomes.
    pub pool_queue: usize,
    /// Connections of the pool that claims and renews the queue's leases.
    pub pool_leases: usize,
    /// Seconds to wait for a connection of a pool before the request fails (an SMTP session
    /// answers 451 then).
    pub acquire_timeout_secs: u64,
    /// Seconds a statement may run before the database cancels it.
    pub statement_timeout_secs: u64,
    /// Seconds a statement may wait for a lock before it fails.
    pub lock_timeout_secs: u64,
    /// With `postgresql`: seconds a node's claim on a queued message lasts without renewal.
    /// Another node takes the message over this long after the node that claimed it died.
    pub lease_secs: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            backend: StoreBackend::Sqlite,
            url: None,
            password_file: None,
            pool_sessions: 16,
            pool_queue: 8,
            pool_leases: 2,
            acquire_timeout_secs: 5,
            statement_timeout_secs: 30,
            lock_timeout_secs: 10,
            lease_secs: 300,
        }
    }
}

impl StoreConfig {
    /// The password from `password_file`, its trailing newline removed; an error naming the
    /// file and what to do when it cannot be read.
    pub fn read_password(&self) -> Result<Option<String>, String> {
        let Some(path) = &self.password_file else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(path).map_err(|e| {
            format!(
                "[store] password_file {} cannot be read ({e}); create it with the database \
                 user's password, readable by the user rampart runs as",
                path.display()
            )
        })?;
        let password = text.trim_end_matches(['\r', '\n']).to_string();
        if password.is_empty() {
            return Err(format!(
                "[store] password_file {} is empty; write the database user's password in it",
                path.display()
            ));
        }
        Ok(Some(password))
    }
}

pub(crate) fn check(config: &Config, loc: &Locator<'_>, errors: &mut Vec<ConfigError>) {
    let s = &config.store;
    match s.backend {
        StoreBackend::Sqlite => {
            for (key, set) in [
                ("store.url", s.url.is_some()),
                ("store.password_file", s.password_file.is_some()),
            ] {
                if set {
                    errors.push(loc.at(
                        key,
                        "is a setting of backend = \"postgresql\"; remove it or set the backend",
                    ));
                }
            }
        }
        StoreBackend::Postgresql => match &s.url {
            None => errors.push(loc.at(
                "store.backend",
                "backend = \"postgresql\" needs url = \"postgresql://user@host:port/dbname\"",
            )),
            Some(url) => {
                if !(url.starts_with("postgresql://") || url.starts_with("postgres://")) {
                    errors.push(loc.at(
                        "store.url",
                        "must be a URL like postgresql://user@host:port/dbname",
                    ));
                } else if url_has_password(url) {
                    errors.push(loc.at(
                        "store.url",
                        "holds a password; put it in password_file instead",
                    ));
                }
            }
        },
    }
    for (key, n) in [
        ("store.pool_sessions", s.pool_sessions),
        ("store.pool_queue", s.pool_queue),
        ("store.pool_leases", s.pool_leases),
    ] {
        if n == 0 {
            errors.push(loc.at(key, "must be at least 1"));
        }
    }
    for (key, n) in [
        ("store.acquire_timeout_secs", s.acquire_timeout_secs),
        ("store.statement_timeout_secs", s.statement_timeout_secs),
        ("store.lock_timeout_secs", s.lock_timeout_secs),
        ("store.lease_secs", s.lease_secs),
    ] {
        if n == 0 {
            errors.push(loc.at(key, "must be at least 1 second (0 would mean no limit)"));
        }
    }
}

/// `user:password@` in the authority part.
fn url_has_password(url: &str) -> bool {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    authority
        .rsplit_once('@')
        .is_some_and(|(userinfo, _)| userinfo.contains(':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Config, String> {
        Config::parse(std::path::Path::new("test.toml"), s).map_err(|e| e.to_string())
    }

    #[test]
    fn sqlite_is_the_default_and_postgresql_needs_a_url() {
        let c = parse("hostname = \"mx.a.example\"\n").unwrap();
        assert_eq!(c.store.backend, StoreBackend::Sqlite);
        let e = parse("hostname = \"mx.a.example\"\n[store]\nbackend = \"mysql\"\n").unwrap_err();
        assert!(
            e.contains("store.backend") && e.contains("postgresql"),
            "{e}"
        );
        let e =
            parse("hostname = \"mx.a.example\"\n[store]\nbackend = \"postgresql\"\n").unwrap_err();
        assert!(e.contains("needs url"), "{e}");
        let e = parse(
            "hostname = \"mx.a.example\"\n[store]\nbackend = \"postgresql\"\n\
             url = \"postgresql://r:secret@db/mail\"\n",
        )
        .unwrap_err();
        assert!(e.contains("password_file"), "{e}");
        let c = parse(
            "hostname = \"mx.a.example\"\n[store]\nbackend = \"postgresql\"\n\
             url = \"postgresql://r@db:5432/mail\"\npassword_file = \"/nonexistent/pw\"\n",
        )
        .unwrap();
        let e = c.store.read_password().unwrap_err();
        assert!(e.contains("/nonexistent/pw cannot be read"), "{e}");
        let e = parse("hostname = \"mx.a.example\"\n[store]\nurl = \"postgresql://db/m\"\n")
            .unwrap_err();
        assert!(
            e.contains("store.url") && e.contains("setting of backend"),
            "{e}"
        );
    }
}
