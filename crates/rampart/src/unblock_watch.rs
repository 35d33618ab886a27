//! NC-2.4.2 on several nodes (issue 20): `rampart ban remove NET` on a PostgreSQL store lifts
//! the SMTP AUTH guard's blocks in NET on every node, not only on the one whose admin socket it
//! can reach. Those blocks (`[auth] block_after_failures`) live in each node's memory, so the
//! command records an [`EVENT`] in the shared IDS log ([`crate::admin_pg_security`]) and every
//! node reads the log each [`rampart_ids::REFRESH`], as it reads the ban generation.
//!
//! The log is read a little into the past ([`LOOKBACK`]), so an event stamped by a host whose
//! clock is behind this node's is still seen; each event is applied once (a repeat would give
//! the address fresh attempts again).

use rampart_ids::net::parse_network;
use rampart_smtp::limits::AuthGuard;
use rampart_store::AnyStore;
use std::collections::HashSet;
use std::sync::Arc;
use tokio::sync::watch;

/// The IDS log's event of `rampart ban remove` that every node's AUTH guard acts on.
pub const EVENT: &str = "unblock";

/// How far before the last read the log is read again (clock skew between hosts).
const LOOKBACK: i64 = 30_000_000;

/// Most events read at once.
const BATCH: usize = 1000;

/// Runs until shutdown: every [`EVENT`] recorded from now on lifts this node's AUTH blocks in
/// its network.
pub async fn run(store: AnyStore, guard: Arc<AuthGuard>, mut shutdown: watch::Receiver<bool>) {
    let mut read_at = rampart_store::now_micros();
    let mut seen = HashSet::new();
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tokio::time::sleep(rampart_ids::REFRESH) => {}
        }
        let now = rampart_store::now_micros();
        match apply(&store, &guard, &mut seen, read_at - LOOKBACK).await {
            Ok(()) => {
                read_at = now;
                seen.retain(|(ts, ..)| *ts >= read_at - LOOKBACK);
            }
            Err(err) => tracing::warn!(
                error = %err,
                "the IDS log cannot be read; AUTH blocks lifted on other nodes are not lifted here yet"
            ),
        }
    }
}

/// Applies the [`EVENT`]s logged since `from` that `seen` does not hold yet, page by page.
async fn apply(
    store: &AnyStore,
    guard: &AuthGuard,
    seen: &mut HashSet<(i64, String, String)>,
    mut from: i64,
) -> rampart_store::Result<()> {
    loop {
        let page = store.ids_events_of(EVENT, from, BATCH).await?;
        let next = (page.len() == BATCH)
            .then(|| page.last().map(|e| e.ts))
            .flatten()
            .filter(|ts| *ts > from);
        for e in page {
            if !seen.insert((e.ts, e.network.clone(), e.detail.clone())) {
                continue;
            }
            match parse_network(&e.network) {
                Ok(net) => {
                    let n = guard.unblock(&net);
                    tracing::warn!(
                        network = %net,
                        addresses = n,
                        "AUTH blocks lifted by the administrator (rampart ban remove on any node)"
                    );
                }
                Err(err) => tracing::warn!(
                    network = e.network,
                    error = %err,
                    "an unblock event whose network does not parse; ignored"
                ),
            }
        }
        match next {
            Some(ts) => from = ts,
            None => return Ok(()),
        }
    }
}
