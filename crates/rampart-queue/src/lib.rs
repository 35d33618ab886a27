//! The queue manager: takes queued messages and delivers them, and keeps the trace within its
//! retention period (NC-2.4.3).
//!
//! One task drives it. It wakes when a message is queued (or every [`RESCAN`] for anything left
//! behind, e.g. after a restart), delivers every due message in one commit, and sleeps again.
//! Local delivery is a database change only: the message file is shared by every mailbox that
//! holds the message.
//!
//! Remote recipients go to [`outbound`]: MX delivery over TLS, retries, bounces, DKIM signing;
//! those of a relay domain go to its internal next hops ([`relay_domain`], AL-1).

pub mod client;
pub mod dane;
pub mod dkim;
pub mod dmarc_report;
pub mod dns;
pub mod dsn;
pub mod mta_sts;
pub mod outbound;
pub mod relay_domain;
pub mod report_mailbox;
pub mod tls_report;
pub mod transport_security;

use rampart_checks::pipeline::{Held, Pipeline};
use rampart_store::AnyStore;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{watch, Notify};

/// How often the queue is scanned when nothing wakes the manager.
pub const RESCAN: Duration = Duration::from_secs(5);
/// Messages taken per round.
const BATCH: usize = 512;
/// How often expired trace events are removed.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// How often days that are over are looked for, to send their TLS reports (RFC 8460) and
/// DMARC aggregate reports (RFC 7489).
const TLS_REPORTS_EVERY: Duration = Duration::from_secs(3600);

pub struct QueueManager {
    pub store: AnyStore,
    pub notify: Arc<Notify>,
    pub shutdown: watch::Receiver<bool>,
    pub retention_days: u32,
    pub outbound: Arc<outbound::Outbound>,
    /// The check pipeline, asked again at delivery (AL-1.3: URL feeds and lists as they are
    /// now) when [`Pipeline::rechecks_urls`]; a message it holds goes to quarantine. Asked for at
    /// each round, so the pipeline of a reload is the one used.
    pub pipeline: PipelineSource,
}

/// Gives the check pipeline in force now (the server's, replaced on reload).
pub type PipelineSource = Arc<dyn Fn() -> Option<Arc<Pipeline>> + Send + Sync>;

impl QueueManager {
    /// Runs until shutdown. On shutdown it finishes the round it is in.
    pub async fn run(mut self) {
        let mut last_prune: Option<Instant> = None;
        let mut last_reports: Option<Instant> = None;
        let mut intake = tls_report::incoming::Intake::default();
        let mut dmarc_intake = dmarc_report::incoming::Intake::default();
        let mut last_dmarc_reports: Option<Instant> = None;
        loop {
            let reports = &self.outbound.config.dmarc_reports;
            if let Some(address) = &reports.address {
                // AL-2.3: aggregate reports about our domains, kept beside the mailbox.
                dmarc_intake
                    .poll(&self.store, address, reports.max_report_size)
                    .await;
            }
            if reports.send && last_dmarc_reports.is_none_or(|t| t.elapsed() >= TLS_REPORTS_EVERY) {
                // AL-2.3, RFC 7489 section 7.2: the evaluations of the days that are over.
                let today = dmarc_report::day_of(rampart_store::now_micros()) * 86_400 * 1_000_000;
                let o = &self.outbound;
                let (sent, _) =
                    dmarc_report::send::send_due(&self.store, &o.resolver, &o.config, today).await;
                if sent > 0 {
                    o.notify.notify_one();
                }
                last_dmarc_reports = Some(Instant::now());
            }
            if let Some(address) = &self.outbound.config.delivery.tls_reports_address {
                // RFC 8460 section 5.3: reports about our domains, kept beside the mailbox.
                intake.poll(&self.store, address).await;
            }
            if last_prune.is_none_or(|t| t.elapsed() >= PRUNE_EVERY) {
                self.prune().await;
                last_prune = Some(Instant::now());
            }
            if self.outbound.config.delivery.tls_reports
                && last_reports.is_none_or(|t| t.elapsed() >= TLS_REPORTS_EVERY)
            {
                // RFC 8460 section 4: yesterday's (and older) counts, one report per domain.
                self.outbound
                    .send_tls_reports(tls_report::send::When::Scheduled)
                    .await;
                last_reports = Some(Instant::now());
            }
            let delivered = self.round().await;
            if *self.shutdown.borrow() {
                break;
            }
            if delivered >= BATCH {
                continue; // more may be waiting
            }
            // Sleep until the next retry is due (or RESCAN), unless woken by a new message or a
            // finished delivery. Rows already due are being delivered: their end wakes us.
            let now = rampart_store::now_micros();
            let wait = match self.store.next_attempt_at().await {
                Ok(Some(at)) if at > now => Duration::from_micros((at - now) as u64).min(RESCAN),
                _ => RESCAN,
            };
            tokio::select! {
                _ = self.notify.notified() => {}
                _ = tokio::time::sleep(wait.max(Duration::from_millis(20))) => {}
                _ = self.shutdown.changed() => {}
            }
        }
    }

    /// Delivers what is due; returns how many messages were taken.
    pub async fn round(&self) -> usize {
        // Taken before the queue is read: see outbound::InFlight.
        let mark = self.outbound.mark();
        let due = match self.store.due(BATCH).await {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(error = %e, "reading the queue failed");
                return 0;
            }
        };
        let n = due.len();
        if n == 0 {
            return 0;
        }
        let due = self.recheck_all(due).await;
        let remote = self.outbound.dispatch(&due, mark);
        if remote > 0 {
            tracing::debug!(recipients = remote, "outbound delivery started");
        }
        let local: Vec<_> = due
            .into_iter()
            .filter(|m| m.recipients.iter().any(|r| r.local))
            .collect();
        if local.is_empty() {
            return 0;
        }
        match self.store.deliver_local(local).await {
            Ok(rcpts) => tracing::debug!(messages = n, recipients = rcpts, "delivered"),
            Err(e) => tracing::error!(error = %e, "local delivery failed; will retry"),
        }
        n
    }

    /// Runs the delivery-time check on each message not released by an administrator; those it
    /// holds are moved to quarantine and not delivered.
    async fn recheck_all(
        &self,
        due: Vec<rampart_store::DueMessage>,
    ) -> Vec<rampart_store::DueMessage> {
        let Some(pipeline) = (self.pipeline)().filter(|p| p.rechecks_urls()) else {
            return due;
        };
        let domains = self.store.domains().await.unwrap_or_default();
        let mut keep = Vec::with_capacity(due.len());
        for m in due {
            if m.released {
                keep.push(m);
                continue;
            }
            let bytes = match self.store.message_bytes(&m.id, false).await {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(queue_id = %m.id, error = %e, "reading a queued message failed");
                    continue;
                }
            };
            match pipeline.recheck_urls(&bytes, &domains).await {
                Some(Held { reason, verdicts }) => {
                    if let Err(e) = self
                        .store
                        .hold(&m.id, m.message_id.clone(), reason, verdicts)
                        .await
                    {
                        tracing::error!(queue_id = %m.id, error = %e, "holding a message failed");
                    }
                }
                None => keep.push(m),
            }
        }
        keep
    }

    async fn prune(&self) {
        match self.store.prune_trace(self.retention_days).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                removed = n,
                days = self.retention_days,
                "trace events past retention removed (NC-2.4.3)"
            ),
            Err(e) => tracing::error!(error = %e, "pruning the trace failed"),
        }
        // NC-2.4.3: the mailbox audit (AL-3.1) is kept exactly as long as the trace.
        match self.store.prune_mailbox_events(self.retention_days).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                removed = n,
                days = self.retention_days,
                "mailbox audit events past retention removed (NC-2.4.3)"
            ),
            Err(e) => tracing::error!(error = %e, "pruning the mailbox audit failed"),
        }
    }
}
