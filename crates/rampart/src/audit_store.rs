//! What `rampart audit` reads of the store, through the store's traits ([`AnyStore`]), so the
//! same evidence comes from the embedded store (SQLite) and from the PostgreSQL database several
//! nodes share (issue 20): the directory (NC-2.1.2, NC-2.1.6, AL-4.2), the trace and mailbox
//! audit (NC-2.4.3, AL-3.1) and the bans in force (NC-2.4.2). On PostgreSQL it also asks the
//! database itself ([`rampart_store_pg::audit`]): where it is, TLS to it, synchronous commit and
//! the schema's version.
//!
//! The audit changes nothing: on PostgreSQL it connects without migrating; node-local evidence
//! (TLS files, DKIM keys, the integrity baseline, attestations) stays read from data_dir by
//! audit_local.rs.

use rampart_audit::facts::{Account, DirectoryFacts, PostgresFacts};
use rampart_config::{Config, StoreBackend};
use rampart_store::{AnyStore, NetBan, Sqlite, TraceSummary};
use rampart_store_pg::PgStore;
use std::path::Path;
use std::sync::Arc;

/// Everything the audit reads of the store; a part that could not be read is `None` and its
/// controls say so.
#[derive(Default)]
pub struct StoreReads {
    pub directory: Option<DirectoryFacts>,
    pub trace: Option<TraceSummary>,
    pub active_bans: Option<Vec<NetBan>>,
    /// AL-1.2: per classifier scope, the lessons of an older tokeniser (to be retrained).
    pub classifier_stale: Option<Vec<rampart_audit::facts::StaleLessons>>,
    /// PostgreSQL only: the database's own facts, or why it could not be asked.
    pub postgresql: Option<Result<PostgresFacts, String>>,
}

/// Opens the configured store and reads it; an error only when the store cannot be opened at
/// all (the embedded store's files, or a `[store]` section that names no usable database).
pub fn read(config: &Config, now: i64) -> Result<StoreReads, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    match config.store.backend {
        StoreBackend::Sqlite => {
            let (sqlite, _writer_thread) = Sqlite::open(&config.data_dir).map_err(|e| {
                format!(
                    "cannot open the data directory {}: {e}",
                    config.data_dir.display()
                )
            })?;
            let store: AnyStore = Arc::new(sqlite);
            Ok(runtime.block_on(reads(&store, &config.data_dir, now)))
        }
        StoreBackend::Postgresql => {
            let options = crate::store_cmd::pg_options(config)?;
            // Connects without migrating: the audit reports the schema's version, never moves it.
            let pg = PgStore::connect(&options)
                .map_err(|e| format!("cannot use the PostgreSQL store of [store] url: {e}"))?;
            runtime.block_on(async {
                let database = pg.audit_facts(&options).await.map(|d| PostgresFacts {
                    host: d.host,
                    local: d.local,
                    database: d.database,
                    user: d.user,
                    tls_required: d.tls_required,
                    tls_version: d.tls_version,
                    synchronous_commit: d.synchronous_commit,
                    synchronous_commit_default: d.synchronous_commit_default,
                    schema_version: d.schema_version,
                    schema_latest: d.schema_latest,
                });
                let mut out = match &database {
                    Ok(_) => {
                        let store: AnyStore = Arc::new(pg.clone());
                        reads(&store, &config.data_dir, now).await
                    }
                    // Unreachable: each read would wait out the acquisition timeout again.
                    Err(_) => StoreReads::default(),
                };
                out.postgresql = Some(database.map_err(|e| e.to_string()));
                Ok(out)
            })
        }
    }
}

/// The reads every backend answers alike.
async fn reads(store: &AnyStore, data_dir: &Path, now: i64) -> StoreReads {
    let now_us = now * 1_000_000;
    let week_ago = now_us - 7 * 86_400 * 1_000_000;
    StoreReads {
        directory: directory(store, data_dir).await.ok(),
        trace: store.trace_summary(week_ago).await.ok(),
        active_bans: store.list_active(now_us).await.ok(),
        classifier_stale: classifier_stale(store).await.ok(),
        postgresql: None,
    }
}

/// AL-1.2: the lessons whose tokens an older tokeniser made (their counts no longer count):
/// every lesson of a scope minus those carrying this tokeniser's marker.
async fn classifier_stale(
    store: &AnyStore,
) -> rampart_store::Result<Vec<rampart_audit::facts::StaleLessons>> {
    let marker = rampart_checks::spam::bayes::tokens::marker();
    let mut stale = Vec::new();
    for (scope, all) in store.spam_scopes().await? {
        let now = store.spam_token_counts(&scope, &[marker]).await?;
        let (spam, ham) = now.tokens.first().map_or((0, 0), |(_, s, h)| (*s, *h));
        let (spam, ham) = (all.spam.saturating_sub(spam), all.ham.saturating_sub(ham));
        if spam + ham > 0 {
            stale.push(rampart_audit::facts::StaleLessons {
                scope,
                spam,
                ham,
                version: rampart_checks::spam::bayes::tokens::VERSION,
            });
        }
    }
    Ok(stale)
}

/// The directory: domains and accounts from the store, DKIM keys from this node's data_dir and
/// (on a shared store) from the store.
async fn directory(store: &AnyStore, data_dir: &Path) -> rampart_store::Result<DirectoryFacts> {
    let local_domains = store.domains().await?;
    let accounts = store
        .users()
        .await?
        .into_iter()
        .map(|address| Account {
            address,
            disabled: false,
        })
        .collect();
    let external_alias_targets = store
        .aliases()
        .await?
        .into_iter()
        .filter(|(_, target)| {
            let domain = target.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
            !local_domains.iter().any(|d| d.eq_ignore_ascii_case(domain))
        })
        .map(|(alias, target)| format!("{alias} -> {target}"))
        .collect();
    let mut dkim_domains: Vec<String> = rampart_queue::dkim::list(data_dir)
        .into_iter()
        .map(|(domain, ..)| domain)
        .collect();
    // A shared store's keys sign on every node (AL-2.2); the embedded store keeps none.
    if let Some(stored) = store.dkim_keys().await? {
        dkim_domains.extend(stored.into_iter().map(|k| k.domain));
    }
    dkim_domains.sort();
    dkim_domains.dedup();
    Ok(DirectoryFacts {
        local_domains,
        accounts,
        external_alias_targets,
        dkim_domains,
    })
}
