//! Intrusion prevention's durable state (NC-2.4.2, NC-2.4.3): banned networks, the allow-list
//! an administrator adds to, the IDS log of detections, bans and unbans, and a generation
//! number that every change raises so a running server notices a change made by the CLI by
//! reading one row.
//!
//! A network is text in CIDR form (`192.0.2.7/32`, `2001:db8::/64`); the caller (rampart-ids,
//! the CLI) parses and normalises it, the store keeps it as given. A ban's row stays after the
//! ban ends, so the next ban of the same network knows how many came before it (the
//! escalation), until the row is pruned with the rest of the IDS log after its retention.
//!
//! Detection counters are not here: they live in memory in each node (rampart-ids).

use crate::sqlite::Sqlite;
use crate::{now_micros, Result, Store, StoreError, TraceEvent};
use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

pub(crate) const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS ids_bans (
    network TEXT PRIMARY KEY,
    reason TEXT NOT NULL,
    detector TEXT NOT NULL,
    evidence TEXT NOT NULL,
    created INTEGER NOT NULL,
    -- NULL: permanent (only where the configuration asks for it).
    expires INTEGER,
    -- How many times this network has been banned, this ban included.
    repeats INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS ids_allow (
    network TEXT PRIMARY KEY,
    note TEXT NOT NULL,
    created INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS ids_events (
    id INTEGER PRIMARY KEY,
    ts INTEGER NOT NULL,
    network TEXT NOT NULL,
    event TEXT NOT NULL,
    detector TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ids_events_ts ON ids_events(ts);
CREATE TABLE IF NOT EXISTS ids_generation (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    generation INTEGER NOT NULL
);
INSERT OR IGNORE INTO ids_generation(id, generation) VALUES (1, 0);
"#;

/// A ban of a network, in force or ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NetBan {
    /// CIDR: `192.0.2.7/32`, `198.51.100.0/24`, `2001:db8:1:2::/64`.
    pub network: String,
    /// In words: `auth brute force`, `banned by admin`.
    pub reason: String,
    /// The detector that asked for it (`auth`, `harvest`, …), `subnet`, or `admin`.
    pub detector: String,
    /// What was seen, for the administrator.
    pub evidence: String,
    /// Microseconds since the epoch.
    pub created: i64,
    /// None: permanent.
    pub expires: Option<i64>,
    /// Bans of this network so far, this one included.
    pub repeats: u32,
}

impl NetBan {
    /// In force at `now`.
    pub fn active(&self, now: i64) -> bool {
        self.expires.is_none_or(|e| e > now)
    }
}

/// What to ban and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBan {
    pub network: String,
    pub reason: String,
    pub detector: String,
    pub evidence: String,
}

/// How long a ban lasts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BanLength {
    /// NC-2.4.2: the n-th ban of a network lasts `ladder[n - 1]` microseconds, the last step
    /// for every ban past the ladder's end; None in a step is permanent. The count and the
    /// choice are made in one transaction, so two nodes banning at once cannot both be "first".
    Ladder(Vec<Option<i64>>),
    /// Until this time (microseconds), or for ever (None): an administrator's ban.
    Until(Option<i64>),
}

/// A network an administrator said is never to be banned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Allowed {
    pub network: String,
    pub note: String,
    pub created: i64,
}

/// One line of the IDS log: a detection, a ban or an unban (NC-2.4.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IdsEvent {
    pub ts: i64,
    /// The client address or network concerned.
    pub network: String,
    /// `detect`, `ban`, `unban`, `allow`.
    pub event: String,
    pub detector: String,
    pub detail: String,
}

/// NC-2.4.3: the oldest record each log still holds (microseconds; None when it is empty), so an
/// auditor can see that the retention really holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OldestKept {
    pub trace: Option<i64>,
    pub mailbox_audit: Option<i64>,
    pub ids: Option<i64>,
}

/// Intrusion prevention's store (NC-2.4.2). Part of [`crate::Backend`]. Every ban and unban is
/// also a trace event (client = the network), written in the same commit.
#[async_trait]
pub trait Bans: Send + Sync {
    /// Bans `ban.network` from `now`; returns the ban as stored (its expiry and repeat count).
    async fn ban_network(&self, ban: NewBan, length: BanLength, now: i64) -> Result<NetBan>;
    /// Ends the ban of `network` at `now`; false when none was in force. `by` says who.
    async fn unban_network(&self, network: &str, by: &str, now: i64) -> Result<bool>;
    /// Every ban in force at `now`, soonest to end first (permanent ones last). The firewall's
    /// set of banned addresses is built from this.
    async fn list_active(&self, now: i64) -> Result<Vec<NetBan>>;
    /// Raised by every change to bans or the allow-list: a node polls it to know when to reload.
    async fn bans_generation(&self) -> Result<i64>;
    /// Adds a network to the allow-list and ends the bans inside it (`inside` lists them, as the
    /// caller parsed the networks). Returns how many bans ended.
    async fn allow(
        &self,
        network: &str,
        note: &str,
        inside: Vec<String>,
        now: i64,
    ) -> Result<usize>;
    /// Removes a network from the allow-list; false when it was not there.
    async fn disallow(&self, network: &str) -> Result<bool>;
    async fn allowed(&self) -> Result<Vec<Allowed>>;
    /// NC-2.4.1: records a detection (also written to the trace by the caller's event).
    async fn ids_record(&self, event: IdsEvent);
    /// The IDS log since `since`, oldest first, at most `limit`.
    async fn ids_events(&self, since: i64, limit: usize) -> Result<Vec<IdsEvent>>;
    /// The IDS log's events of one kind (`event`) since `since`, oldest first, at most `limit`:
    /// what a node polls for without reading every detection of an attack.
    async fn ids_events_of(&self, event: &str, since: i64, limit: usize) -> Result<Vec<IdsEvent>>;
    /// NC-2.4.3: removes IDS events, and ban rows that ended, older than `days`; how many.
    async fn prune_ids(&self, days: u32, now: i64) -> Result<usize>;
    /// NC-2.4.3: the oldest record kept by the trace, the mailbox audit and the IDS log.
    async fn oldest_kept(&self) -> Result<OldestKept>;
}

fn bump(c: &Connection) -> Result<()> {
    c.execute(
        "UPDATE ids_generation SET generation = generation + 1 WHERE id = 1",
        [],
    )?;
    Ok(())
}

fn log(c: &Connection, e: &IdsEvent) -> Result<()> {
    c.prepare_cached(
        "INSERT INTO ids_events(ts, network, event, detector, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![e.ts, e.network, e.event, e.detector, e.detail])?;
    Ok(())
}

/// What banning a network again comes to, given its earlier ban (if any).
pub enum NextBan {
    /// Still banned: the ban stands as it is (another detection during the ban cannot come from
    /// a refused address, only from a race at accept).
    Stands(NetBan),
    /// A new ban: its repeat count and its end on the ladder (None: permanent).
    New { repeats: u32, expires: Option<i64> },
}

/// The next ban of a network on `length`'s ladder; every store implementation asks this.
pub fn next_ban(before: Option<NetBan>, length: &BanLength, now: i64) -> Result<NextBan> {
    if let Some(existing) = before.as_ref().filter(|e| e.active(now)) {
        return Ok(NextBan::Stands(existing.clone()));
    }
    let repeats = before.map_or(1, |e| e.repeats.saturating_add(1));
    let expires = match length {
        BanLength::Until(t) => *t,
        BanLength::Ladder(steps) => {
            let i = usize::try_from(repeats - 1).unwrap_or(usize::MAX);
            match steps.get(i).or(steps.last()) {
                Some(step) => step.map(|d| now.saturating_add(d)),
                None => return Err(StoreError::Invalid("an empty ban ladder".into())),
            }
        }
    };
    if expires.is_some_and(|e| e <= now) {
        return Err(StoreError::Invalid("a ban must end after it starts".into()));
    }
    Ok(NextBan::New { repeats, expires })
}

/// The ban and its trace event and log line, in one transaction.
fn ban_tx(c: &Connection, b: &NewBan, length: &BanLength, now: i64) -> Result<NetBan> {
    if b.network.is_empty() {
        return Err(StoreError::Invalid("a ban needs a network".into()));
    }
    let before = get(c, &b.network)?;
    let (repeats, expires) = match next_ban(before, length, now)? {
        NextBan::Stands(existing) => return Ok(existing),
        NextBan::New { repeats, expires } => (repeats, expires),
    };
    c.execute(
        "INSERT OR REPLACE INTO ids_bans(network, reason, detector, evidence, created, expires, repeats)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![b.network, b.reason, b.detector, b.evidence, now, expires, repeats],
    )?;
    let until = expires.map_or("permanently".to_string(), |e| {
        format!("until {}", crate::rfc5322_date(e / 1_000_000))
    });
    let detail = format!(
        "{} banned {until} (ban {repeats}): {}; {}",
        b.network, b.reason, b.evidence
    );
    log(
        c,
        &IdsEvent {
            ts: now,
            network: b.network.clone(),
            event: "ban".into(),
            detector: b.detector.clone(),
            detail: detail.clone(),
        },
    )?;
    // Every ban in the trace (NC-2.4.2), found by `rampart trace --client`.
    let mut e = TraceEvent::new("ban", detail);
    e.ts = now;
    e.client = Some(b.network.clone());
    e.insert(c)?;
    bump(c)?;
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

fn get(c: &Connection, network: &str) -> Result<Option<NetBan>> {
    Ok(c.prepare_cached(
        "SELECT network, reason, detector, evidence, created, expires, repeats FROM ids_bans
         WHERE network = ?1",
    )?
    .query_row([network], ban_row)
    .optional()?)
}

fn ban_row(r: &rusqlite::Row) -> rusqlite::Result<NetBan> {
    Ok(NetBan {
        network: r.get(0)?,
        reason: r.get(1)?,
        detector: r.get(2)?,
        evidence: r.get(3)?,
        created: r.get(4)?,
        expires: r.get(5)?,
        repeats: r.get(6)?,
    })
}

fn unban_tx(c: &Connection, network: &str, by: &str, now: i64) -> Result<bool> {
    // The row stays, ended now, so that a later ban still counts this one.
    let n = c.execute(
        "UPDATE ids_bans SET expires = ?2 WHERE network = ?1 AND (expires IS NULL OR expires > ?2)",
        params![network, now],
    )?;
    if n == 0 {
        return Ok(false);
    }
    let detail = format!("{network} unbanned by {by}");
    log(
        c,
        &IdsEvent {
            ts: now,
            network: network.to_string(),
            event: "unban".into(),
            detector: by.to_string(),
            detail: detail.clone(),
        },
    )?;
    let mut e = TraceEvent::new("unban", detail);
    e.ts = now;
    e.client = Some(network.to_string());
    e.insert(c)?;
    bump(c)?;
    Ok(true)
}

fn list_active(c: &Connection, now: i64) -> Result<Vec<NetBan>> {
    let mut st = c.prepare_cached(
        "SELECT network, reason, detector, evidence, created, expires, repeats FROM ids_bans
         WHERE expires IS NULL OR expires > ?1
         ORDER BY expires IS NULL, expires, network",
    )?;
    let rows = st.query_map([now], ban_row)?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

fn generation(c: &Connection) -> Result<i64> {
    Ok(
        c.prepare_cached("SELECT generation FROM ids_generation WHERE id = 1")?
            .query_row([], |r| r.get(0))
            .optional()?
            .unwrap_or(0),
    )
}

fn allow_tx(
    c: &Connection,
    network: &str,
    note: &str,
    inside: &[String],
    now: i64,
) -> Result<usize> {
    if network.is_empty() {
        return Err(StoreError::Invalid("allow needs a network".into()));
    }
    c.execute(
        "INSERT OR REPLACE INTO ids_allow(network, note, created) VALUES (?1, ?2, ?3)",
        params![network, note, now],
    )?;
    log(
        c,
        &IdsEvent {
            ts: now,
            network: network.to_string(),
            event: "allow".into(),
            detector: "admin".into(),
            detail: format!("{network} allowed: {note}"),
        },
    )?;
    let mut lifted = 0;
    for n in inside {
        if unban_tx(c, n, "the allow-list", now)? {
            lifted += 1;
        }
    }
    bump(c)?;
    Ok(lifted)
}

fn disallow_tx(c: &Connection, network: &str) -> Result<bool> {
    let n = c.execute("DELETE FROM ids_allow WHERE network = ?1", [network])?;
    if n > 0 {
        bump(c)?;
    }
    Ok(n > 0)
}

fn allowed(c: &Connection) -> Result<Vec<Allowed>> {
    let mut st =
        c.prepare_cached("SELECT network, note, created FROM ids_allow ORDER BY network")?;
    let rows = st.query_map([], |r| {
        Ok(Allowed {
            network: r.get(0)?,
            note: r.get(1)?,
            created: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

fn events(c: &Connection, since: i64, limit: usize, kind: Option<&str>) -> Result<Vec<IdsEvent>> {
    let limit = i64::try_from(limit.max(1)).unwrap_or(i64::MAX);
    let mut st = c.prepare_cached(
        "SELECT ts, network, event, detector, detail FROM ids_events
         WHERE ts >= ?1 AND (?3 IS NULL OR event = ?3)
         ORDER BY ts, id LIMIT ?2",
    )?;
    let rows = st.query_map(params![since, limit, kind], |r| {
        Ok(IdsEvent {
            ts: r.get(0)?,
            network: r.get(1)?,
            event: r.get(2)?,
            detector: r.get(3)?,
            detail: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

fn prune(c: &Connection, days: u32, now: i64) -> Result<usize> {
    let cutoff = now - i64::from(days) * 86_400 * 1_000_000;
    let a = c.execute("DELETE FROM ids_events WHERE ts < ?1", [cutoff])?;
    // A ban that ended before the cutoff is forgotten, and with it its repeat count.
    let b = c.execute(
        "DELETE FROM ids_bans WHERE expires IS NOT NULL AND expires < ?1",
        [cutoff],
    )?;
    Ok(a + b)
}

fn oldest(c: &Connection) -> Result<OldestKept> {
    let min = |table: &str| -> Result<Option<i64>> {
        Ok(c.query_row(&format!("SELECT min(ts) FROM {table}"), [], |r| r.get(0))?)
    };
    Ok(OldestKept {
        trace: min("trace")?,
        mailbox_audit: min("mailbox_audit")?,
        ids: min("ids_events")?,
    })
}

/// The same operations for the administrator's commands, on their own connection (the CLI runs
/// beside a server whose writer owns the other).
impl Store {
    pub fn ids_ban(&self, ban: NewBan, length: BanLength, now: i64) -> Result<NetBan> {
        let mut c = self.admin_connection()?;
        let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let b = ban_tx(&tx, &ban, &length, now)?;
        tx.commit()?;
        Ok(b)
    }

    pub fn ids_unban(&self, network: &str, by: &str, now: i64) -> Result<bool> {
        let mut c = self.admin_connection()?;
        let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let done = unban_tx(&tx, network, by, now)?;
        tx.commit()?;
        Ok(done)
    }

    pub fn ids_list_active(&self, now: i64) -> Result<Vec<NetBan>> {
        self.read(|c| list_active(c, now))
    }

    pub fn ids_allow(&self, network: &str, note: &str, inside: &[String]) -> Result<usize> {
        let mut c = self.admin_connection()?;
        let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let n = allow_tx(&tx, network, note, inside, now_micros())?;
        tx.commit()?;
        Ok(n)
    }

    pub fn ids_disallow(&self, network: &str) -> Result<bool> {
        disallow_tx(&self.admin_connection()?, network)
    }

    pub fn ids_allowed(&self) -> Result<Vec<Allowed>> {
        self.read(allowed)
    }

    pub fn ids_oldest_kept(&self) -> Result<OldestKept> {
        self.read(oldest)
    }
}

#[async_trait]
impl Bans for Sqlite {
    async fn ban_network(&self, ban: NewBan, length: BanLength, now: i64) -> Result<NetBan> {
        crate::shared::write(self.writer(), move |tx| ban_tx(tx, &ban, &length, now)).await
    }

    async fn unban_network(&self, network: &str, by: &str, now: i64) -> Result<bool> {
        let (n, by) = (network.to_owned(), by.to_owned());
        crate::shared::write(self.writer(), move |tx| unban_tx(tx, &n, &by, now)).await
    }

    async fn list_active(&self, now: i64) -> Result<Vec<NetBan>> {
        self.read(move |s| s.read(|c| list_active(c, now))).await
    }

    async fn bans_generation(&self) -> Result<i64> {
        self.read(|s| s.read(generation)).await
    }

    async fn allow(
        &self,
        network: &str,
        note: &str,
        inside: Vec<String>,
        now: i64,
    ) -> Result<usize> {
        let (n, note) = (network.to_owned(), note.to_owned());
        crate::shared::write(self.writer(), move |tx| {
            allow_tx(tx, &n, &note, &inside, now)
        })
        .await
    }

    async fn disallow(&self, network: &str) -> Result<bool> {
        let n = network.to_owned();
        crate::shared::write(self.writer(), move |tx| disallow_tx(tx, &n)).await
    }

    async fn allowed(&self) -> Result<Vec<Allowed>> {
        self.read(|s| s.read(allowed)).await
    }

    async fn ids_record(&self, event: IdsEvent) {
        let r = crate::shared::write(self.writer(), move |tx| log(tx, &event)).await;
        if let Err(e) = r {
            tracing::warn!(error = %e, "IDS event not recorded");
        }
    }

    async fn ids_events(&self, since: i64, limit: usize) -> Result<Vec<IdsEvent>> {
        self.read(move |s| s.read(|c| events(c, since, limit, None)))
            .await
    }

    async fn ids_events_of(&self, event: &str, since: i64, limit: usize) -> Result<Vec<IdsEvent>> {
        let event = event.to_string();
        self.read(move |s| s.read(|c| events(c, since, limit, Some(&event))))
            .await
    }

    async fn prune_ids(&self, days: u32, now: i64) -> Result<usize> {
        crate::shared::write(self.writer(), move |tx| prune(tx, days, now)).await
    }

    async fn oldest_kept(&self) -> Result<OldestKept> {
        self.read(|s| s.read(oldest)).await
    }
}
