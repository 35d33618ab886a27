//! Bans on PostgreSQL: intrusion prevention's banned networks, allow-list, IDS log and
//! generation (NC-2.4.2, NC-2.4.3), one set for every node, so an address banned by the IDS of
//! one node is refused by all, and `rampart ban` on any host reaches every node through the
//! generation they poll.
//!
//! The same rules as the embedded store ([`rampart_store::bans`]): a ban in force is not banned
//! again, a repeat climbs the ladder, an unban keeps the row (ended) so the next ban still counts
//! it, and every ban and unban is a trace event in the same commit. The ban of one network is
//! decided under a transaction-scoped advisory lock of that network, so two nodes banning it at
//! once cannot both be "first".

use crate::{db, PgStore};
use async_trait::async_trait;
use rampart_store::bans::{
    next_ban, Allowed, BanLength, Bans, IdsEvent, NetBan, NewBan, NextBan, OldestKept,
};
use rampart_store::{Result, StoreError, TraceEvent};
use tokio_postgres::Transaction;

const BAN_COLS: &str = "network, reason, detector, evidence, created, expires, repeats";

fn ban_row(r: &tokio_postgres::Row) -> NetBan {
    NetBan {
        network: r.get(0),
        reason: r.get(1),
        detector: r.get(2),
        evidence: r.get(3),
        created: r.get(4),
        expires: r.get(5),
        repeats: u32::try_from(r.get::<_, i32>(6)).unwrap_or(0),
    }
}

async fn bump(tx: &Transaction<'_>) -> Result<()> {
    tx.execute(
        "UPDATE ids_generation SET generation = generation + 1 WHERE id = 1",
        &[],
    )
    .await
    .map_err(db)?;
    Ok(())
}

async fn log(tx: &Transaction<'_>, e: &IdsEvent) -> Result<()> {
    tx.execute(
        "INSERT INTO ids_events(ts, network, event, detector, detail) VALUES ($1, $2, $3, $4, $5)",
        &[&e.ts, &e.network, &e.event, &e.detector, &e.detail],
    )
    .await
    .map_err(db)?;
    Ok(())
}

/// A trace event in the transaction of the ban it reports (NC-2.4.2).
async fn trace(tx: &Transaction<'_>, e: &TraceEvent) -> Result<()> {
    tx.execute(
        "INSERT INTO trace(ts, session, queue_id, message_id, client, sender, recipient, event,
                           detail)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        &[
            &e.ts,
            &e.session,
            &e.queue_id,
            &e.message_id,
            &e.client,
            &e.sender,
            &e.recipient,
            &e.event,
            &e.detail,
        ],
    )
    .await
    .map_err(db)?;
    e.log();
    Ok(())
}

/// Serialises the bans of one network across nodes, until the transaction ends.
async fn lock_network(tx: &Transaction<'_>, network: &str) -> Result<()> {
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('ids_ban:' || $1, 0))",
        &[&network],
    )
    .await
    .map_err(db)?;
    Ok(())
}

async fn ban_tx(tx: &Transaction<'_>, b: &NewBan, length: &BanLength, now: i64) -> Result<NetBan> {
    if b.network.is_empty() {
        return Err(StoreError::Invalid("a ban needs a network".into()));
    }
    lock_network(tx, &b.network).await?;
    let before = tx
        .query_opt(
            &format!("SELECT {BAN_COLS} FROM ids_bans WHERE network = $1"),
            &[&b.network],
        )
        .await
        .map_err(db)?
        .as_ref()
        .map(ban_row);
    let (repeats, expires) = match next_ban(before, length, now)? {
        NextBan::Stands(existing) => return Ok(existing),
        NextBan::New { repeats, expires } => (repeats, expires),
    };
    let repeats_db = i32::try_from(repeats).unwrap_or(i32::MAX);
    tx.execute(
        &format!(
            "INSERT INTO ids_bans({BAN_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (network) DO UPDATE SET reason = excluded.reason,
               detector = excluded.detector, evidence = excluded.evidence,
               created = excluded.created, expires = excluded.expires,
               repeats = excluded.repeats"
        ),
        &[
            &b.network,
            &b.reason,
            &b.detector,
            &b.evidence,
            &now,
            &expires,
            &repeats_db,
        ],
    )
    .await
    .map_err(db)?;
    let until = expires.map_or("permanently".to_string(), |e| {
        format!("until {}", rampart_store::rfc5322_date(e / 1_000_000))
    });
    let detail = format!(
        "{} banned {until} (ban {repeats}): {}; {}",
        b.network, b.reason, b.evidence
    );
    log(
        tx,
        &IdsEvent {
            ts: now,
            network: b.network.clone(),
            event: "ban".into(),
            detector: b.detector.clone(),
            detail: detail.clone(),
        },
    )
    .await?;
    let mut e = TraceEvent::new("ban", detail);
    e.ts = now;
    e.client = Some(b.network.clone());
    trace(tx, &e).await?;
    bump(tx).await?;
    Ok(NetBan {
        network: b.network.clone(),
        reason: b.reason.clone(),
        detector: b.detector.clone(),
        evidence: b.evidence.clone(),
        created: now,
        expires,
        repeats,
    })
}

async fn unban_tx(tx: &Transaction<'_>, network: &str, by: &str, now: i64) -> Result<bool> {
    lock_network(tx, network).await?;
    // The row stays, ended now, so that a later ban still counts this one.
    let n = tx
        .execute(
            "UPDATE ids_bans SET expires = $2
             WHERE network = $1 AND (expires IS NULL OR expires > $2)",
            &[&network, &now],
        )
        .await
        .map_err(db)?;
    if n == 0 {
        return Ok(false);
    }
    let detail = format!("{network} unbanned by {by}");
    log(
        tx,
        &IdsEvent {
            ts: now,
            network: network.to_string(),
            event: "unban".into(),
            detector: by.to_string(),
            detail: detail.clone(),
        },
    )
    .await?;
    let mut e = TraceEvent::new("unban", detail);
    e.ts = now;
    e.client = Some(network.to_string());
    trace(tx, &e).await?;
    bump(tx).await?;
    Ok(true)
}

#[async_trait]
impl Bans for PgStore {
    async fn ban_network(&self, ban: NewBan, length: BanLength, now: i64) -> Result<NetBan> {
        let mut c = self.conn(&self.sessions).await?;
        let tx = c.transaction().await.map_err(db)?;
        let b = ban_tx(&tx, &ban, &length, now).await?;
        tx.commit().await.map_err(db)?;
        Ok(b)
    }

    async fn unban_network(&self, network: &str, by: &str, now: i64) -> Result<bool> {
        let mut c = self.conn(&self.sessions).await?;
        let tx = c.transaction().await.map_err(db)?;
        let done = unban_tx(&tx, network, by, now).await?;
        tx.commit().await.map_err(db)?;
        Ok(done)
    }

    async fn list_active(&self, now: i64) -> Result<Vec<NetBan>> {
        let c = self.conn(&self.sessions).await?;
        let rows = c
            .query(
                &format!(
                    "SELECT {BAN_COLS} FROM ids_bans WHERE expires IS NULL OR expires > $1
                     ORDER BY expires IS NULL, expires, network COLLATE \"C\""
                ),
                &[&now],
            )
            .await
            .map_err(db)?;
        Ok(rows.iter().map(ban_row).collect())
    }

    async fn bans_generation(&self) -> Result<i64> {
        let c = self.conn(&self.sessions).await?;
        let row = c
            .query_opt("SELECT generation FROM ids_generation WHERE id = 1", &[])
            .await
            .map_err(db)?;
        Ok(row.map_or(0, |r| r.get(0)))
    }

    async fn allow(
        &self,
        network: &str,
        note: &str,
        inside: Vec<String>,
        now: i64,
    ) -> Result<usize> {
        if network.is_empty() {
            return Err(StoreError::Invalid("allow needs a network".into()));
        }
        let mut c = self.conn(&self.sessions).await?;
        let tx = c.transaction().await.map_err(db)?;
        tx.execute(
            "INSERT INTO ids_allow(network, note, created) VALUES ($1, $2, $3)
             ON CONFLICT (network) DO UPDATE SET note = excluded.note, created = excluded.created",
            &[&network, &note, &now],
        )
        .await
        .map_err(db)?;
        log(
            &tx,
            &IdsEvent {
                ts: now,
                network: network.to_string(),
                event: "allow".into(),
                detector: "admin".into(),
                detail: format!("{network} allowed: {note}"),
            },
        )
        .await?;
        let mut lifted = 0;
        for n in &inside {
            if unban_tx(&tx, n, "the allow-list", now).await? {
                lifted += 1;
            }
        }
        bump(&tx).await?;
        tx.commit().await.map_err(db)?;
        Ok(lifted)
    }

    async fn disallow(&self, network: &str) -> Result<bool> {
        let mut c = self.conn(&self.sessions).await?;
        let tx = c.transaction().await.map_err(db)?;
        let n = tx
            .execute("DELETE FROM ids_allow WHERE network = $1", &[&network])
            .await
            .map_err(db)?;
        if n > 0 {
            bump(&tx).await?;
        }
        tx.commit().await.map_err(db)?;
        Ok(n > 0)
    }

    async fn allowed(&self) -> Result<Vec<Allowed>> {
        let c = self.conn(&self.sessions).await?;
        let rows = c
            .query(
                "SELECT network, note, created FROM ids_allow ORDER BY network COLLATE \"C\"",
                &[],
            )
            .await
            .map_err(db)?;
        Ok(rows
            .iter()
            .map(|r| Allowed {
                network: r.get(0),
                note: r.get(1),
                created: r.get(2),
            })
            .collect())
    }

    async fn ids_record(&self, event: IdsEvent) {
        let r = async {
            let c = self.conn(&self.sessions).await?;
            c.execute(
                "INSERT INTO ids_events(ts, network, event, detector, detail)
                 VALUES ($1, $2, $3, $4, $5)",
                &[
                    &event.ts,
                    &event.network,
                    &event.event,
                    &event.detector,
                    &event.detail,
                ],
            )
            .await
            .map_err(db)
        }
        .await;
        if let Err(e) = r {
            tracing::warn!(error = %e, "IDS event not recorded");
        }
    }

    async fn ids_events(&self, since: i64, limit: usize) -> Result<Vec<IdsEvent>> {
        self.events(since, limit, None).await
    }

    async fn ids_events_of(&self, event: &str, since: i64, limit: usize) -> Result<Vec<IdsEvent>> {
        self.events(since, limit, Some(event)).await
    }

    async fn prune_ids(&self, days: u32, now: i64) -> Result<usize> {
        let cutoff = now - i64::from(days) * 86_400 * 1_000_000;
        let mut c = self.conn(&self.sessions).await?;
        let tx = c.transaction().await.map_err(db)?;
        let a = tx
            .execute("DELETE FROM ids_events WHERE ts < $1", &[&cutoff])
            .await
            .map_err(db)?;
        // A ban that ended before the cutoff is forgotten, and with it its repeat count.
        let b = tx
            .execute(
                "DELETE FROM ids_bans WHERE expires IS NOT NULL AND expires < $1",
                &[&cutoff],
            )
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(usize::try_from(a + b).unwrap_or(usize::MAX))
    }

    async fn oldest_kept(&self) -> Result<OldestKept> {
        let c = self.conn(&self.sessions).await?;
        // The mailbox audit's table comes with its own schema step (MailboxAudit, not yet
        // written on PostgreSQL): until then it holds nothing.
        let row = c
            .query_one(
                "SELECT (SELECT min(ts) FROM trace), (SELECT min(ts) FROM ids_events),
                        to_regclass('mailbox_audit') IS NOT NULL",
                &[],
            )
            .await
            .map_err(db)?;
        let mailbox_audit = if row.get::<_, bool>(2) {
            c.query_one("SELECT min(ts) FROM mailbox_audit", &[])
                .await
                .map_err(db)?
                .get(0)
        } else {
            None
        };
        Ok(OldestKept {
            trace: row.get(0),
            mailbox_audit,
            ids: row.get(1),
        })
    }
}

impl PgStore {
    /// The IDS log since `since` (of one kind when `kind` is given), oldest first.
    async fn events(&self, since: i64, limit: usize, kind: Option<&str>) -> Result<Vec<IdsEvent>> {
        let limit = i64::try_from(limit.max(1)).unwrap_or(i64::MAX);
        let c = self.conn(&self.sessions).await?;
        let rows = c
            .query(
                "SELECT ts, network, event, detector, detail FROM ids_events
                 WHERE ts >= $1 AND ($3::text IS NULL OR event = $3)
                 ORDER BY ts, id LIMIT $2",
                &[&since, &limit, &kind],
            )
            .await
            .map_err(db)?;
        Ok(rows
            .iter()
            .map(|r| IdsEvent {
                ts: r.get(0),
                network: r.get(1),
                event: r.get(2),
                detector: r.get(3),
                detail: r.get(4),
            })
            .collect())
    }
}
