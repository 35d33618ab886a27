//! The mailbox audit on PostgreSQL (AL-3.1): every access to and change of a mailbox, from
//! whichever node served it, in one table, so `rampart mailbox audit` on any node shows an
//! account's whole history. Kept as long as the trace (NC-2.4.3, [`MailboxAudit::prune_mailbox_events`]).
//!
//! A record that cannot be written is logged, never a reason to refuse the user's request (the
//! trait's rule); the events of one call are one statement, so they are kept all or none.

use crate::{db, PgStore};
use async_trait::async_trait;
use rampart_store::api::MailboxAudit;
use rampart_store::{now_micros, ActorKind, MailboxEvent, MailboxEventFilter, Result};
use tokio_postgres::types::ToSql;

/// At most this many events are returned unless the filter says otherwise (as in SQLite).
const DEFAULT_LIMIT: usize = 10_000;

impl PgStore {
    /// Stores `events` now, an error when they could not be (an administrator's read or
    /// delete must not pass unaudited, AL-3.1).
    pub async fn insert_mailbox_events(&self, events: &[MailboxEvent]) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let col = |f: fn(&MailboxEvent) -> Option<String>| -> Vec<Option<String>> {
            events.iter().map(f).collect()
        };
        let ts: Vec<i64> = events.iter().map(|e| e.ts).collect();
        let account = col(|e| Some(e.account.clone()));
        let actor = col(|e| Some(e.actor.clone()));
        let kind = col(|e| Some(e.actor_kind.as_str().to_string()));
        let service = col(|e| Some(e.service.clone()));
        let operation = col(|e| Some(e.operation.clone()));
        let client = col(|e| e.client.clone());
        let agent = col(|e| e.user_agent.clone());
        let location = col(|e| e.location.clone());
        let detail = col(|e| Some(e.detail.clone()));
        let c = self.conn(&self.sessions).await?;
        c.execute(
            "INSERT INTO mailbox_audit(ts, account, actor, actor_kind, service, operation,
                 client, user_agent, location, detail)
             SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[],
                                  $6::text[], $7::text[], $8::text[], $9::text[], $10::text[])",
            &[
                &ts, &account, &actor, &kind, &service, &operation, &client, &agent, &location,
                &detail,
            ],
        )
        .await
        .map_err(db)?;
        Ok(())
    }
}

#[async_trait]
impl MailboxAudit for PgStore {
    async fn mailbox_record(&self, events: Vec<MailboxEvent>) {
        if let Err(e) = self.insert_mailbox_events(&events).await {
            for ev in &events {
                tracing::error!(
                    error = %e,
                    account = ev.account.as_str(),
                    operation = ev.operation.as_str(),
                    actor = ev.actor.as_str(),
                    "mailbox audit event not stored (AL-3.1)"
                );
            }
        }
    }

    async fn mailbox_events(&self, f: &MailboxEventFilter) -> Result<Vec<MailboxEvent>> {
        let mut sql = String::from(
            "SELECT ts, account, actor, actor_kind, service, operation, client, user_agent,
                    location, detail FROM mailbox_audit WHERE true",
        );
        let mut args: Vec<Box<dyn ToSql + Sync + Send>> = Vec::new();
        if let Some(a) = &f.account {
            args.push(Box::new(a.to_ascii_lowercase()));
            sql.push_str(&format!(" AND account = ${}", args.len()));
        }
        if let Some(s) = f.since {
            args.push(Box::new(s));
            sql.push_str(&format!(" AND ts >= ${}", args.len()));
        }
        if !f.operations.is_empty() {
            args.push(Box::new(f.operations.clone()));
            sql.push_str(&format!(" AND operation = ANY(${})", args.len()));
        }
        let limit = f.limit.unwrap_or(DEFAULT_LIMIT);
        // The newest `limit`, then put back in time order.
        sql.push_str(&format!(" ORDER BY ts DESC, id DESC LIMIT {limit}"));
        let params: Vec<&(dyn ToSql + Sync)> = args
            .iter()
            .map(|a| a.as_ref() as &(dyn ToSql + Sync))
            .collect();
        let c = self.conn(&self.sessions).await?;
        let rows = c.query(&sql, &params).await.map_err(db)?;
        let mut out: Vec<MailboxEvent> = rows
            .iter()
            .map(|r| MailboxEvent {
                ts: r.get(0),
                account: r.get(1),
                actor: r.get(2),
                actor_kind: ActorKind::parse(r.get(3)),
                service: r.get(4),
                operation: r.get(5),
                client: r.get(6),
                user_agent: r.get(7),
                location: r.get(8),
                detail: r.get(9),
            })
            .collect();
        out.reverse();
        Ok(out)
    }

    async fn prune_mailbox_events(&self, days: u32) -> Result<usize> {
        let cutoff = now_micros() - i64::from(days) * 86_400 * 1_000_000;
        let c = self.conn(&self.sessions).await?;
        let n = c
            .execute("DELETE FROM mailbox_audit WHERE ts < $1", &[&cutoff])
            .await
            .map_err(db)?;
        Ok(n as usize)
    }
}
