//! What `rampart audit` asks of the shared database itself, beyond the traits' reads: where it is
//! (never the password), whether the link to it is encrypted (AL-1.1), whether a commit waits for
//! the disk (the 250 after DATA depends on it), and the schema's version.
//!
//! Nothing here writes, migrates or waits longer than the configured timeouts.

use crate::{db, migrate, tls, PgOptions, PgStore};
use rampart_store::{Result, StoreError};

/// The database as the audit reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseFacts {
    /// `host:port` (or the unix socket directory and port), as `[store] url` names it.
    pub host: String,
    /// Every host of the URL is this machine: a unix socket, `localhost` or a loopback address.
    pub local: bool,
    /// The database's name.
    pub database: String,
    /// The role Rampart logs in as.
    pub user: String,
    /// Whether `[store] url` requires TLS (`sslmode=require` or `verify-full`: either way the
    /// server's certificate is verified against `sslrootcert`).
    pub tls_required: bool,
    /// The TLS version of this node's session as the server sees it (`pg_stat_ssl`); `None`
    /// when the session is not encrypted.
    pub tls_version: Option<String>,
    /// `SHOW synchronous_commit` in a session of Rampart's own pools, which ask for `on` when
    /// they connect.
    pub synchronous_commit: String,
    /// `SHOW synchronous_commit` in a session that sets nothing: the database's own default
    /// (postgresql.conf, ALTER SYSTEM, ALTER DATABASE, ALTER ROLE), what any connection gets
    /// whose startup options are dropped on the way (a pooler in front of the database).
    pub synchronous_commit_default: String,
    /// The schema version the database is at.
    pub schema_version: i32,
    /// The newest schema version this Rampart knows.
    pub schema_latest: i32,
}

impl PgStore {
    /// Gathers [`DatabaseFacts`] for the database of `options` (the options this store was
    /// connected with).
    pub async fn audit_facts(&self, options: &PgOptions) -> Result<DatabaseFacts> {
        let (config, _) = tls::parse(&options.url)?;
        let tls_required = config.get_ssl_mode() != tokio_postgres::config::SslMode::Disable;
        let ports = config.get_ports();
        let host = config
            .get_hosts()
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
                match h {
                    tokio_postgres::config::Host::Tcp(name) => format!("{name}:{port}"),
                    #[cfg(unix)]
                    tokio_postgres::config::Host::Unix(dir) => {
                        format!("unix socket {} port {port}", dir.display())
                    }
                }
            })
            .collect::<Vec<_>>()
            .join(", ");
        let local = config.get_hosts().iter().all(|h| match h {
            tokio_postgres::config::Host::Tcp(name) => {
                name.eq_ignore_ascii_case("localhost")
                    || name
                        .trim_matches(['[', ']'])
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback())
            }
            #[cfg(unix)]
            tokio_postgres::config::Host::Unix(_) => true,
        });
        let user = config.get_user().unwrap_or_default().to_string();
        let database = config.get_dbname().unwrap_or(&user).to_string();
        let conn = self.conn(&self.sessions).await?;
        let synchronous_commit = show_synchronous_commit(&conn).await?;
        let schema_version = migrate::current(&conn).await?;
        drop(conn);
        let tls_version = self.tls_in_use().await?;
        Ok(DatabaseFacts {
            host: if host.is_empty() {
                "the default (a local unix socket)".into()
            } else {
                host
            },
            local,
            database,
            user,
            tls_required,
            tls_version,
            synchronous_commit,
            synchronous_commit_default: default_synchronous_commit(options).await?,
            schema_version,
            schema_latest: migrate::MIGRATIONS.last().map(|m| m.0).unwrap_or(0),
        })
    }
}

async fn show_synchronous_commit(c: &tokio_postgres::Client) -> Result<String> {
    let rows = c
        .simple_query("SHOW synchronous_commit")
        .await
        .map_err(db)?;
    rows.iter()
        .find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
            _ => None,
        })
        .ok_or_else(|| StoreError::Db("SHOW synchronous_commit returned no row".into()))
}

/// `SHOW synchronous_commit` on a connection of its own, opened without the startup option
/// Rampart's pools send, within the configured timeouts.
async fn default_synchronous_commit(options: &PgOptions) -> Result<String> {
    let (mut config, tls) = tls::parse(&options.url)?;
    if let Some(p) = &options.password {
        config.password(p.trim_end_matches(['\r', '\n']));
    }
    config.connect_timeout(options.timeouts.acquire);
    config.application_name("rampart audit");
    let limit = options.timeouts.acquire + options.timeouts.statement;
    let asked = async {
        let (client, connection) = config.connect(tls).await.map_err(db)?;
        let driver = tokio::spawn(connection);
        let answer = show_synchronous_commit(&client).await;
        drop(client);
        driver.abort();
        answer
    };
    tokio::time::timeout(limit, asked).await.map_err(|_| {
        StoreError::Db(format!(
            "no answer to SHOW synchronous_commit within {} s",
            limit.as_secs()
        ))
    })?
}
