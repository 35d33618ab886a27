//! The schema, in versioned steps. `schema_version` holds the version the database is at; at
//! start (and with `rampart store migrate`) every later step runs, each in its own transaction
//! with its version row, so a step is applied wholly or not at all. An advisory lock makes
//! nodes that start together apply each step once.
//!
//! A step is never edited once released: a change to the schema is a new step at the end.

use crate::db;
use rampart_store::{Result, StoreError};

/// Times are microseconds since the epoch (BIGINT), as in the embedded store, so rows move
/// between the two unchanged (`rampart store migrate-from-sqlite`).
pub const MIGRATIONS: &[(i32, &str, &str)] = &[
    (
        1,
        "directory: domains, users, aliases, send-as grants, mailbox grants",
        r#"
CREATE TABLE domains (
    name TEXT PRIMARY KEY,
    created BIGINT NOT NULL
);
CREATE TABLE users (
    address TEXT PRIMARY KEY,
    domain TEXT NOT NULL REFERENCES domains(name),
    password_hash TEXT NOT NULL,
    created BIGINT NOT NULL,
    disabled BOOLEAN NOT NULL DEFAULT false
);
CREATE TABLE aliases (
    alias TEXT NOT NULL,
    target TEXT NOT NULL,
    created BIGINT NOT NULL,
    PRIMARY KEY (alias, target)
);
CREATE TABLE send_as (
    "user" TEXT NOT NULL,
    address TEXT NOT NULL,
    created BIGINT NOT NULL,
    PRIMARY KEY ("user", address)
);
CREATE TABLE mailbox_grants (
    owner TEXT NOT NULL,
    delegate TEXT NOT NULL,
    rights TEXT NOT NULL,
    created BIGINT NOT NULL,
    PRIMARY KEY (owner, delegate)
);
CREATE INDEX mailbox_grants_delegate ON mailbox_grants(delegate);
"#,
    ),
    (
        2,
        "shared state: rate-limit counters, authentication failures, bans",
        r#"
CREATE TABLE rate_counters (
    key TEXT PRIMARY KEY,
    window_start BIGINT NOT NULL,
    count BIGINT NOT NULL
);
CREATE TABLE auth_failures (
    key TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX auth_failures_key ON auth_failures(key, at);
CREATE TABLE bans (
    subject TEXT PRIMARY KEY,
    since BIGINT NOT NULL,
    until BIGINT NOT NULL,
    reason TEXT NOT NULL
);
"#,
    ),
    (
        3,
        "message trace (AL-3.1)",
        r#"
CREATE TABLE trace (
    id BIGSERIAL PRIMARY KEY,
    ts BIGINT NOT NULL,
    session TEXT,
    queue_id TEXT,
    message_id TEXT,
    client TEXT,
    sender TEXT,
    recipient TEXT,
    event TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX trace_ts ON trace(ts);
CREATE INDEX trace_session ON trace(session) WHERE session IS NOT NULL;
CREATE INDEX trace_queue ON trace(queue_id) WHERE queue_id IS NOT NULL;
CREATE INDEX trace_msgid ON trace(message_id) WHERE message_id IS NOT NULL;
CREATE INDEX trace_sender ON trace(lower(sender)) WHERE sender IS NOT NULL;
CREATE INDEX trace_rcpt ON trace(lower(recipient)) WHERE recipient IS NOT NULL;
CREATE INDEX trace_client ON trace(client) WHERE client IS NOT NULL;
"#,
    ),
    (
        4,
        "intrusion prevention: network bans, allow-list, IDS log, generation (NC-2.4.2)",
        r#"
CREATE TABLE ids_bans (
    network TEXT PRIMARY KEY,
    reason TEXT NOT NULL,
    detector TEXT NOT NULL,
    evidence TEXT NOT NULL,
    created BIGINT NOT NULL,
    expires BIGINT,
    repeats INTEGER NOT NULL
);
CREATE TABLE ids_allow (
    network TEXT PRIMARY KEY,
    note TEXT NOT NULL,
    created BIGINT NOT NULL
);
CREATE TABLE ids_events (
    id BIGSERIAL PRIMARY KEY,
    ts BIGINT NOT NULL,
    network TEXT NOT NULL,
    event TEXT NOT NULL,
    detector TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX ids_events_ts ON ids_events(ts);
CREATE TABLE ids_generation (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    generation BIGINT NOT NULL
);
INSERT INTO ids_generation(id, generation) VALUES (1, 0);
"#,
    ),
    (
        5,
        "webmail sign-in sessions (AL-4.1)",
        r#"
CREATE TABLE web_sessions (
    hash TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    created BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    client TEXT,
    user_agent TEXT
);
CREATE INDEX web_sessions_account ON web_sessions(account);
"#,
    ),
    (
        6,
        "access tokens (JMAP and submission logins beside the password)",
        r#"
CREATE TABLE access_tokens (
    id TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    name TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    scopes TEXT NOT NULL,
    created BIGINT NOT NULL,
    expires BIGINT,
    last_used BIGINT
);
CREATE INDEX access_tokens_account ON access_tokens(account);
"#,
    ),
    (
        7,
        "spam classifier: lessons and token counts per scope (AL-1.2)",
        r#"
CREATE TABLE spam_lessons (
    scope TEXT NOT NULL,
    digest BYTEA NOT NULL,
    spam BOOLEAN NOT NULL,
    tokens BYTEA NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (scope, digest)
);
CREATE TABLE spam_tokens (
    scope TEXT NOT NULL,
    token BIGINT NOT NULL,
    spam BIGINT NOT NULL,
    ham BIGINT NOT NULL,
    PRIMARY KEY (scope, token)
);
"#,
    ),
    (
        8,
        "MTA-STS policy cache and TLS reporting (RFC 8461, RFC 8460)",
        r#"
CREATE TABLE mta_sts_policies (
    domain TEXT PRIMARY KEY,
    id TEXT NOT NULL,
    policy TEXT NOT NULL,
    fetched BIGINT NOT NULL,
    expires BIGINT NOT NULL
);
CREATE TABLE tls_outcomes (
    day BIGINT NOT NULL,
    policy_domain TEXT NOT NULL,
    policy_type TEXT NOT NULL,
    policy_strings TEXT NOT NULL,
    mx_host TEXT NOT NULL,
    result_type TEXT NOT NULL,
    receiving_ip TEXT NOT NULL,
    reason TEXT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (day, policy_domain, policy_type, policy_strings, mx_host, result_type,
                 receiving_ip, reason)
);
CREATE TABLE tls_reports_received (
    id BIGSERIAL PRIMARY KEY,
    received BIGINT NOT NULL,
    sender TEXT NOT NULL,
    organization TEXT NOT NULL,
    report_id TEXT NOT NULL,
    start BIGINT NOT NULL,
    "end" BIGINT NOT NULL,
    json TEXT NOT NULL
);
CREATE TABLE tls_reports_sent (
    day BIGINT NOT NULL,
    policy_domain TEXT NOT NULL,
    rua TEXT NOT NULL,
    report_id TEXT NOT NULL,
    sent BIGINT NOT NULL,
    PRIMARY KEY (day, policy_domain, rua)
);
"#,
    ),
    (
        9,
        "DMARC evaluations and received aggregate reports (AL-2.3, AL-3.2)",
        r#"
CREATE TABLE dmarc_evaluations (
    id BIGSERIAL PRIMARY KEY,
    at BIGINT NOT NULL,
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
CREATE INDEX dmarc_evaluations_at ON dmarc_evaluations(at);
-- "end" quoted: a reserved word in PostgreSQL; the names are SQLite's, so rows move unchanged.
CREATE TABLE dmarc_reports_received (
    id BIGSERIAL PRIMARY KEY,
    received BIGINT NOT NULL,
    sender TEXT NOT NULL,
    organization TEXT NOT NULL,
    report_id TEXT NOT NULL,
    domain TEXT NOT NULL,
    begin BIGINT NOT NULL,
    "end" BIGINT NOT NULL,
    json TEXT NOT NULL,
    UNIQUE (sender, report_id)
);
"#,
    ),
    (
        10,
        "messages and their bodies, the queue, quarantine and the mail model (shared tables)",
        r#"
-- One row per received or generated message, whichever recipients (queue rows, mailbox emails,
-- quarantine) still need it; the body goes with the last of them. Columns as in SQLite.
CREATE TABLE messages (
    id TEXT PRIMARY KEY,
    received BIGINT NOT NULL,
    sender TEXT NOT NULL,
    size BIGINT NOT NULL,
    message_id TEXT,
    return_path_len BIGINT NOT NULL,
    client TEXT,
    released BOOLEAN NOT NULL DEFAULT false,
    junk BOOLEAN NOT NULL DEFAULT false
);
-- Every body is in the database (docs/SCALING.md: one commit makes message and rows durable).
-- STORAGE EXTERNAL: mail is mostly incompressible or already small; no compression on the
-- commit path.
CREATE TABLE message_bodies (
    id TEXT PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
    data BYTEA NOT NULL
);
ALTER TABLE message_bodies ALTER COLUMN data SET STORAGE EXTERNAL;
-- One row per (message, recipient), as in SQLite; the queue's leases (which node attempts a
-- message now) are the queue module's own step.
CREATE TABLE queue (
    message TEXT NOT NULL REFERENCES messages(id),
    recipient TEXT NOT NULL,
    local BOOLEAN NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt BIGINT NOT NULL,
    last_reply TEXT,
    PRIMARY KEY (message, recipient)
);
CREATE INDEX queue_due ON queue(status, next_attempt);
CREATE TABLE quarantine (
    message TEXT PRIMARY KEY REFERENCES messages(id),
    held BIGINT NOT NULL,
    reason TEXT NOT NULL,
    verdicts TEXT NOT NULL
);
-- The mail model of JMAP (RFC 8621), table for table as in SQLite (crates/rampart-store/src/mail/
-- schema.rs); full-text search is the mail module's own step.
CREATE TABLE mail_mailboxes (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account TEXT NOT NULL,
    name TEXT NOT NULL,
    parent BIGINT REFERENCES mail_mailboxes(id),
    role TEXT,
    sort_order BIGINT NOT NULL DEFAULT 0,
    subscribed BOOLEAN NOT NULL DEFAULT true
);
CREATE UNIQUE INDEX mail_mailbox_role ON mail_mailboxes(account, role) WHERE role IS NOT NULL;
CREATE UNIQUE INDEX mail_mailbox_name ON mail_mailboxes(account, coalesce(parent, 0), name);
CREATE TABLE mail_threads (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account TEXT NOT NULL,
    subject TEXT NOT NULL
);
CREATE TABLE mail_thread_refs (
    account TEXT NOT NULL,
    message_id TEXT NOT NULL,
    thread BIGINT NOT NULL REFERENCES mail_threads(id),
    PRIMARY KEY (account, message_id)
);
CREATE INDEX mail_thread_refs_thread ON mail_thread_refs(thread);
CREATE TABLE mail_emails (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account TEXT NOT NULL,
    message TEXT NOT NULL REFERENCES messages(id),
    thread BIGINT REFERENCES mail_threads(id),
    received_at BIGINT NOT NULL,
    size BIGINT NOT NULL,
    indexed BOOLEAN NOT NULL DEFAULT false,
    message_id TEXT,
    subject TEXT,
    sort_subject TEXT,
    from_json TEXT,
    to_json TEXT,
    cc_json TEXT,
    bcc_json TEXT,
    from_sort TEXT,
    to_sort TEXT,
    sent_at BIGINT,
    has_attachment BOOLEAN NOT NULL DEFAULT false,
    preview TEXT
);
CREATE INDEX mail_emails_received ON mail_emails(account, received_at, id);
CREATE INDEX mail_emails_pending ON mail_emails(account) WHERE NOT indexed;
CREATE INDEX mail_emails_message ON mail_emails(message);
CREATE INDEX mail_emails_thread ON mail_emails(thread);
CREATE TABLE mail_email_mailboxes (
    email BIGINT NOT NULL REFERENCES mail_emails(id) ON DELETE CASCADE,
    mailbox BIGINT NOT NULL REFERENCES mail_mailboxes(id),
    PRIMARY KEY (email, mailbox)
);
CREATE INDEX mail_mailbox_emails ON mail_email_mailboxes(mailbox, email);
CREATE TABLE mail_keywords (
    email BIGINT NOT NULL REFERENCES mail_emails(id) ON DELETE CASCADE,
    keyword TEXT NOT NULL,
    PRIMARY KEY (email, keyword)
);
CREATE INDEX mail_keyword_emails ON mail_keywords(keyword, email);
CREATE TABLE mail_state (
    account TEXT NOT NULL,
    kind TEXT NOT NULL,
    modseq BIGINT NOT NULL,
    oldest BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (account, kind)
);
CREATE TABLE mail_changes (
    account TEXT NOT NULL,
    kind TEXT NOT NULL,
    id BIGINT NOT NULL,
    created BIGINT NOT NULL,
    modseq BIGINT NOT NULL,
    destroyed BOOLEAN NOT NULL DEFAULT false,
    PRIMARY KEY (account, kind, id)
);
CREATE INDEX mail_changes_since ON mail_changes(account, kind, modseq);
CREATE TABLE mail_mailbox_props (
    mailbox BIGINT PRIMARY KEY,
    account TEXT NOT NULL,
    modseq BIGINT NOT NULL
);
CREATE TABLE mail_quotas (
    account TEXT PRIMARY KEY,
    limit_bytes BIGINT
);
"#,
    ),
    (
        11,
        "mail: full-text search, uploads, and when each account's mail last changed (push)",
        r#"
-- Full-text search (the embedded store's FTS5 table mail_fts): one row per indexed email, a
-- tsvector per searchable field in the 'simple' configuration (no stemming, no stop words). The
-- text is folded in Rust before it gets here (lower case, diacritics removed, punctuation as
-- spaces: see src/mail/search.rs), as FTS5's unicode61 tokenizer with remove_diacritics does;
-- PostgreSQL's unaccent is an extension, which this schema does not require.
CREATE TABLE mail_search (
    email BIGINT PRIMARY KEY REFERENCES mail_emails(id) ON DELETE CASCADE,
    account TEXT NOT NULL,
    subject TSVECTOR NOT NULL,
    from_addr TSVECTOR NOT NULL,
    to_addr TSVECTOR NOT NULL,
    cc_addr TSVECTOR NOT NULL,
    bcc_addr TSVECTOR NOT NULL,
    body TSVECTOR NOT NULL
);
CREATE INDEX mail_search_account ON mail_search(account);
CREATE INDEX mail_search_body ON mail_search USING GIN (body);
-- Uploaded blobs (RFC 8620 section 6.1), as in SQLite (crates/rampart-store/src/mail/blobs.rs).
CREATE TABLE mail_uploads (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    created BIGINT NOT NULL,
    expires BIGINT NOT NULL,
    data BYTEA NOT NULL
);
CREATE INDEX mail_uploads_account ON mail_uploads(account, expires);
ALTER TABLE mail_uploads ALTER COLUMN data SET STORAGE EXTERNAL;
-- The database's clock (microseconds) at the last change of each (account, kind): a node whose
-- LISTEN connection dropped tells its push clients about every account changed meanwhile.
ALTER TABLE mail_state ADD COLUMN touched BIGINT NOT NULL DEFAULT 0;
CREATE INDEX mail_state_touched ON mail_state(touched);
"#,
    ),
    (
        12,
        "queue leases, the mailbox audit, identities, submissions and the vacation response",
        r#"
-- Queue leases (docs/SCALING.md): which node attempts a queued recipient now, and until when
-- (microseconds since the epoch); NULL when no node does. A lease that ran out is free again.
ALTER TABLE queue ADD COLUMN lease_owner TEXT, ADD COLUMN lease_until BIGINT;
CREATE INDEX queue_lease ON queue(lease_owner) WHERE lease_owner IS NOT NULL;
-- The mailbox audit (AL-3.1), columns as in SQLite.
CREATE TABLE mailbox_audit (
    id BIGSERIAL PRIMARY KEY,
    ts BIGINT NOT NULL,
    account TEXT NOT NULL,
    actor TEXT NOT NULL,
    actor_kind TEXT NOT NULL,
    service TEXT NOT NULL,
    operation TEXT NOT NULL,
    client TEXT,
    user_agent TEXT,
    location TEXT,
    detail TEXT NOT NULL
);
CREATE INDEX mailbox_audit_account ON mailbox_audit(account, ts);
CREATE INDEX mailbox_audit_ts ON mailbox_audit(ts);
-- What sending over JMAP keeps (RFC 8621 sections 6-8), table for table as in SQLite.
CREATE TABLE sub_identities (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account TEXT NOT NULL,
    email TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    reply_to TEXT,
    bcc TEXT,
    text_signature TEXT NOT NULL DEFAULT '',
    html_signature TEXT NOT NULL DEFAULT '',
    may_delete BOOLEAN NOT NULL,
    created_state BIGINT NOT NULL,
    updated_state BIGINT NOT NULL,
    destroyed_state BIGINT
);
CREATE INDEX sub_identities_account ON sub_identities(account, updated_state);
-- One undeletable identity per account, however many nodes make it at once.
CREATE UNIQUE INDEX sub_identities_own ON sub_identities(account) WHERE NOT may_delete;
CREATE TABLE sub_submissions (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account TEXT NOT NULL,
    identity BIGINT NOT NULL,
    email BIGINT NOT NULL,
    thread BIGINT,
    envelope TEXT NOT NULL,
    send_at BIGINT NOT NULL,
    queue_id TEXT NOT NULL,
    recipients TEXT NOT NULL,
    created_state BIGINT NOT NULL,
    updated_state BIGINT NOT NULL,
    destroyed_state BIGINT
);
CREATE INDEX sub_submissions_account ON sub_submissions(account, updated_state);
CREATE TABLE sub_state (
    account TEXT NOT NULL,
    kind TEXT NOT NULL,
    state BIGINT NOT NULL,
    PRIMARY KEY (account, kind)
);
CREATE TABLE sub_vacation (
    account TEXT PRIMARY KEY,
    is_enabled BOOLEAN NOT NULL,
    from_date BIGINT,
    to_date BIGINT,
    subject TEXT,
    text_body TEXT,
    html_body TEXT
);
CREATE TABLE sub_vacation_replied (
    account TEXT NOT NULL,
    sender TEXT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (account, sender)
);
"#,
    ),
    (
        13,
        "DKIM signing keys shared by every node",
        r#"
-- DKIM signing keys (AL-2.2; src/dkim.rs): a key generated with one node's command line signs
-- the mail of every node. One key per (domain, selector), since a selector is one DNS record.
-- The private key is PEM text (PKCS#1 for RSA, PKCS#8 for Ed25519): whoever can read this table
-- (the database role of [store] url, and the database's superusers) can sign as the domain.
CREATE TABLE dkim_keys (
    domain TEXT NOT NULL,
    selector TEXT NOT NULL,
    algorithm TEXT NOT NULL CHECK (algorithm IN ('rsa', 'ed25519')),
    private_key_pem TEXT NOT NULL,
    created BIGINT NOT NULL,
    PRIMARY KEY (domain, selector)
);
"#,
    ),
    (
        14,
        "the scheduled system reports already sent",
        r#"
-- AL-3.2: one row per report period mailed; the first node to insert it sends it.
CREATE TABLE system_reports_sent (
    period TEXT NOT NULL,
    until BIGINT NOT NULL,
    sent BIGINT NOT NULL,
    PRIMARY KEY (period, until)
);
"#,
    ),
    (
        15,
        "the console's administrators and their sessions",
        r#"
-- The administration console (src/admins.rs): accounts apart from mail users, each with an
-- Argon2id hash, a TOTP secret (base32) and the last step a code was accepted for (RFC 6238
-- section 5.2: a code is used once, on whichever node); sessions as the SHA-256 of their token,
-- so a session made on one node is valid on every node.
CREATE TABLE admins (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    totp_secret TEXT NOT NULL,
    totp_last_step BIGINT NOT NULL DEFAULT 0,
    disabled BOOLEAN NOT NULL DEFAULT false,
    created BIGINT NOT NULL
);
CREATE TABLE admin_sessions (
    hash TEXT PRIMARY KEY,
    admin TEXT NOT NULL REFERENCES admins(name) ON DELETE CASCADE,
    created BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    client TEXT
);
CREATE INDEX admin_sessions_admin ON admin_sessions(admin);
"#,
    ),
    (
        16,
        "the senders each user trusts, and the authenticated From of each message",
        r#"
-- AL-1.2 (rampart_store::trusted_senders): a user who moves a message out of Junk trusts its
-- From when that From's domain was authenticated on arrival; tagged mail from a trusted
-- authenticated From is then delivered to that user's Inbox.
ALTER TABLE messages ADD COLUMN authenticated_from TEXT;
CREATE TABLE spam_trusted_senders (
    account TEXT NOT NULL,
    address TEXT NOT NULL,
    added BIGINT NOT NULL,
    PRIMARY KEY (account, address)
);
"#,
    ),
    (
        17,
        "an index of the administrators' releases and deletions in the trace",
        r#"
-- The console's list of releases and deletions (rampart_store::trace::ADMIN_EVENTS): only those
-- rare events enter this index, so the list is read directly and mail costs no index entry.
CREATE INDEX trace_admin ON trace(ts) WHERE event IN ('released', 'deleted');
"#,
    ),
    (
        18,
        "a weight for each spam lesson (trained again until no errors)",
        r#"
-- How many times a lesson is counted: 1, or more when `rampart spam train` trained the message
-- again (rampart_store::spam_tokens). Earlier lessons counted once.
ALTER TABLE spam_lessons ADD COLUMN weight INTEGER NOT NULL DEFAULT 1;
"#,
    ),
];

/// The key of the advisory lock held while migrating (any constant of our own).
const MIGRATION_LOCK: i64 = 0x7261_6d70_6172_7401;

/// What [`apply`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub from: i32,
    pub to: i32,
    /// (version, description) of each step applied.
    pub steps: Vec<(i32, String)>,
}

/// The version the database is at; 0 for an empty database.
pub async fn current(conn: &tokio_postgres::Client) -> Result<i32> {
    let exists: bool = conn
        .query_one("SELECT to_regclass('schema_version') IS NOT NULL", &[])
        .await
        .map_err(db)?
        .get(0);
    if !exists {
        return Ok(0);
    }
    let v: Option<i32> = conn
        .query_one("SELECT max(version) FROM schema_version", &[])
        .await
        .map_err(db)?
        .get(0);
    Ok(v.unwrap_or(0))
}

/// Applies every step after the database's version, each in one transaction.
pub async fn apply(conn: &mut tokio_postgres::Client) -> Result<Applied> {
    {
        // Under the lock: two nodes creating the table at once would collide.
        let tx = conn.transaction().await.map_err(db)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(db)?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_version (
                 version INTEGER PRIMARY KEY,
                 description TEXT NOT NULL,
                 applied BIGINT NOT NULL
             )",
        )
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
    }
    let from = current(conn).await?;
    let latest = MIGRATIONS.last().map(|m| m.0).unwrap_or(0);
    if from > latest {
        return Err(StoreError::Invalid(format!(
            "the database's schema is at version {from}, newer than this Rampart knows \
             ({latest}); run the newer Rampart, or restore a matching backup"
        )));
    }
    let mut steps = Vec::new();
    for (version, description, sql) in MIGRATIONS {
        let tx = conn.transaction().await.map_err(db)?;
        // Another node may be migrating: wait for it, then see what it did.
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(db)?;
        let done: bool = tx
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM schema_version WHERE version = $1)",
                &[version],
            )
            .await
            .map_err(db)?
            .get(0);
        if done {
            continue;
        }
        tx.batch_execute(sql).await.map_err(|e| {
            StoreError::Db(format!(
                "schema step {version} ({description}) failed: {}",
                db(e)
            ))
        })?;
        tx.execute(
            "INSERT INTO schema_version(version, description, applied) VALUES ($1, $2, $3)",
            &[version, description, &rampart_store::now_micros()],
        )
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        tracing::info!(version, description, "database schema step applied");
        steps.push((*version, description.to_string()));
    }
    Ok(Applied {
        from,
        to: current(conn).await?,
        steps,
    })
}
