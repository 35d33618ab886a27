//! What outbound transport security keeps between attempts and across restarts:
//!
//! - MTA-STS policies (RFC 8461 section 5.1) cached per domain, with the `_mta-sts` TXT id they
//!   were fetched under and when they expire (their `max_age`);
//! - TLS outcomes counted per day and per policy (RFC 8460 section 4), until the day's report
//!   for the domain has gone;
//! - the reports sent (day, policy domain, destination), so that none goes twice;
//! - TLS reports received from others about our own domains.
//!
//! Nothing here knows TLS or JSON: policies, policy strings and reports are kept as text.

use crate::shared::write;
use crate::sqlite::Sqlite;
use crate::{Result, Store};
use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};

pub(crate) const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS mta_sts_policies (
    domain TEXT PRIMARY KEY,
    id TEXT NOT NULL,
    policy TEXT NOT NULL,
    fetched INTEGER NOT NULL,
    expires INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS tls_outcomes (
    day INTEGER NOT NULL,
    policy_domain TEXT NOT NULL,
    policy_type TEXT NOT NULL,
    policy_strings TEXT NOT NULL,
    mx_host TEXT NOT NULL,
    result_type TEXT NOT NULL,
    receiving_ip TEXT NOT NULL,
    reason TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (day, policy_domain, policy_type, policy_strings, mx_host, result_type, receiving_ip, reason)
);
CREATE TABLE IF NOT EXISTS tls_reports_received (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received INTEGER NOT NULL,
    sender TEXT NOT NULL,
    organization TEXT NOT NULL,
    report_id TEXT NOT NULL,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    json TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tls_reports_sent (
    day INTEGER NOT NULL,
    policy_domain TEXT NOT NULL,
    rua TEXT NOT NULL,
    report_id TEXT NOT NULL,
    sent INTEGER NOT NULL,
    PRIMARY KEY (day, policy_domain, rua)
);
"#;

/// An MTA-STS policy as fetched: its text, kept as served, and the id it was published under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedStsPolicy {
    /// The policy domain, lower case.
    pub domain: String,
    /// The `id` of the `_mta-sts` TXT record when it was fetched.
    pub id: String,
    pub policy: String,
    /// Microseconds since the epoch.
    pub fetched: i64,
    /// When `max_age` runs out, in microseconds since the epoch.
    pub expires: i64,
}

/// One count of TLS outcomes: sessions with the same policy, MX, result and reason on one day.
/// `result_type` is `success` or an RFC 8460 section 4.3 result type; the strings are the
/// report's own words (see rampart-queue's `tls_report` module).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsOutcomeCount {
    /// Days since the epoch (UTC).
    pub day: i64,
    pub policy_domain: String,
    /// `sts`, `tlsa` or `no-policy-found`.
    pub policy_type: String,
    /// The policy's lines (RFC 8460 section 4.4 `policy-string`), joined with newlines.
    pub policy_strings: String,
    /// The MX host, empty when the failure came before one was chosen.
    pub mx_host: String,
    pub result_type: String,
    /// The address connected to; empty when none was.
    pub receiving_ip: String,
    /// A short reason (`failure-reason-code`); empty for successes.
    pub reason: String,
    pub count: u64,
}

/// A TLS report received about one of our domains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedTlsReport {
    pub id: i64,
    /// Microseconds since the epoch.
    pub received: i64,
    /// Who sent it (the message's envelope sender or From).
    pub sender: String,
    pub organization: String,
    pub report_id: String,
    /// The period it covers, seconds since the epoch.
    pub start: i64,
    pub end: i64,
    /// The report as received (RFC 8460 JSON).
    pub json: String,
}

/// How long the record of a sent report is kept, in days: longer than any day's counts wait.
pub const SENT_KEPT_DAYS: i64 = 31;

/// The store's part of MTA-STS and TLS reporting.
#[async_trait]
pub trait TlsReporting: Send + Sync {
    /// The cached policy of `domain`, expired or not (a fetch that fails falls back to it only
    /// while it has not expired: the caller decides).
    async fn sts_policy(&self, domain: &str) -> Result<Option<CachedStsPolicy>>;
    /// Stores (replaces) the policy of its domain.
    async fn sts_policy_put(&self, policy: CachedStsPolicy) -> Result<()>;
    /// Adds `count.count` to the matching count of its day.
    async fn tls_outcome_add(&self, count: TlsOutcomeCount) -> Result<()>;
    /// Every count of the days before `before_day`, oldest day first.
    async fn tls_outcomes_before(&self, before_day: i64) -> Result<Vec<TlsOutcomeCount>>;
    /// Forgets a day's counts for one policy domain (its report has gone, or cannot go).
    async fn tls_outcomes_done(&self, day: i64, policy_domain: &str) -> Result<usize>;
    /// Claims the sending of the report of `day` for `policy_domain` to `rua`: true when no
    /// report for that day, domain and destination was claimed before (the caller sends it),
    /// false when one was (it is not sent again). Claims older than [`SENT_KEPT_DAYS`] before
    /// `day` are forgotten.
    async fn tls_report_claim(
        &self,
        day: i64,
        policy_domain: &str,
        rua: &str,
        report_id: &str,
    ) -> Result<bool>;
    /// Gives a claim up: the report could not be sent and may be tried again.
    async fn tls_report_unclaim(&self, day: i64, policy_domain: &str, rua: &str) -> Result<()>;
    /// Stores a received report; returns its id.
    async fn tls_report_received(&self, report: ReceivedTlsReport) -> Result<i64>;
    /// Received reports, newest first, at most `limit`.
    async fn tls_reports_received(&self, limit: usize) -> Result<Vec<ReceivedTlsReport>>;
}

impl Store {
    /// The cached MTA-STS policy of `domain` (read-only: for `rampart report tls`).
    pub fn sts_policy(&self, domain: &str) -> Result<Option<CachedStsPolicy>> {
        let domain = domain.to_ascii_lowercase();
        self.read(|c| {
            Ok(c.prepare_cached(
                "SELECT domain, id, policy, fetched, expires FROM mta_sts_policies WHERE domain = ?1",
            )?
            .query_row([&domain], |r| {
                Ok(CachedStsPolicy {
                    domain: r.get(0)?,
                    id: r.get(1)?,
                    policy: r.get(2)?,
                    fetched: r.get(3)?,
                    expires: r.get(4)?,
                })
            })
            .optional()?)
        })
    }

    /// Outcome counts of the days before `before_day` (`i64::MAX`: all).
    pub fn tls_outcomes_before(&self, before_day: i64) -> Result<Vec<TlsOutcomeCount>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT day, policy_domain, policy_type, policy_strings, mx_host, result_type,
                        receiving_ip, reason, count
                 FROM tls_outcomes WHERE day < ?1
                 ORDER BY day, policy_domain, policy_type, mx_host, result_type",
            )?;
            let rows = st.query_map([before_day], |r| {
                Ok(TlsOutcomeCount {
                    day: r.get(0)?,
                    policy_domain: r.get(1)?,
                    policy_type: r.get(2)?,
                    policy_strings: r.get(3)?,
                    mx_host: r.get(4)?,
                    result_type: r.get(5)?,
                    receiving_ip: r.get(6)?,
                    reason: r.get(7)?,
                    count: r.get::<_, i64>(8)?.max(0) as u64,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// Received TLS reports, newest first.
    pub fn tls_reports_received(&self, limit: usize) -> Result<Vec<ReceivedTlsReport>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT id, received, sender, organization, report_id, start, end, json
                 FROM tls_reports_received ORDER BY received DESC, id DESC LIMIT ?1",
            )?;
            let rows = st.query_map([limit], |r| {
                Ok(ReceivedTlsReport {
                    id: r.get(0)?,
                    received: r.get(1)?,
                    sender: r.get(2)?,
                    organization: r.get(3)?,
                    report_id: r.get(4)?,
                    start: r.get(5)?,
                    end: r.get(6)?,
                    json: r.get(7)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }
}

#[async_trait]
impl TlsReporting for Sqlite {
    async fn sts_policy(&self, domain: &str) -> Result<Option<CachedStsPolicy>> {
        let domain = domain.to_string();
        self.read(move |s| s.sts_policy(&domain)).await
    }

    async fn sts_policy_put(&self, p: CachedStsPolicy) -> Result<()> {
        write(self.writer(), move |tx| {
            tx.execute(
                "INSERT INTO mta_sts_policies(domain, id, policy, fetched, expires)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(domain) DO UPDATE SET id = excluded.id, policy = excluded.policy,
                   fetched = excluded.fetched, expires = excluded.expires",
                params![
                    p.domain.to_ascii_lowercase(),
                    p.id,
                    p.policy,
                    p.fetched,
                    p.expires
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn tls_outcome_add(&self, o: TlsOutcomeCount) -> Result<()> {
        let n = i64::try_from(o.count).unwrap_or(i64::MAX);
        write(self.writer(), move |tx| {
            tx.execute(
                "INSERT INTO tls_outcomes(day, policy_domain, policy_type, policy_strings, mx_host,
                   result_type, receiving_ip, reason, count)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT(day, policy_domain, policy_type, policy_strings, mx_host, result_type,
                   receiving_ip, reason)
                 DO UPDATE SET count = min(count, 9223372036854775807 - excluded.count) + excluded.count",
                params![
                    o.day,
                    o.policy_domain.to_ascii_lowercase(),
                    o.policy_type,
                    o.policy_strings,
                    o.mx_host,
                    o.result_type,
                    o.receiving_ip,
                    o.reason,
                    n
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn tls_outcomes_before(&self, before_day: i64) -> Result<Vec<TlsOutcomeCount>> {
        self.read(move |s| s.tls_outcomes_before(before_day)).await
    }

    async fn tls_outcomes_done(&self, day: i64, policy_domain: &str) -> Result<usize> {
        let domain = policy_domain.to_ascii_lowercase();
        write(self.writer(), move |tx| {
            Ok(tx.execute(
                "DELETE FROM tls_outcomes WHERE day = ?1 AND policy_domain = ?2",
                params![day, domain],
            )?)
        })
        .await
    }

    async fn tls_report_claim(
        &self,
        day: i64,
        policy_domain: &str,
        rua: &str,
        report_id: &str,
    ) -> Result<bool> {
        let (domain, rua, id) = (
            policy_domain.to_ascii_lowercase(),
            rua.to_string(),
            report_id.to_string(),
        );
        let now = crate::now_micros();
        write(self.writer(), move |tx| {
            tx.execute(
                "DELETE FROM tls_reports_sent WHERE day < ?1",
                [day.saturating_sub(SENT_KEPT_DAYS)],
            )?;
            let n = tx.execute(
                "INSERT OR IGNORE INTO tls_reports_sent(day, policy_domain, rua, report_id, sent)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![day, domain, rua, id, now],
            )?;
            Ok(n == 1)
        })
        .await
    }

    async fn tls_report_unclaim(&self, day: i64, policy_domain: &str, rua: &str) -> Result<()> {
        let (domain, rua) = (policy_domain.to_ascii_lowercase(), rua.to_string());
        write(self.writer(), move |tx| {
            tx.execute(
                "DELETE FROM tls_reports_sent WHERE day = ?1 AND policy_domain = ?2 AND rua = ?3",
                params![day, domain, rua],
            )?;
            Ok(())
        })
        .await
    }

    async fn tls_report_received(&self, r: ReceivedTlsReport) -> Result<i64> {
        write(self.writer(), move |tx| {
            tx.execute(
                "INSERT INTO tls_reports_received(received, sender, organization, report_id, start,
                   end, json) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    r.received,
                    r.sender,
                    r.organization,
                    r.report_id,
                    r.start,
                    r.end,
                    r.json
                ],
            )?;
            Ok(tx.last_insert_rowid())
        })
        .await
    }

    async fn tls_reports_received(&self, limit: usize) -> Result<Vec<ReceivedTlsReport>> {
        self.read(move |s| s.tls_reports_received(limit)).await
    }
}
