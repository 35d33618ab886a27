//! The tables of the mail model, and the one-time moves into it: the `junk` column on messages,
//! the six role mailboxes for users who have none, and the rows of the old `mailbox` table.

use crate::Result;
use rusqlite::{params, Connection, OptionalExtension};

pub(crate) const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS mail_mailboxes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account TEXT NOT NULL,
    name TEXT NOT NULL,
    parent INTEGER REFERENCES mail_mailboxes(id),
    role TEXT,
    sort_order INTEGER NOT NULL DEFAULT 0,
    subscribed INTEGER NOT NULL DEFAULT 1
);
-- RFC 8621 section 2: at most one mailbox per role in an account; siblings have distinct names.
CREATE UNIQUE INDEX IF NOT EXISTS mail_mailbox_role ON mail_mailboxes(account, role)
    WHERE role IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS mail_mailbox_name ON mail_mailboxes(account, coalesce(parent, 0), name);
CREATE TABLE IF NOT EXISTS mail_threads (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account TEXT NOT NULL,
    -- The normalised subject every email of the thread shares (see threads.rs).
    subject TEXT NOT NULL
);
-- Message-IDs seen in an account (an email's own, and those it refers to), to find its thread.
CREATE TABLE IF NOT EXISTS mail_thread_refs (
    account TEXT NOT NULL,
    message_id TEXT NOT NULL,
    thread INTEGER NOT NULL REFERENCES mail_threads(id),
    PRIMARY KEY (account, message_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS mail_thread_refs_thread ON mail_thread_refs(thread);
-- One row per email of an account. `message` is the one stored copy (messages/message_bodies):
-- many emails, of one account or several, may point at it. The header facts are filled lazily
-- (`indexed` = 0 until then, see index.rs), so delivery only inserts this row.
CREATE TABLE IF NOT EXISTS mail_emails (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account TEXT NOT NULL,
    message TEXT NOT NULL REFERENCES messages(id),
    thread INTEGER REFERENCES mail_threads(id),
    received_at INTEGER NOT NULL,
    size INTEGER NOT NULL,
    indexed INTEGER NOT NULL DEFAULT 0,
    message_id TEXT,
    subject TEXT,
    sort_subject TEXT,
    from_json TEXT,
    to_json TEXT,
    cc_json TEXT,
    bcc_json TEXT,
    from_sort TEXT,
    to_sort TEXT,
    sent_at INTEGER,
    has_attachment INTEGER NOT NULL DEFAULT 0,
    preview TEXT
);
-- The default listing (newest first, a page at a time) walks this index and stops.
CREATE INDEX IF NOT EXISTS mail_emails_received ON mail_emails(account, received_at, id);
CREATE INDEX IF NOT EXISTS mail_emails_pending ON mail_emails(account) WHERE indexed = 0;
CREATE INDEX IF NOT EXISTS mail_emails_message ON mail_emails(message);
CREATE INDEX IF NOT EXISTS mail_emails_thread ON mail_emails(thread);
CREATE TABLE IF NOT EXISTS mail_email_mailboxes (
    email INTEGER NOT NULL REFERENCES mail_emails(id) ON DELETE CASCADE,
    mailbox INTEGER NOT NULL REFERENCES mail_mailboxes(id),
    PRIMARY KEY (email, mailbox)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS mail_mailbox_emails ON mail_email_mailboxes(mailbox, email);
-- Keywords in lower case (RFC 8621 section 4.1.1: they are case-insensitive).
CREATE TABLE IF NOT EXISTS mail_keywords (
    email INTEGER NOT NULL REFERENCES mail_emails(id) ON DELETE CASCADE,
    keyword TEXT NOT NULL,
    PRIMARY KEY (email, keyword)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS mail_keyword_emails ON mail_keywords(keyword, email);
-- RFC 8620 section 5.2: per account and type, a counter that is the state string, and the
-- oldest state /changes can still answer from (older change rows were pruned).
CREATE TABLE IF NOT EXISTS mail_state (
    account TEXT NOT NULL,
    kind TEXT NOT NULL,
    modseq INTEGER NOT NULL,
    oldest INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (account, kind)
) WITHOUT ROWID;
-- One row per object that changed: when it was created, last changed, and whether it is gone.
CREATE TABLE IF NOT EXISTS mail_changes (
    account TEXT NOT NULL,
    kind TEXT NOT NULL,
    id INTEGER NOT NULL,
    created INTEGER NOT NULL,
    modseq INTEGER NOT NULL,
    destroyed INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (account, kind, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS mail_changes_since ON mail_changes(account, kind, modseq);
-- RFC 8621 section 2.2 updatedProperties: the state at which each mailbox's own properties
-- (name, parent, role, order, subscription; not its counts) last changed, so that /changes can
-- tell a change of counts only.
CREATE TABLE IF NOT EXISTS mail_mailbox_props (
    mailbox INTEGER PRIMARY KEY,
    account TEXT NOT NULL,
    modseq INTEGER NOT NULL
);
-- RFC 9425: a limit in bytes per account; no row (or NULL) is no limit.
CREATE TABLE IF NOT EXISTS mail_quotas (
    account TEXT PRIMARY KEY,
    limit_bytes INTEGER
);
-- Full-text index, rowid = email id. Contentless: the text lives in the message, not twice.
CREATE VIRTUAL TABLE IF NOT EXISTS mail_fts USING fts5(
    subject, from_addr, to_addr, cc_addr, bcc_addr, body,
    content = '', contentless_delete = 1, tokenize = 'unicode61 remove_diacritics 2'
);
"#;

/// The roles of RFC 8621 section 2 that every account is given, with their mailbox names, in
/// the order they are listed.
pub const ROLES: [(&str, &str); 6] = [
    ("inbox", "Inbox"),
    ("drafts", "Drafts"),
    ("sent", "Sent"),
    ("archive", "Archive"),
    ("junk", "Junk"),
    ("trash", "Trash"),
];

/// Creates the tables and runs the one-time moves. Idempotent: run at every open.
///
/// Every open (the CLI's too, while the server writes) only reads unless there is something to
/// move: a write transaction then begins IMMEDIATE, so it waits its turn for the lock instead of
/// failing on a snapshot the server's commits made stale.
pub(crate) fn migrate(conn: &mut Connection) -> Result<()> {
    conn.execute_batch(SCHEMA)?;
    conn.execute_batch(super::blobs::SCHEMA)?;
    if !needs_moving(conn)? {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    add_junk_column(&tx)?;
    let users: Vec<String> = {
        let mut st = tx.prepare("SELECT lower(address) FROM users")?;
        let rows = st.query_map([], |r| r.get(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for u in &users {
        ensure_mailboxes(&tx, u)?;
    }
    move_old_mailbox_rows(&tx)?;
    tx.commit()?;
    Ok(())
}

/// True when a one-time move is due: no `junk` column yet, rows in the old `mailbox` table, or
/// a user without mailboxes.
fn needs_moving(conn: &Connection) -> Result<bool> {
    Ok(conn
        .prepare(
            "SELECT NOT EXISTS (SELECT 1 FROM pragma_table_info('messages') WHERE name = 'junk')
                 OR EXISTS (SELECT 1 FROM mailbox)
                 OR EXISTS (SELECT 1 FROM users u WHERE NOT EXISTS
                     (SELECT 1 FROM mail_mailboxes m WHERE m.account = lower(u.address)))",
        )?
        .query_row([], |r| r.get(0))?)
}

/// `messages.junk`: the gateway tagged the message as spam, so local delivery files it in Junk.
/// Older databases lack the column.
fn add_junk_column(conn: &Connection) -> Result<()> {
    let has: bool = conn
        .prepare("SELECT 1 FROM pragma_table_info('messages') WHERE name = 'junk'")?
        .exists([])?;
    if !has {
        conn.execute_batch("ALTER TABLE messages ADD COLUMN junk INTEGER NOT NULL DEFAULT 0")?;
    }
    Ok(())
}

/// Gives `account` the six role mailboxes when it has no mailbox at all (a new user, or one from
/// before the mail model). An account that has mailboxes keeps what its owner made of them.
pub(crate) fn ensure_mailboxes(conn: &Connection, account: &str) -> Result<()> {
    let any = conn
        .prepare_cached("SELECT 1 FROM mail_mailboxes WHERE account = ?1 LIMIT 1")?
        .exists([account])?;
    if any {
        return Ok(());
    }
    let mut ins = conn.prepare_cached(
        "INSERT INTO mail_mailboxes(account, name, role, sort_order) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for (i, (role, name)) in ROLES.iter().enumerate() {
        ins.execute(params![account, name, role, i as i64])?;
        let id = conn.last_insert_rowid();
        super::changes::record(conn, account, super::Kind::Mailbox, id, super::Op::Created)?;
    }
    Ok(())
}

/// [`ensure_mailboxes`] in a transaction of its own, for a connection outside the writer (the
/// administrative commands): all six or none.
pub(crate) fn ensure_mailboxes_now(conn: &Connection, account: &str) -> Result<()> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    match ensure_mailboxes(conn, account) {
        Ok(()) => Ok(conn.execute_batch("COMMIT")?),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

/// The mailbox of `account` with `role`, if there is one.
pub(crate) fn role_mailbox(conn: &Connection, account: &str, role: &str) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached("SELECT id FROM mail_mailboxes WHERE account = ?1 AND role = ?2")?
        .query_row([account, role], |r| r.get(0))
        .optional()?)
}

/// Moves the rows of the old one-list-per-user `mailbox` table into each user's Inbox, keeping
/// their ids (so `rampart mailbox show USER ID` names the same message), and empties it. Run at
/// every open; a no-op once the old table is empty.
fn move_old_mailbox_rows(conn: &Connection) -> Result<()> {
    let rows: Vec<(i64, String, String, i64, i64)> = {
        let mut st = conn.prepare(
            "SELECT b.id, b.user, b.message, b.delivered, m.size
             FROM mailbox b JOIN messages m ON m.id = b.message ORDER BY b.id",
        )?;
        let rows = st.query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for (old_id, user, message, delivered, size) in rows {
        ensure_mailboxes(conn, &user)?;
        // Keep the id unless a newer email took it already.
        let taken = conn
            .prepare_cached("SELECT 1 FROM mail_emails WHERE id = ?1")?
            .exists([old_id])?;
        let id = (!taken).then_some(old_id);
        let inbox = role_mailbox(conn, &user, "inbox")?.ok_or_else(|| {
            crate::StoreError::Invalid(format!("{user} has mailboxes but no Inbox"))
        })?;
        let email = super::emails::insert_email(conn, id, &user, &message, delivered, size)?;
        super::emails::add_to_mailbox(conn, &user, email, inbox)?;
    }
    conn.execute_batch("DELETE FROM mailbox")?;
    Ok(())
}
