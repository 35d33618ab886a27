//! DmarcReporting on PostgreSQL: the DMARC evaluations of every node kept for one set of
//! aggregate reports (AL-2.3, RFC 7489 section 7.2), and the aggregate reports received about
//! our domains, each stored once whichever node received it (the unique key of sender and
//! report id decides).
//!
//! The same rules as the embedded store ([`rampart_store::dmarc_reporting`]); a row's DKIM
//! results are JSON text and its report addresses one per line, as there.

use crate::{db, PgStore};
use async_trait::async_trait;
use rampart_store::dmarc_reporting::{DmarcEvaluation, DmarcReporting, ReceivedDmarcReport};
use rampart_store::Result;

fn evaluation(r: &tokio_postgres::Row) -> DmarcEvaluation {
    let dkim: String = r.get(10);
    let rua: String = r.get(16);
    DmarcEvaluation {
        id: r.get(0),
        at: r.get(1),
        domain: r.get(2),
        source_ip: r.get(3),
        header_from: r.get(4),
        envelope_from: r.get(5),
        envelope_to: r.get(6),
        spf_domain: r.get(7),
        spf_scope: r.get(8),
        spf_result: r.get(9),
        // A row this version did not write reads as no signatures rather than failing the list.
        dkim: serde_json::from_str(&dkim).unwrap_or_default(),
        spf_aligned: r.get(11),
        dkim_aligned: r.get(12),
        disposition: r.get(13),
        policy: r.get(14),
        published: r.get(15),
        rua: rua
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect(),
    }
}

#[async_trait]
impl DmarcReporting for PgStore {
    async fn dmarc_evaluation_add(&self, e: DmarcEvaluation) -> Result<()> {
        let dkim = serde_json::to_string(&e.dkim).unwrap_or_else(|_| "[]".into());
        let c = self.conn(&self.sessions).await?;
        c.execute(
            "INSERT INTO dmarc_evaluations(at, domain, source_ip, header_from, envelope_from,
               envelope_to, spf_domain, spf_scope, spf_result, dkim, spf_aligned, dkim_aligned,
               disposition, policy, published, rua)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
            &[
                &e.at,
                &e.domain.to_ascii_lowercase(),
                &e.source_ip,
                &e.header_from,
                &e.envelope_from,
                &e.envelope_to,
                &e.spf_domain,
                &e.spf_scope,
                &e.spf_result,
                &dkim,
                &e.spf_aligned,
                &e.dkim_aligned,
                &e.disposition,
                &e.policy,
                &e.published,
                &e.rua.join("\n"),
            ],
        )
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn dmarc_evaluations_before(&self, before: i64) -> Result<Vec<DmarcEvaluation>> {
        let c = self.conn(&self.sessions).await?;
        let rows = c
            .query(
                "SELECT id, at, domain, source_ip, header_from, envelope_from, envelope_to,
                        spf_domain, spf_scope, spf_result, dkim, spf_aligned, dkim_aligned,
                        disposition, policy, published, rua
                 FROM dmarc_evaluations WHERE at < $1 ORDER BY at, id",
                &[&before],
            )
            .await
            .map_err(db)?;
        Ok(rows.iter().map(evaluation).collect())
    }

    async fn dmarc_evaluations_done(&self, ids: Vec<i64>) -> Result<usize> {
        let c = self.conn(&self.sessions).await?;
        let n = c
            .execute("DELETE FROM dmarc_evaluations WHERE id = ANY($1)", &[&ids])
            .await
            .map_err(db)?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    async fn dmarc_report_received(&self, r: ReceivedDmarcReport) -> Result<Option<i64>> {
        let c = self.conn(&self.sessions).await?;
        let row = c
            .query_opt(
                "INSERT INTO dmarc_reports_received(received, sender, organization, report_id,
                   domain, begin, \"end\", json) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT (sender, report_id) DO NOTHING RETURNING id",
                &[
                    &r.received,
                    &r.sender,
                    &r.organization,
                    &r.report_id,
                    &r.domain.to_ascii_lowercase(),
                    &r.begin,
                    &r.end,
                    &r.json,
                ],
            )
            .await
            .map_err(db)?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn dmarc_reports_received(
        &self,
        since: i64,
        limit: usize,
    ) -> Result<Vec<ReceivedDmarcReport>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let c = self.conn(&self.sessions).await?;
        let rows = c
            .query(
                "SELECT id, received, sender, organization, report_id, domain, begin, \"end\", json
                 FROM dmarc_reports_received WHERE received >= $1
                 ORDER BY received DESC, id DESC LIMIT $2",
                &[&since, &limit],
            )
            .await
            .map_err(db)?;
        Ok(rows
            .iter()
            .map(|r| ReceivedDmarcReport {
                id: r.get(0),
                received: r.get(1),
                sender: r.get(2),
                organization: r.get(3),
                report_id: r.get(4),
                domain: r.get(5),
                begin: r.get(6),
                end: r.get(7),
                json: r.get(8),
            })
            .collect())
    }
}
