//! `rampart dkim generate|list` on the PostgreSQL store (issue 20): the key goes into the shared
//! database's `dkim_keys` table, so every node signs with it (AL-2.2, the NC guideline on
//! signatures); each node's outbound delivery picks it up without a restart.
//!
//! The output is that of the embedded store's commands (admin.rs): the TXT record to publish on
//! stdout, where the key went on stderr. The private key is never printed: only the database
//! role of `[store] url` (and the database's superusers) can read it (docs/SCALING.md).

use crate::admin::{txt_strings, DkimCmd, Error};
use rampart_queue::dkim::{self, Algorithm};
use rampart_store::dkim_keys::{DkimKey, DkimKeys};
use rampart_store_pg::PgStore;

/// A new key as a shared store keeps it (the console's generation stores it the same way).
pub fn stored(key: &dkim::NewKey, alg: Algorithm) -> DkimKey {
    DkimKey {
        domain: key.domain.clone(),
        selector: key.selector.clone(),
        algorithm: alg.name().into(),
        private_key_pem: dkim::to_pem(alg, &key.private_der),
        created: rampart_store::now_micros(),
    }
}

pub async fn run(store: &PgStore, data_dir: &std::path::Path, cmd: &DkimCmd) -> Result<(), Error> {
    match cmd {
        DkimCmd::Generate {
            domain,
            selector,
            algorithm,
            bits,
        } => {
            let alg = Algorithm::parse(algorithm).ok_or_else(|| {
                format!("--algorithm {algorithm} is not known; use rsa or ed25519")
            })?;
            let key = dkim::make(domain, selector, alg, *bits)?;
            store.dkim_key_add(stored(&key, alg)).await?;
            eprintln!(
                "key stored in the shared PostgreSQL database (table dkim_keys, readable by the \
                 database role of [store] url); every node signs with it"
            );
            println!(
                "; AL-2.2: publish this TXT record, then mail from {} is signed with it",
                key.domain
            );
            println!(
                "{}. IN TXT {}",
                key.record_name,
                txt_strings(&key.record_value)
            );
        }
        DkimCmd::List { json } => {
            // The shared keys, then this node's own key files (which still sign on this node).
            let stored = store.dkim_keys().await?.unwrap_or_default();
            for k in stored {
                let alg = Algorithm::parse(&k.algorithm);
                if *json {
                    let v = serde_json::json!({
                        "domain": k.domain,
                        "selector": k.selector,
                        "algorithm": k.algorithm,
                        "path": null,
                        "stored": "database",
                    });
                    println!("{v}");
                } else {
                    let alg = alg.map_or(k.algorithm.clone(), |a| format!("{a:?}"));
                    println!("{}\t{}\t{alg}\tdatabase", k.domain, k.selector);
                }
            }
            for (domain, selector, alg, path) in dkim::list(data_dir) {
                if *json {
                    let v = serde_json::json!({
                        "domain": domain,
                        "selector": selector,
                        "algorithm": alg.name(),
                        "path": path,
                    });
                    println!("{v}");
                } else {
                    println!("{domain}\t{selector}\t{alg:?}\t{}", path.display());
                }
            }
        }
    }
    Ok(())
}

/// The keys the shared database keeps (`rampart dns-records` on PostgreSQL publishes them).
pub fn stored_keys(config: &rampart_config::Config) -> Result<Vec<DkimKey>, Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async {
        let store = crate::store_cmd::open_pg(config).await?;
        Ok(store.dkim_keys().await?.unwrap_or_default())
    })
}
