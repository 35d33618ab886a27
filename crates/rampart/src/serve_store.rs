//! Which store `rampart serve` runs on (`[store] backend`), and what of the server differs between
//! the two.
//!
//! - SQLite (the embedded default): the data directory holds everything; the writer thread makes
//!   each group commit durable.
//! - PostgreSQL (several nodes, docs/SCALING.md): the shared database holds queue, mailboxes,
//!   directory, trace, bans, counters and DKIM keys; the node keeps only node-local files in its
//!   data_dir (TLS certificate, integrity baseline, the admin socket, the spool of large
//!   messages while they arrive, and DKIM key files from before, which still sign there).
//!
//! Beyond the traits of [`rampart_store::Backend`], a few console actions (the directory's
//! changes, a bounce, DKIM keys) call the concrete store ([`Running::console_store`]), each
//! backend's own function, the one its command line calls.

use rampart_config::Config;
use rampart_store::{AnyStore, Sqlite, Store, Writer};
use rampart_store_pg::PgStore;
use std::sync::Arc;

pub type Error = Box<dyn std::error::Error>;

/// The store as opened before privileges are dropped.
pub enum Opened {
    Sqlite(Store),
    Postgresql(PgStore),
}

/// The store running: the handle the server passes around, and what only one backend has.
pub struct Running {
    pub backend: AnyStore,
    pub local: Local,
}

pub enum Local {
    Sqlite {
        store: Store,
        writer: Writer,
        sqlite: Sqlite,
        _thread: std::thread::JoinHandle<()>,
    },
    Postgresql(PgStore),
}

impl Opened {
    /// Opens the configured store: the data directory's SQLite, or the PostgreSQL database with
    /// its pending migrations applied. The data directory exists afterwards either way.
    pub async fn open(config: &Config) -> Result<Opened, Error> {
        match config.store.backend {
            rampart_config::StoreBackend::Sqlite => {
                let store = Store::open(&config.data_dir).map_err(|e| {
                    format!(
                        "cannot open the data directory {}: {e}",
                        config.data_dir.display()
                    )
                })?;
                Ok(Opened::Sqlite(store))
            }
            rampart_config::StoreBackend::Postgresql => {
                refuse_unsupported(config)?;
                prepare_node_dir(&config.data_dir)?;
                let pg = crate::store_cmd::open_pg(config).await?;
                Ok(Opened::Postgresql(pg))
            }
        }
    }

    /// The embedded store, for what only it has (the demo's seeding).
    pub fn sqlite(&self) -> Option<&Store> {
        match self {
            Opened::Sqlite(s) => Some(s),
            Opened::Postgresql(_) => None,
        }
    }

    /// Starts what runs beside the store (SQLite's writer thread) and returns the handle the
    /// server uses; once privileges are dropped.
    pub fn start(self) -> Result<Running, Error> {
        match self {
            Opened::Sqlite(store) => {
                let (writer, thread) = Writer::start(&store)?;
                let sqlite = Sqlite::new(store.clone(), writer.clone());
                Ok(Running {
                    backend: Arc::new(sqlite.clone()),
                    local: Local::Sqlite {
                        store,
                        writer,
                        sqlite,
                        _thread: thread,
                    },
                })
            }
            Opened::Postgresql(pg) => Ok(Running {
                backend: shared_backend(pg.clone())?,
                local: Local::Postgresql(pg),
            }),
        }
    }
}

/// The PostgreSQL store as the server's [`AnyStore`]: it implements every trait of
/// [`rampart_store::Backend`] (`rampart_store_pg::MISSING` is empty).
fn shared_backend(pg: PgStore) -> Result<AnyStore, Error> {
    Ok(Arc::new(pg))
}

impl Running {
    /// The concrete store the console uses for the actions not on a trait.
    pub fn console_store(&self) -> crate::console::LocalStore {
        match &self.local {
            Local::Sqlite { store, .. } => crate::console::LocalStore::Sqlite(store.clone()),
            Local::Postgresql(pg) => crate::console::LocalStore::Postgresql(pg.clone()),
        }
    }

    /// The embedded store, for the parts that read it directly.
    pub fn sqlite(&self) -> Option<(&Store, &Sqlite)> {
        match &self.local {
            Local::Sqlite { store, sqlite, .. } => Some((store, sqlite)),
            Local::Postgresql(_) => None,
        }
    }

    /// What systemd's watchdog waits on: a commit through the writer (SQLite), a round trip to
    /// the database (PostgreSQL). A node that can no longer make anything durable stops
    /// feeding the watchdog.
    pub fn probe(&self) -> crate::notify::Probe {
        match &self.local {
            Local::Sqlite { writer, .. } => {
                let writer = writer.clone();
                Arc::new(move || {
                    let writer = writer.clone();
                    Box::pin(async move {
                        writer
                            .run(false, |_| Ok(()))
                            .await
                            .map_err(|e| e.to_string())
                    })
                })
            }
            Local::Postgresql(pg) => {
                let pg = pg.clone();
                Arc::new(move || {
                    let pg = pg.clone();
                    Box::pin(async move { pg.ping().await.map_err(|e| e.to_string()) })
                })
            }
        }
    }

    /// At shutdown, once the queue manager has stopped: everything sent to SQLite's writer is
    /// committed once this returns; on PostgreSQL (where every commit was awaited by whoever
    /// made it) the node gives its queue leases up, so another node attempts those recipients
    /// at once rather than when the leases run out.
    pub async fn finish(&self) -> Result<(), Error> {
        match &self.local {
            Local::Sqlite { writer, .. } => writer.run(false, |_| Ok(())).await?,
            Local::Postgresql(pg) => match pg.release_leases().await {
                Ok(n) if n > 0 => tracing::info!(recipients = n, "queue leases released"),
                Ok(_) => {}
                // They run out by themselves: another node takes them over after lease_secs.
                Err(e) => tracing::warn!(error = %e, "queue leases not released"),
            },
        }
        Ok(())
    }
}

/// The parts of `rampart serve` that do not run on PostgreSQL yet, each named with what to do:
/// one line, before anything is opened or bound. None remain: the console and /metrics run on
/// the shared database since their administrators moved behind the `Admins` trait.
pub fn refuse_unsupported(_config: &Config) -> Result<(), String> {
    Ok(())
}

/// A node on PostgreSQL still keeps node-local files in its data directory: made here, owner
/// only, as the embedded store makes its own.
fn prepare_node_dir(dir: &std::path::Path) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt;
    for sub in ["", "tls"] {
        let p = dir.join(sub);
        std::fs::create_dir_all(&p)
            .map_err(|e| format!("cannot create the data directory {}: {e}", p.display()))?;
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| format!("cannot restrict the data directory {}: {e}", dir.display()))?;
    Ok(())
}
