//! Message trace (AL-3.1): one row per event, keyed by session, queue id and Message-ID, and by
//! client address, sender and recipient so that `rampart trace` finds a message from any of them.
//! Retention (NC-2.4.3) is enforced by [`Store::prune_trace`].

use crate::{now_micros, Result, Store};
use rusqlite::{params, Connection};
use serde::Serialize;

/// One trace event. `event` is a short fixed name (`connect`, `tls`, `ehlo`, `mail`, `rcpt`,
/// `queued`, `delivered`, `disconnect`, …); `detail` says what happened in words, reply included.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct TraceEvent {
    /// Microseconds since the Unix epoch.
    pub ts: i64,
    pub session: Option<String>,
    pub queue_id: Option<String>,
    pub message_id: Option<String>,
    pub client: Option<String>,
    pub sender: Option<String>,
    pub recipient: Option<String>,
    pub event: String,
    pub detail: String,
}

/// AL-3.1: a new id for a session's trace rows (an SMTP connection): 13 hex digits of the
/// time in microseconds, strictly increasing within the process, then 6 random hex digits that
/// keep ids from different servers sharing one store apart.
///
/// The index on `trace(session)` is written on every row of a session, several times per
/// message. With wholly random ids each row went into a random leaf of that index, a page of
/// its own in the commit's WAL: a third of the frames a group commit wrote at 10 KB × 50
/// sessions (issue 23). Ids in time order go into the index's newest pages, which the rows of
/// the same commit share.
pub fn new_session_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = now_micros().max(0) as u64;
    let mut prev = LAST.load(Ordering::Relaxed);
    let t = loop {
        let t = now.max(prev + 1);
        match LAST.compare_exchange_weak(prev, t, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => break t,
            Err(p) => prev = p,
        }
    };
    let r = crate::random_bytes::<3>();
    format!(
        "{:013x}{:02x}{:02x}{:02x}",
        t & 0xf_ffff_ffff_ffff,
        r[0],
        r[1],
        r[2]
    )
}

thread_local! {
    /// While the writer thread commits a batch: the events its operations inserted, logged only
    /// once the commit has succeeded (see [`Deferred`]). `None` everywhere else, where an
    /// inserted event is logged at once.
    static DEFERRED: std::cell::RefCell<Option<Vec<TraceEvent>>> =
        const { std::cell::RefCell::new(None) };
}

/// The log lines of the trace events a transaction inserts, held until it commits: a log
/// collector must not read "queued" or "delivered" for a message whose commit failed, nor an
/// event of an operation rolled back to its savepoint (its lines are dropped with it, and a
/// repeated operation's lines are held again). Only on the thread that made it.
pub(crate) struct Deferred(());

impl Deferred {
    /// Starts holding this thread's trace log lines.
    pub(crate) fn start() -> Deferred {
        DEFERRED.with(|d| *d.borrow_mut() = Some(Vec::new()));
        Deferred(())
    }

    /// How many lines are held: what [`Deferred::undo_to`] goes back to.
    pub(crate) fn mark() -> usize {
        DEFERRED.with(|d| d.borrow().as_ref().map_or(0, Vec::len))
    }

    /// Drops the lines held since `mark`: their rows were rolled back.
    pub(crate) fn undo_to(mark: usize) {
        DEFERRED.with(|d| {
            if let Some(v) = d.borrow_mut().as_mut() {
                v.truncate(mark);
            }
        });
    }

    /// The commit succeeded: the held lines are written.
    pub(crate) fn committed(self) {
        let held = DEFERRED.with(|d| d.borrow_mut().take()).unwrap_or_default();
        for e in &held {
            e.log();
        }
    }
}

impl Drop for Deferred {
    /// Not committed: the held lines are dropped with the rows they describe.
    fn drop(&mut self) {
        DEFERRED.with(|d| d.borrow_mut().take());
    }
}

impl TraceEvent {
    pub fn new(event: &str, detail: impl Into<String>) -> TraceEvent {
        TraceEvent {
            ts: now_micros(),
            event: event.to_string(),
            detail: detail.into(),
            ..Default::default()
        }
    }

    /// AL-3.1: the event's row ([`TraceEvent::insert_row`]) and its log line: written now, or,
    /// inside the writer's batch, once the batch is committed.
    pub(crate) fn insert(&self, conn: &Connection) -> Result<()> {
        self.insert_row(conn)?;
        let held = DEFERRED.with(|d| match d.borrow_mut().as_mut() {
            Some(v) => {
                if self.log_enabled() {
                    v.push(self.clone());
                }
                true
            }
            None => false,
        });
        if !held {
            self.log();
        }
        Ok(())
    }

    /// AL-3.1: the one place a trace row is written; its log line is the caller's (for a
    /// session's event, [`crate::Writer::trace`] wrote it when the event was sent).
    pub(crate) fn insert_row(&self, conn: &Connection) -> Result<()> {
        conn.prepare_cached(
            "INSERT INTO trace(ts, session, queue_id, message_id, client, sender, recipient, event, detail)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?
        .execute(params![
            self.ts,
            self.session,
            self.queue_id,
            self.message_id,
            self.client,
            self.sender,
            self.recipient,
            self.event,
            self.detail
        ])?;
        Ok(())
    }

    /// Whether [`TraceEvent::log`] would write anything at the log level in force.
    fn log_enabled(&self) -> bool {
        if WARN_EVENTS.contains(&self.event.as_str()) {
            tracing::enabled!(target: LOG_TARGET, tracing::Level::WARN)
        } else {
            tracing::enabled!(target: LOG_TARGET, tracing::Level::INFO)
        }
    }

    /// The event as one log line (target [`LOG_TARGET`]), written beside the trace row so a log
    /// collector sees every decision the trace records, with the same fields (docs/LOGGING.md).
    /// Absent fields are left out; string values are quoted, so a line splits on spaces safely.
    pub fn log(&self) {
        let (queue_id, session, client) = (
            self.queue_id.as_deref(),
            self.session.as_deref(),
            self.client.as_deref(),
        );
        let (sender, recipient, message_id) = (
            self.sender.as_deref(),
            self.recipient.as_deref(),
            self.message_id.as_deref(),
        );
        let event = self.event.as_str();
        // Keep the field order: the fail2ban filter (contrib/fail2ban) and LOGGING.md rely on it.
        macro_rules! line {
            ($level:ident) => {
                tracing::$level!(
                    target: LOG_TARGET,
                    event,
                    queue_id,
                    session,
                    client,
                    sender,
                    recipient,
                    message_id,
                    detail = self.detail.as_str()
                )
            };
        }
        if WARN_EVENTS.contains(&event) {
            line!(warn)
        } else {
            line!(info)
        }
    }
}

/// The log target of the lines [`TraceEvent::log`] writes: filter on it (`[log] level =
/// "rampart::mail=info,warn"`) or match it in a log tool.
pub const LOG_TARGET: &str = "rampart::mail";

/// Events that always mean something was refused or lost: logged at WARN, the rest at INFO.
const WARN_EVENTS: &[&str] = &[
    "refused",
    "early-talker",
    "protocol",
    "failed",
    "expired",
    "bounce",
    "quarantined",
];

/// What `rampart trace` looks for. Every field set must match; the result is the whole timeline of
/// each matching message and session, not only the matching rows.
#[derive(Debug, Clone, Default)]
pub struct TraceFilter {
    pub queue_id: Option<String>,
    pub message_id: Option<String>,
    pub sender: Option<String>,
    pub recipient: Option<String>,
    pub client: Option<String>,
    /// Microseconds since the epoch, inclusive.
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// Most events returned.
    pub limit: usize,
    /// Only events of these kinds (none: every kind); with the fields above, the events of
    /// these kinds in the matching timelines. Kinds are names from the code (`released`), never
    /// input: they are written into the statement, so that a partial index on them is used
    /// ([`ADMIN_EVENTS`]).
    pub events: &'static [&'static str],
    /// The newest events first (else the oldest): with `limit`, the latest ones.
    pub newest_first: bool,
}

/// The events of administrators' actions on held and queued mail, which the console lists
/// without a search: each store keeps a partial index of their times (`trace_admin`), which no
/// other event enters, so that the list is read directly however large the trace.
pub const ADMIN_EVENTS: &[&str] = &["released", "deleted"];

/// [`Store::trace_summary`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TraceSummary {
    /// Microseconds since the epoch of the oldest event kept.
    pub oldest: Option<i64>,
    pub messages: u64,
    pub auth_failures: u64,
    /// Events of the mailbox audit kept, in all.
    pub mailbox_events: u64,
}

impl Store {
    /// Finds the timelines that match `filter`, oldest event first.
    pub fn trace(&self, filter: &TraceFilter) -> Result<Vec<TraceEvent>> {
        let (sql, args) = trace_query(filter);
        self.read(|c| {
            let mut st = c.prepare(&sql)?;
            let rows = st.query_map(rusqlite::params_from_iter(args.iter()), |r| {
                Ok(TraceEvent {
                    ts: r.get(0)?,
                    session: r.get(1)?,
                    queue_id: r.get(2)?,
                    message_id: r.get(3)?,
                    client: r.get(4)?,
                    sender: r.get(5)?,
                    recipient: r.get(6)?,
                    event: r.get(7)?,
                    detail: r.get(8)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// What the audit reads of the trace (NC-2.4.3, AL-3.1): the oldest event kept, and since
    /// `since` (microseconds since the epoch) the messages queued and the failed
    /// authentications.
    pub fn trace_summary(&self, since: i64) -> Result<TraceSummary> {
        let conn = self.admin_connection()?;
        let oldest: Option<i64> = conn.query_row("SELECT MIN(ts) FROM trace", [], |r| r.get(0))?;
        let count = |sql: &str| -> Result<u64> {
            let n: i64 = conn.query_row(sql, [since], |r| r.get(0))?;
            Ok(u64::try_from(n).unwrap_or(0))
        };
        Ok(TraceSummary {
            oldest,
            messages: count("SELECT COUNT(*) FROM trace WHERE ts >= ?1 AND event = 'queued'")?,
            auth_failures: count(
                "SELECT COUNT(*) FROM trace WHERE ts >= ?1 AND event = 'auth' AND detail LIKE 'failed%'",
            )?,
            mailbox_events: conn
                .query_row("SELECT COUNT(*) FROM mailbox_audit", [], |r| r.get::<_, i64>(0))
                .map(|n| u64::try_from(n).unwrap_or(0))?,
        })
    }

    /// Deletes trace events older than `days` (NC-2.4.3 retention). Returns how many went.
    pub fn prune_trace(&self, days: u32) -> Result<usize> {
        let cutoff = now_micros() - i64::from(days) * 86_400 * 1_000_000;
        let conn = self.admin_connection()?;
        Ok(conn.execute("DELETE FROM trace WHERE ts < ?1", [cutoff])?)
    }
}

/// One argument of a [`TraceQuery`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraceArg {
    Text(String),
    Int(i64),
}

/// A trace search as SQL, the same statement for every store; only the way a parameter is
/// written differs (`?1` for SQLite, `$1` for PostgreSQL).
#[derive(Debug, Clone)]
pub struct TraceQuery {
    /// Selects `ts, session, queue_id, message_id, client, sender, recipient, event, detail`.
    pub sql: String,
    pub args: Vec<TraceArg>,
}

impl TraceFilter {
    /// The statement that finds the timelines matching this filter: the rows matching it name
    /// sessions and queue ids, and every row they name is returned, oldest first, with the
    /// matching rows themselves (an event of neither, such as a user's move into Junk). Sender and
    /// recipient compare lower-cased, as their indexes hold them; the `IS NOT NULL` terms state
    /// those partial indexes' condition so that a planner uses them. `placeholder(n)` writes the
    /// n-th parameter.
    pub fn to_sql(&self, placeholder: fn(usize) -> String) -> TraceQuery {
        const COLS: &str =
            "ts, session, queue_id, message_id, client, sender, recipient, event, detail";
        let mut cond = Vec::new();
        let mut args = Vec::new();
        let lower = |v: &Option<String>| v.as_ref().map(|s| s.to_lowercase());
        for (col, v) in [
            ("queue_id", self.queue_id.clone()),
            ("message_id", self.message_id.clone()),
            ("sender IS NOT NULL AND lower(sender)", lower(&self.sender)),
            (
                "recipient IS NOT NULL AND lower(recipient)",
                lower(&self.recipient),
            ),
            ("client", self.client.clone()),
        ] {
            if let Some(v) = v {
                args.push(TraceArg::Text(v));
                cond.push(format!("{col} = {}", placeholder(args.len())));
            }
        }
        let mut range = vec!["true".to_string()];
        for (op, v) in [(">=", self.since), ("<=", self.until)] {
            if let Some(v) = v {
                args.push(TraceArg::Int(v));
                range.push(format!("ts {op} {}", placeholder(args.len())));
            }
        }
        let range = range.join(" AND ");
        let limit = if self.limit == 0 { 10_000 } else { self.limit };
        let kinds = if self.events.is_empty() {
            "true".to_string()
        } else {
            let names: Vec<String> = self
                .events
                .iter()
                .map(|k| format!("'{}'", k.replace('\'', "''")))
                .collect();
            format!("event IN ({})", names.join(", "))
        };
        let order = if self.newest_first {
            "ts DESC, id DESC"
        } else {
            "ts, id"
        };
        let sql = if cond.is_empty() {
            // A time range alone: every event in it (of the kinds asked for).
            format!(
                "SELECT {COLS} FROM trace WHERE {kinds} AND {range} ORDER BY {order} LIMIT {limit}"
            )
        } else {
            format!(
                "WITH m AS (SELECT id, session, queue_id FROM trace WHERE {} AND {range})
                 SELECT {COLS} FROM trace
                 WHERE (session IN (SELECT session FROM m WHERE session IS NOT NULL)
                    OR queue_id IN (SELECT queue_id FROM m WHERE queue_id IS NOT NULL)
                    OR id IN (SELECT id FROM m))
                   AND {kinds}
                 ORDER BY {order} LIMIT {limit}",
                cond.join(" AND ")
            )
        };
        TraceQuery { sql, args }
    }
}

/// The statement [`Store::trace`] runs for `filter`, and its arguments, for SQLite.
fn trace_query(filter: &TraceFilter) -> (String, Vec<rusqlite::types::Value>) {
    let q = filter.to_sql(|n| format!("?{n}"));
    let args = q
        .args
        .into_iter()
        .map(|a| match a {
            TraceArg::Text(s) => rusqlite::types::Value::Text(s),
            TraceArg::Int(i) => rusqlite::types::Value::Integer(i),
        })
        .collect();
    (q.sql, args)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::tempdir;

    fn event(
        session: &str,
        queue: Option<&str>,
        sender: &str,
        rcpt: &str,
        name: &str,
    ) -> TraceEvent {
        TraceEvent {
            session: Some(session.into()),
            queue_id: queue.map(Into::into),
            message_id: Some(format!("<{session}@remote.example>")),
            client: Some(format!("192.0.2.{}", session.len())),
            sender: Some(sender.into()),
            recipient: Some(rcpt.into()),
            ..TraceEvent::new(name, "detail")
        }
    }

    /// AL-3.1: session ids are fixed-width lower-case hex, unique, and in the order they were
    /// made (so a session's trace rows go to the newest pages of the session index), also when
    /// many are made within one microsecond and from several threads at once.
    #[test]
    fn al_3_1_session_ids_are_unique_and_in_time_order() {
        let made: Vec<Vec<String>> = std::thread::scope(|s| {
            let threads: Vec<_> = (0..4)
                .map(|_| s.spawn(|| (0..5_000).map(|_| new_session_id()).collect::<Vec<_>>()))
                .collect();
            threads.into_iter().map(|t| t.join().unwrap()).collect()
        });
        let mut all = std::collections::HashSet::new();
        for ids in &made {
            for pair in ids.windows(2) {
                assert!(pair[0] < pair[1], "{} then {}", pair[0], pair[1]);
            }
            for id in ids {
                assert_eq!(id.len(), 19, "{id}");
                assert!(id
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
                assert!(all.insert(id.clone()), "{id} made twice");
            }
        }
        // The time part is the clock's, not a counter from zero.
        let t = i64::from_str_radix(&new_session_id()[..13], 16).unwrap();
        assert!((now_micros() - t).abs() < 60_000_000, "{t}");
    }

    /// SQLite's plan for the statement of `filter`, a line per step.
    fn plan(conn: &Connection, filter: &TraceFilter) -> Vec<String> {
        let (sql, args) = trace_query(filter);
        let mut st = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        st.query_map(rusqlite::params_from_iter(args.iter()), |r| {
            r.get::<_, String>(3)
        })
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
    }

    /// AL-3.1: every search the trace offers is answered through an index (a trace of months
    /// must not be read whole for one sender), and sender and recipient match whatever their
    /// case, as the index holds them lower-cased.
    #[test]
    fn al_3_1_each_search_uses_an_index_and_ignores_case() {
        let d = tempdir::Dir::new();
        let store = Store::open(d.path()).unwrap();
        let conn = store.admin_connection().unwrap();
        // An older store's plain-column indexes are dropped on opening.
        for old in ["trace_sender", "trace_rcpt"] {
            let n: i64 = conn
                .query_row(
                    "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = ?1",
                    [old],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(n, 0, "{old}");
        }
        for (i, (sender, rcpt)) in [
            ("Alice@Remote.Example", "bob@agency.example"),
            ("carol@remote.example", "BOB@Agency.Example"),
            ("dave@remote.example", "erin@agency.example"),
        ]
        .iter()
        .enumerate()
        {
            let s = format!("s{i}");
            let q = format!("Q{i}");
            for name in ["connect", "mail", "queued"] {
                event(
                    &s,
                    Some(&q).filter(|_| name == "queued").map(|q| q.as_str()),
                    sender,
                    rcpt,
                    name,
                )
                .insert(&conn)
                .unwrap();
            }
        }
        let filters = [
            TraceFilter {
                sender: Some("alice@remote.example".into()),
                ..Default::default()
            },
            TraceFilter {
                recipient: Some("bob@AGENCY.example".into()),
                ..Default::default()
            },
            TraceFilter {
                client: Some("192.0.2.2".into()),
                ..Default::default()
            },
            TraceFilter {
                message_id: Some("<s1@remote.example>".into()),
                ..Default::default()
            },
            TraceFilter {
                queue_id: Some("Q2".into()),
                ..Default::default()
            },
            TraceFilter {
                sender: Some("CAROL@remote.example".into()),
                since: Some(0),
                ..Default::default()
            },
        ];
        for f in &filters {
            let plan = plan(&conn, f);
            // Each read of `trace` looks rows up by equality on an index: no scan of the table,
            // and no walk along an index that holds another expression than the one compared.
            assert!(
                plan.iter()
                    .filter(|l| l.starts_with("SCAN trace") || l.starts_with("SEARCH trace"))
                    .all(|l| l.starts_with("SEARCH trace USING") && l.contains("=?)")),
                "{f:?} does not find its rows through an index: {plan:#?}"
            );
        }
        let sessions = |f: &TraceFilter| -> Vec<String> {
            let mut v: Vec<String> = store
                .trace(f)
                .unwrap()
                .into_iter()
                .filter_map(|e| e.session)
                .collect();
            v.dedup();
            v
        };
        assert_eq!(sessions(&filters[0]), ["s0"]);
        assert_eq!(sessions(&filters[1]), ["s0", "s1"]);
        assert_eq!(sessions(&filters[5]), ["s1"]);
        assert_eq!(
            store.trace(&filters[0]).unwrap().len(),
            3,
            "the whole timeline"
        );

        // An event of no session and no queue (a user's move into Junk) is found by what it
        // names, with the timeline of the message it names.
        TraceEvent {
            message_id: Some("<s1@remote.example>".into()),
            recipient: Some("bob@agency.example".into()),
            ..TraceEvent::new("trained", "moved into Junk")
        }
        .insert(&conn)
        .unwrap();
        let found = store.trace(&filters[3]).unwrap();
        let names: Vec<&str> = found.iter().map(|e| e.event.as_str()).collect();
        assert_eq!(names, ["connect", "mail", "queued", "trained"], "{found:?}");

        // The console's releases and deletions are read through their own partial index, not
        // by walking every event of the time range.
        let plan = plan(
            &conn,
            &TraceFilter {
                since: Some(0),
                events: ADMIN_EVENTS,
                newest_first: true,
                limit: 50,
                ..Default::default()
            },
        );
        assert!(
            plan.iter().any(|l| l.contains("USING INDEX trace_admin")),
            "{plan:#?}"
        );
    }
}
