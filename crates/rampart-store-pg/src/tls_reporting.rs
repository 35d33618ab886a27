//! TlsReporting on PostgreSQL: the MTA-STS policy cache (RFC 8461 section 5.1), TLS outcome
//! counts per day (RFC 8460 section 4), the reports sent and those received, one set for every
//! node: the counts of all nodes go into one daily report, and the claim of a report (its
//! primary key) lets exactly one node send it.
//!
//! The same rules as the embedded store ([`rampart_store::tls_reporting`]).

use crate::{db, PgStore};
use async_trait::async_trait;
use rampart_store::tls_reporting::{
    CachedStsPolicy, ReceivedTlsReport, TlsOutcomeCount, TlsReporting, SENT_KEPT_DAYS,
};
use rampart_store::{now_micros, Result};

#[async_trait]
impl TlsReporting for PgStore {
    async fn sts_policy(&self, domain: &str) -> Result<Option<CachedStsPolicy>> {
        let c = self.conn(&self.sessions).await?;
        let row = c
            .query_opt(
                "SELECT domain, id, policy, fetched, expires FROM mta_sts_policies
                 WHERE domain = $1",
                &[&domain.to_ascii_lowercase()],
            )
            .await
            .map_err(db)?;
        Ok(row.map(|r| CachedStsPolicy {
            domain: r.get(0),
            id: r.get(1),
            policy: r.get(2),
            fetched: r.get(3),
            expires: r.get(4),
        }))
    }

    async fn sts_policy_put(&self, p: CachedStsPolicy) -> Result<()> {
        let c = self.conn(&self.sessions).await?;
        c.execute(
            "INSERT INTO mta_sts_policies(domain, id, policy, fetched, expires)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (domain) DO UPDATE SET id = excluded.id, policy = excluded.policy,
               fetched = excluded.fetched, expires = excluded.expires",
            &[
                &p.domain.to_ascii_lowercase(),
                &p.id,
                &p.policy,
                &p.fetched,
                &p.expires,
            ],
        )
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn tls_outcome_add(&self, o: TlsOutcomeCount) -> Result<()> {
        let n = i64::try_from(o.count).unwrap_or(i64::MAX);
        let c = self.conn(&self.sessions).await?;
        // Atomic per row, whichever node adds: saturating at the largest count.
        c.execute(
            "INSERT INTO tls_outcomes(day, policy_domain, policy_type, policy_strings, mx_host,
               result_type, receiving_ip, reason, count)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (day, policy_domain, policy_type, policy_strings, mx_host, result_type,
               receiving_ip, reason)
             DO UPDATE SET count = LEAST(tls_outcomes.count,
                                         9223372036854775807 - excluded.count) + excluded.count",
            &[
                &o.day,
                &o.policy_domain.to_ascii_lowercase(),
                &o.policy_type,
                &o.policy_strings,
                &o.mx_host,
                &o.result_type,
                &o.receiving_ip,
                &o.reason,
                &n,
            ],
        )
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn tls_outcomes_before(&self, before_day: i64) -> Result<Vec<TlsOutcomeCount>> {
        let c = self.conn(&self.sessions).await?;
        let rows = c
            .query(
                "SELECT day, policy_domain, policy_type, policy_strings, mx_host, result_type,
                        receiving_ip, reason, count
                 FROM tls_outcomes WHERE day < $1
                 ORDER BY day, policy_domain COLLATE \"C\", policy_type COLLATE \"C\",
                          mx_host COLLATE \"C\", result_type COLLATE \"C\"",
                &[&before_day],
            )
            .await
            .map_err(db)?;
        Ok(rows
            .iter()
            .map(|r| TlsOutcomeCount {
                day: r.get(0),
                policy_domain: r.get(1),
                policy_type: r.get(2),
                policy_strings: r.get(3),
                mx_host: r.get(4),
                result_type: r.get(5),
                receiving_ip: r.get(6),
                reason: r.get(7),
                count: r.get::<_, i64>(8).max(0) as u64,
            })
            .collect())
    }

    async fn tls_outcomes_done(&self, day: i64, policy_domain: &str) -> Result<usize> {
        let c = self.conn(&self.sessions).await?;
        let n = c
            .execute(
                "DELETE FROM tls_outcomes WHERE day = $1 AND policy_domain = $2",
                &[&day, &policy_domain.to_ascii_lowercase()],
            )
            .await
            .map_err(db)?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    async fn tls_report_claim(
        &self,
        day: i64,
        policy_domain: &str,
        rua: &str,
        report_id: &str,
    ) -> Result<bool> {
        let mut c = self.conn(&self.sessions).await?;
        let tx = c.transaction().await.map_err(db)?;
        tx.execute(
            "DELETE FROM tls_reports_sent WHERE day < $1",
            &[&day.saturating_sub(SENT_KEPT_DAYS)],
        )
        .await
        .map_err(db)?;
        // The primary key decides between nodes claiming at once: one insert wins.
        let n = tx
            .execute(
                "INSERT INTO tls_reports_sent(day, policy_domain, rua, report_id, sent)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                &[
                    &day,
                    &policy_domain.to_ascii_lowercase(),
                    &rua,
                    &report_id,
                    &now_micros(),
                ],
            )
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(n == 1)
    }

    async fn tls_report_unclaim(&self, day: i64, policy_domain: &str, rua: &str) -> Result<()> {
        let c = self.conn(&self.sessions).await?;
        c.execute(
            "DELETE FROM tls_reports_sent WHERE day = $1 AND policy_domain = $2 AND rua = $3",
            &[&day, &policy_domain.to_ascii_lowercase(), &rua],
        )
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn tls_report_received(&self, r: ReceivedTlsReport) -> Result<i64> {
        let c = self.conn(&self.sessions).await?;
        let row = c
            .query_one(
                "INSERT INTO tls_reports_received(received, sender, organization, report_id,
                   start, \"end\", json) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                &[
                    &r.received,
                    &r.sender,
                    &r.organization,
                    &r.report_id,
                    &r.start,
                    &r.end,
                    &r.json,
                ],
            )
            .await
            .map_err(db)?;
        Ok(row.get(0))
    }

    async fn tls_reports_received(&self, limit: usize) -> Result<Vec<ReceivedTlsReport>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let c = self.conn(&self.sessions).await?;
        let rows = c
            .query(
                "SELECT id, received, sender, organization, report_id, start, \"end\", json
                 FROM tls_reports_received ORDER BY received DESC, id DESC LIMIT $1",
                &[&limit],
            )
            .await
            .map_err(db)?;
        Ok(rows
            .iter()
            .map(|r| ReceivedTlsReport {
                id: r.get(0),
                received: r.get(1),
                sender: r.get(2),
                organization: r.get(3),
                report_id: r.get(4),
                start: r.get(5),
                end: r.get(6),
                json: r.get(7),
            })
            .collect())
    }
}
