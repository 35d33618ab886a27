//! What DMARC aggregate reporting (AL-2.3, RFC 7489 section 7.2) keeps:
//!
//! - every DMARC evaluation of inbound mail, one row per message, until the report that
//!   covers it has gone (or could not go for a week);
//! - aggregate reports received from others about our own domains.
//!
//! Nothing here knows DMARC or XML: results are kept in the RFC's words, as text, and a
//! received report as the JSON its parser gave.

use crate::shared::write;
use crate::sqlite::Sqlite;
use crate::{Result, Store};
use async_trait::async_trait;
use rusqlite::params;
use serde::{Deserialize, Serialize};

pub(crate) const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS dmarc_evaluations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    domain TEXT NOT NULL,
    source_ip TEXT NOT NULL,
    header_from TEXT NOT NULL,
    envelope_from TEXT NOT NULL,
    envelope_to TEXT NOT NULL,
    spf_domain TEXT NOT NULL,
    spf_scope TEXT NOT NULL,
    spf_result TEXT NOT NULL,
    dkim TEXT NOT NULL,
    spf_aligned TEXT NOT NULL,
    dkim_aligned TEXT NOT NULL,
    disposition TEXT NOT NULL,
    policy TEXT NOT NULL,
    published TEXT NOT NULL,
    rua TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS dmarc_evaluations_at ON dmarc_evaluations(at);
CREATE TABLE IF NOT EXISTS dmarc_reports_received (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received INTEGER NOT NULL,
    sender TEXT NOT NULL,
    organization TEXT NOT NULL,
    report_id TEXT NOT NULL,
    domain TEXT NOT NULL,
    begin INTEGER NOT NULL,
    end INTEGER NOT NULL,
    json TEXT NOT NULL,
    UNIQUE (sender, report_id)
);
"#;

/// One DKIM signature's result, as a report's `auth_results/dkim` names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DkimEvaluation {
    /// `d=`.
    pub domain: String,
    /// `s=`.
    pub selector: String,
    /// `pass`, `fail`, `neutral`, `temperror`, `permerror`, `none`.
    pub result: String,
}

/// One message's DMARC evaluation (RFC 7489 section 7.2: a report row's fields).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DmarcEvaluation {
    /// Set by the store.
    pub id: i64,
    /// Microseconds since the epoch.
    pub at: i64,
    /// The policy domain (the RFC5322.From domain's, lower case).
    pub domain: String,
    /// The connecting client.
    pub source_ip: String,
    pub header_from: String,
    /// The RFC5321.MailFrom domain (the HELO name for the null sender).
    pub envelope_from: String,
    /// The first recipient's domain.
    pub envelope_to: String,
    /// SPF as DMARC used it: the domain checked, `mfrom` or `helo`, the result.
    pub spf_domain: String,
    pub spf_scope: String,
    pub spf_result: String,
    pub dkim: Vec<DkimEvaluation>,
    /// DMARC's own SPF and DKIM results (aligned pass or not): `pass` or `fail`.
    pub spf_aligned: String,
    pub dkim_aligned: String,
    /// What we did: `none`, `quarantine` or `reject`.
    pub disposition: String,
    /// The policy that applied (p, sp or np): `none`, `quarantine`, `reject`.
    pub policy: String,
    /// The record as published: `p=...; sp=...; adkim=...; aspf=...; np=...; t=...; fo=...`
    /// (empty when the domain publishes none).
    pub published: String,
    /// The `rua` URIs of the record, each with its size limit in bytes (`mailto:a@b.example!10485760`).
    pub rua: Vec<String>,
}

/// An aggregate report received about one of our domains.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceivedDmarcReport {
    pub id: i64,
    /// Microseconds since the epoch.
    pub received: i64,
    /// Who sent it (the message's envelope sender).
    pub sender: String,
    pub organization: String,
    pub report_id: String,
    /// The policy domain it is about.
    pub domain: String,
    /// The period it covers, seconds since the epoch.
    pub begin: i64,
    pub end: i64,
    /// The report as parsed (mail-auth's `Report` as JSON).
    pub json: String,
}

/// The store's part of DMARC aggregate reporting.
#[async_trait]
pub trait DmarcReporting: Send + Sync {
    /// Records one evaluation.
    async fn dmarc_evaluation_add(&self, evaluation: DmarcEvaluation) -> Result<()>;
    /// Records one evaluation without waiting for it to be durable, for the receiving session
    /// (the evaluation is no part of the message's own fate): on the embedded store it goes in
    /// the writer's next group commit, no later than any write asked for after it (the
    /// message's own, when it is accepted); elsewhere it is [`Self::dmarc_evaluation_add`].
    async fn dmarc_evaluation_note(&self, evaluation: DmarcEvaluation) -> Result<()> {
        self.dmarc_evaluation_add(evaluation).await
    }
    /// Every evaluation made before `before` (microseconds), oldest first.
    async fn dmarc_evaluations_before(&self, before: i64) -> Result<Vec<DmarcEvaluation>>;
    /// Forgets evaluations (their report has gone, or cannot go).
    async fn dmarc_evaluations_done(&self, ids: Vec<i64>) -> Result<usize>;
    /// Stores a received report; None when the same sender's report id is already stored.
    async fn dmarc_report_received(&self, report: ReceivedDmarcReport) -> Result<Option<i64>>;
    /// Received reports received at or after `since` (microseconds), newest first, at most
    /// `limit`.
    async fn dmarc_reports_received(
        &self,
        since: i64,
        limit: usize,
    ) -> Result<Vec<ReceivedDmarcReport>>;
}

fn evaluation(r: &rusqlite::Row<'_>) -> rusqlite::Result<DmarcEvaluation> {
    let dkim: String = r.get(11)?;
    let rua: String = r.get(16)?;
    Ok(DmarcEvaluation {
        id: r.get(0)?,
        at: r.get(1)?,
        domain: r.get(2)?,
        source_ip: r.get(3)?,
        header_from: r.get(4)?,
        envelope_from: r.get(5)?,
        envelope_to: r.get(6)?,
        spf_domain: r.get(7)?,
        spf_scope: r.get(8)?,
        spf_result: r.get(9)?,
        // A row this version did not write reads as no signatures rather than failing the list.
        dkim: serde_json::from_str(&dkim).unwrap_or_default(),
        spf_aligned: r.get(10)?,
        dkim_aligned: r.get(12)?,
        disposition: r.get(13)?,
        policy: r.get(14)?,
        published: r.get(15)?,
        rua: rua
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect(),
    })
}

impl Store {
    /// Evaluations made before `before` (microseconds; `i64::MAX`: all), oldest first.
    pub fn dmarc_evaluations_before(&self, before: i64) -> Result<Vec<DmarcEvaluation>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT id, at, domain, source_ip, header_from, envelope_from, envelope_to,
                        spf_domain, spf_scope, spf_result, spf_aligned, dkim, dkim_aligned,
                        disposition, policy, published, rua
                 FROM dmarc_evaluations WHERE at < ?1 ORDER BY at, id",
            )?;
            let rows = st.query_map([before], evaluation)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// Received DMARC reports, newest first.
    pub fn dmarc_reports_received(
        &self,
        since: i64,
        limit: usize,
    ) -> Result<Vec<ReceivedDmarcReport>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT id, received, sender, organization, report_id, domain, begin, end, json
                 FROM dmarc_reports_received WHERE received >= ?1
                 ORDER BY received DESC, id DESC LIMIT ?2",
            )?;
            let rows = st.query_map(params![since, limit], |r| {
                Ok(ReceivedDmarcReport {
                    id: r.get(0)?,
                    received: r.get(1)?,
                    sender: r.get(2)?,
                    organization: r.get(3)?,
                    report_id: r.get(4)?,
                    domain: r.get(5)?,
                    begin: r.get(6)?,
                    end: r.get(7)?,
                    json: r.get(8)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }
}

/// One evaluation's row, inside the writer's transaction.
fn insert_evaluation(tx: &rusqlite::Transaction, e: &DmarcEvaluation) -> Result<()> {
    let dkim = serde_json::to_string(&e.dkim).unwrap_or_else(|_| "[]".into());
    tx.prepare_cached(
        "INSERT INTO dmarc_evaluations(at, domain, source_ip, header_from, envelope_from,
           envelope_to, spf_domain, spf_scope, spf_result, dkim, spf_aligned, dkim_aligned,
           disposition, policy, published, rua)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
    )?
    .execute(params![
        e.at,
        e.domain.to_ascii_lowercase(),
        e.source_ip,
        e.header_from,
        e.envelope_from,
        e.envelope_to,
        e.spf_domain,
        e.spf_scope,
        e.spf_result,
        dkim,
        e.spf_aligned,
        e.dkim_aligned,
        e.disposition,
        e.policy,
        e.published,
        e.rua.join("\n"),
    ])?;
    Ok(())
}

#[async_trait]
impl DmarcReporting for Sqlite {
    async fn dmarc_evaluation_add(&self, e: DmarcEvaluation) -> Result<()> {
        write(self.writer(), move |tx| insert_evaluation(tx, &e)).await
    }

    async fn dmarc_evaluation_note(&self, e: DmarcEvaluation) -> Result<()> {
        // Before, every inbound message waited here for a group commit of its own before its
        // checks' verdict and its own commit: two commits per message (issue 23).
        self.writer()
            .send(move |tx| insert_evaluation(tx, &e))
            .await
    }

    async fn dmarc_evaluations_before(&self, before: i64) -> Result<Vec<DmarcEvaluation>> {
        self.read(move |s| s.dmarc_evaluations_before(before)).await
    }

    async fn dmarc_evaluations_done(&self, ids: Vec<i64>) -> Result<usize> {
        write(self.writer(), move |tx| {
            let mut st = tx.prepare_cached("DELETE FROM dmarc_evaluations WHERE id = ?1")?;
            let mut n = 0;
            for id in &ids {
                n += st.execute([id])?;
            }
            Ok(n)
        })
        .await
    }

    async fn dmarc_report_received(&self, r: ReceivedDmarcReport) -> Result<Option<i64>> {
        write(self.writer(), move |tx| {
            let n = tx.execute(
                "INSERT OR IGNORE INTO dmarc_reports_received(received, sender, organization,
                   report_id, domain, begin, end, json) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    r.received,
                    r.sender,
                    r.organization,
                    r.report_id,
                    r.domain.to_ascii_lowercase(),
                    r.begin,
                    r.end,
                    r.json
                ],
            )?;
            Ok((n > 0).then(|| tx.last_insert_rowid()))
        })
        .await
    }

    async fn dmarc_reports_received(
        &self,
        since: i64,
        limit: usize,
    ) -> Result<Vec<ReceivedDmarcReport>> {
        self.read(move |s| s.dmarc_reports_received(since, limit))
            .await
    }
}
