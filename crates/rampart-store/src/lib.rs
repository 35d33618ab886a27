//! Rampart's embedded storage: SQLite in WAL mode for metadata, queue, mailboxes and trace, and one
//! file per message body.
//!
//! ```text
//! data_dir/
//!   rampart.db        SQLite (WAL): domains, users, aliases, messages, queue, mail, trace
//!   messages/<id>     message bodies, one per message however many recipients it has
//!   tls/              generated certificate and key (mode 0600), when none is configured
//! ```
//!
//! Reads go through a small pool of connections. Every write goes through one writer thread
//! ([`writer`]) that commits whatever has queued up in one transaction: a group commit, so a busy
//! server pays for one fsync of the database and one of the message directory per batch, not per
//! message, and still answers 250 only after its message is durable.
//!
//! What does not live here: SMTP, scheduling and delivery decisions (rampart-smtp, rampart-queue).

pub mod admins;
pub mod api;
pub mod bans;
pub mod checkpoint;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod directory;
pub mod dkim_keys;
pub mod dmarc_reporting;
pub mod grants;
pub mod lifecycle;
pub mod mail;
pub mod mailbox;
pub mod mailbox_audit;
pub mod quarantine;
pub mod queue;
pub mod queue_admin;
mod shared;
pub mod spam_tokens;
pub mod spool;
pub mod sqlite;
mod sqlite_mail;
pub mod status;
pub mod submission;
pub mod summary;
pub mod tls_reporting;
pub mod tokens;
pub mod trace;
pub mod trusted_senders;
pub mod web_sessions;
pub mod writer;

use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

pub use api::{AnyStore, Backend, Ban, MailChange, MailStore, MailboxAudit};
pub use bans::{Allowed, BanLength, Bans, IdsEvent, NetBan, NewBan, OldestKept};
pub use directory::{DomainRemoved, Recipient, RecipientError, UserDeleted};
pub use dmarc_reporting::{DkimEvaluation, DmarcEvaluation, DmarcReporting, ReceivedDmarcReport};
pub use lifecycle::Removed;
pub use mailbox_audit::{ActorKind, MailboxEvent, MailboxEventFilter};
pub use queue::{
    Bounce, DueMessage, DueRecipient, Enqueue, Generated, QueueEntry, QueueId, QueuedRecipient,
    SpoolFile, Spooled, GENERATED_RETURN_PATH,
};
pub use spam_tokens::{Lesson, SpamTokens, TokenCounts, Trained, TrainedCounts};
pub use spool::MemoryBudget;
pub use sqlite::Sqlite;
pub use status::{Failure, RecipientStatus};
pub use tls_reporting::{CachedStsPolicy, ReceivedTlsReport, TlsOutcomeCount, TlsReporting};
pub use trace::{TraceArg, TraceEvent, TraceFilter, TraceQuery, TraceSummary};
pub use trusted_senders::{TrustChange, TrustedSenders};
pub use writer::Writer;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed; the text says how (no database type leaves this crate).
    #[error("database: {0}")]
    Db(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
    #[error("the store is shutting down")]
    Closed,
    /// The filesystem or the database has no room left (ENOSPC, EDQUOT, SQLITE_FULL, or
    /// PostgreSQL's `disk_full`): a temporary condition, answered `452 4.3.1` over SMTP.
    #[error("storage full: {0}")]
    Full(String),
}

impl StoreError {
    /// True when the failure was the storage having no room left.
    pub fn is_full(&self) -> bool {
        matches!(self, StoreError::Full(_))
    }

    /// The same failure for another caller (an operation's result is shared by several), its
    /// kind kept.
    pub fn again(&self) -> StoreError {
        match self {
            StoreError::Full(why) => StoreError::Full(why.clone()),
            StoreError::Closed => StoreError::Closed,
            other => StoreError::Invalid(other.to_string()),
        }
    }

    /// The same failure with `context` in front of its text, its kind kept.
    pub fn context(&self, context: &str) -> StoreError {
        match self {
            StoreError::Full(why) => StoreError::Full(format!("{context}: {why}")),
            other => StoreError::Invalid(format!("{context}: {other}")),
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> StoreError {
        if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull) {
            return StoreError::Full(e.to_string());
        }
        StoreError::Db(e.to_string())
    }
}

/// True for the errors of a filesystem with no room left: no space (ENOSPC) or the quota
/// reached (EDQUOT).
pub fn io_is_full(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT))
}

/// `e`, or, when the filesystem holding `dir` has no room left, that: SQLite reports a file it
/// could not grow at opening (the WAL's index, say) as "disk I/O error", which names the wrong
/// cause to an administrator.
fn full_or(dir: &Path, e: StoreError) -> StoreError {
    match free_room(dir) {
        Ok(room) if room.bytes < 1024 * 1024 && !e.is_full() => StoreError::Full(format!(
            "the filesystem holding {} has {} bytes free; free space on it ({e})",
            dir.display(),
            room.bytes
        )),
        Ok(FreeRoom {
            inodes: Some(0), ..
        }) if !e.is_full() => StoreError::Full(format!(
            "the filesystem holding {} has no inodes free; remove files from it ({e})",
            dir.display()
        )),
        _ => e,
    }
}

/// Bytes that an unprivileged process may still write on the filesystem holding `path`
/// (`statvfs`: available blocks times the fragment size).
pub fn free_space(path: &Path) -> std::io::Result<u64> {
    Ok(free_room(path)?.bytes)
}

/// Room left on a filesystem for new files: bytes, and inodes where it counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FreeRoom {
    /// Bytes an unprivileged process may still write.
    pub bytes: u64,
    /// Files it may still create; `None` where the filesystem has no fixed number of inodes
    /// (btrfs, for one, reports none). Out of inodes, creating a file fails with ENOSPC
    /// however many bytes are free.
    pub inodes: Option<u64>,
}

/// The room left on the filesystem holding `path` (`statvfs`).
pub fn free_room(path: &Path) -> std::io::Result<FreeRoom> {
    let st = rustix::fs::statvfs(path)?;
    Ok(FreeRoom {
        bytes: st.f_bavail.saturating_mul(st.f_frsize),
        inodes: (st.f_files > 0).then_some(st.f_favail),
    })
}

pub type Result<T> = std::result::Result<T, StoreError>;

pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| {
        if io_is_full(&source) {
            return StoreError::Full(format!("{}: {source}", path.display()));
        }
        StoreError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Microseconds since the Unix epoch: the time stamp of every row.
pub fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS domains (
    name TEXT PRIMARY KEY,
    created INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS users (
    address TEXT PRIMARY KEY,
    domain TEXT NOT NULL REFERENCES domains(name),
    password_hash TEXT NOT NULL,
    created INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS aliases (
    alias TEXT NOT NULL,
    target TEXT NOT NULL,
    created INTEGER NOT NULL,
    PRIMARY KEY (alias, target)
);
CREATE TABLE IF NOT EXISTS messages (
    id TEXT PRIMARY KEY,
    received INTEGER NOT NULL,
    sender TEXT NOT NULL,
    size INTEGER NOT NULL,
    message_id TEXT,
    return_path_len INTEGER NOT NULL,
    client TEXT,
    released INTEGER NOT NULL DEFAULT 0
);
-- Messages small enough to keep in the database (see queue::INLINE_MAX): stored in the same
-- commit as their rows, so one WAL fsync makes them durable; larger ones are files.
CREATE TABLE IF NOT EXISTS message_bodies (
    id TEXT PRIMARY KEY,
    data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS send_as (
    user TEXT NOT NULL,
    address TEXT NOT NULL,
    created INTEGER NOT NULL,
    PRIMARY KEY (user, address)
);
CREATE TABLE IF NOT EXISTS queue (
    message TEXT NOT NULL REFERENCES messages(id),
    recipient TEXT NOT NULL,
    local INTEGER NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt INTEGER NOT NULL,
    last_reply TEXT,
    PRIMARY KEY (message, recipient)
);
CREATE INDEX IF NOT EXISTS queue_due ON queue(status, next_attempt);
CREATE TABLE IF NOT EXISTS quarantine (
    message TEXT PRIMARY KEY REFERENCES messages(id),
    held INTEGER NOT NULL,
    reason TEXT NOT NULL,
    verdicts TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS mailbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user TEXT NOT NULL,
    message TEXT NOT NULL REFERENCES messages(id),
    delivered INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS mailbox_user ON mailbox(user, id);
CREATE TABLE IF NOT EXISTS trace (
    id INTEGER PRIMARY KEY,
    ts INTEGER NOT NULL,
    session TEXT,
    queue_id TEXT,
    message_id TEXT,
    client TEXT,
    sender TEXT,
    recipient TEXT,
    event TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS trace_ts ON trace(ts);
CREATE INDEX IF NOT EXISTS trace_session ON trace(session) WHERE session IS NOT NULL;
CREATE INDEX IF NOT EXISTS trace_queue ON trace(queue_id) WHERE queue_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS trace_msgid ON trace(message_id) WHERE message_id IS NOT NULL;
-- Sender and recipient are searched case-insensitively (trace.rs): the index holds what the
-- search compares. The plain-column indexes of earlier versions served no search.
DROP INDEX IF EXISTS trace_sender;
DROP INDEX IF EXISTS trace_rcpt;
CREATE INDEX IF NOT EXISTS trace_sender_ci ON trace(lower(sender)) WHERE sender IS NOT NULL;
CREATE INDEX IF NOT EXISTS trace_rcpt_ci ON trace(lower(recipient)) WHERE recipient IS NOT NULL;
CREATE INDEX IF NOT EXISTS trace_client ON trace(client) WHERE client IS NOT NULL;
-- The console's list of releases and deletions (trace::ADMIN_EVENTS): only those rare events
-- enter this index, so the list is read directly and mail costs no index entry for it.
CREATE INDEX IF NOT EXISTS trace_admin ON trace(ts) WHERE event IN ('released', 'deleted');
"#;

/// A handle on the data directory. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    db_path: PathBuf,
    readers: Mutex<Vec<Connection>>,
}

impl Store {
    /// Opens (creating if needed) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Store> {
        Self::open_schema(dir).map_err(|e| full_or(dir, e))
    }

    fn open_schema(dir: &Path) -> Result<Store> {
        for sub in ["", "messages", "tls"] {
            let p = dir.join(sub);
            std::fs::create_dir_all(&p).map_err(io_err(&p))?;
        }
        restrict_dir(dir)?;
        let db_path = dir.join("rampart.db");
        let mut conn = open_connection(&db_path)?;
        conn.execute_batch(SCHEMA)?;
        conn.execute_batch(shared::SCHEMA)?;
        conn.execute_batch(mailbox_audit::SCHEMA)?;
        conn.execute_batch(submission::SCHEMA)?;
        mail::schema::migrate(&mut conn)?;
        tokens::migrate(&conn)?;
        conn.execute_batch(web_sessions::SCHEMA)?;
        conn.execute_batch(bans::SCHEMA)?;
        conn.execute_batch(tls_reporting::SCHEMA)?;
        conn.execute_batch(spam_tokens::SCHEMA)?;
        trusted_senders::migrate(&conn)?;
        spam_tokens::migrate(&conn)?;
        conn.execute_batch(admins::SCHEMA)?;
        conn.execute_batch(dmarc_reporting::SCHEMA)?;
        Ok(Store {
            inner: Arc::new(Inner {
                dir: dir.to_path_buf(),
                db_path,
                readers: Mutex::new(vec![conn]),
            }),
        })
    }

    pub fn db_path(&self) -> &Path {
        &self.inner.db_path
    }

    pub fn messages_dir(&self) -> PathBuf {
        self.inner.dir.join("messages")
    }

    /// Runs `f` with a pooled read connection.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = rampart_sync::lock(&self.inner.readers).pop();
        let conn = match conn {
            Some(c) => c,
            None => open_connection(&self.inner.db_path)?,
        };
        let out = f(&conn);
        {
            let mut pool = rampart_sync::lock(&self.inner.readers);
            if pool.len() < 16 {
                pool.push(conn);
            }
        }
        out
    }

    /// A connection for the administrative commands, which write outside the writer thread.
    pub(crate) fn admin_connection(&self) -> Result<Connection> {
        open_connection(&self.inner.db_path)
    }
}

pub(crate) fn open_connection(path: &Path) -> Result<Connection> {
    configure(Connection::open(path)?)
}

/// The name of the VFS the writer thread's connection opens its database with, when the
/// program registered one (the `rampart` binary does: it gathers the WAL's appends into fewer
/// system calls, `crates/rampart/src/walbuf.rs`). The library holds no unsafe code, so it only
/// asks for the VFS by name.
pub const WRITER_VFS: &str = "rampart-walbuf";

/// The writer thread's connection: [`WRITER_VFS`] when it is registered, else the default VFS,
/// as for every other connection.
pub(crate) fn open_writer_connection(path: &Path) -> Result<Connection> {
    match Connection::open_with_flags_and_vfs(path, rusqlite::OpenFlags::default(), WRITER_VFS) {
        Ok(conn) => configure(conn),
        Err(e) => {
            tracing::debug!(error = %e, vfs = WRITER_VFS, "writer opens with the default VFS");
            open_connection(path)
        }
    }
}

fn configure(conn: Connection) -> Result<Connection> {
    // Pages freed by removal go back to the file system (the checkpoint thread runs
    // `incremental_vacuum` when idle). Only a new database takes this here, before its first
    // table and before WAL writes its header; an older one is converted once at start
    // ([`checkpoint`]).
    conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
    // WAL lets the CLI read and write while the server runs; synchronous=FULL makes every commit
    // durable before it returns (the 250 after DATA depends on it).
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // The savepoint journals of the group commit stay in memory, not in a temporary file.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    Ok(conn)
}

/// The data directory holds mail and credentials: owner only.
fn restrict_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io_err(dir))
}

/// fsyncs a directory, so that entries created in it survive a crash.
pub fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(io_err(dir))
}

/// An RFC 5322 date in UTC, e.g. `Mon, 23 Nov 2026 08:53:58 +0000`.
pub fn rfc5322_date(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {} {} {} {:02}:{:02}:{:02} +0000",
        DAYS[days.rem_euclid(7) as usize],
        day,
        MONTHS[(month - 1) as usize],
        year,
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Random bytes from the operating system.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).expect("the operating system's random source is available");
    b
}
