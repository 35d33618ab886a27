//! Lazy indexing: the header facts, the thread and the full-text entry of emails delivered
//! since the last read. Parsing happens outside the writer; only the results go through it.

use super::emails::EmailAddress;
use super::{account_key, write, MailResult};
use crate::{QueueId, Result, Store, Writer};
use rusqlite::{params, Connection};

/// Longest preview kept (RFC 8621 section 4.1.4: up to 256 characters).
const PREVIEW_CHARS: usize = 256;
/// Emails indexed per commit, so one account's backlog does not hold the writer long.
pub const INDEX_BATCH: usize = 200;

/// What the sorts, filters and threads need from a message, parsed once.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub message_id: Option<String>,
    /// In-Reply-To and References, in that order.
    pub refs: Vec<String>,
    pub subject: Option<String>,
    /// Subject without Re:/Fwd: prefixes and list tags, lower case: for threads and sorting.
    pub sort_subject: String,
    pub from: Vec<EmailAddress>,
    pub to: Vec<EmailAddress>,
    pub cc: Vec<EmailAddress>,
    pub bcc: Vec<EmailAddress>,
    pub sent_at: Option<i64>,
    pub has_attachment: bool,
    pub preview: Option<String>,
    /// Every text part, for the search index.
    pub text: String,
}

fn addresses(a: Option<&mail_parser::Address<'_>>) -> Vec<EmailAddress> {
    a.map(|a| {
        a.iter()
            .filter_map(|x| {
                Some(EmailAddress {
                    name: x.name().map(str::to_string),
                    email: x.address()?.to_string(),
                })
            })
            .collect()
    })
    .unwrap_or_default()
}

/// RFC 8621 section 4.4.2: the sort key of an address list is the first address's name, or
/// its email when it has none.
pub fn address_sort(list: &[EmailAddress]) -> Option<String> {
    list.first()
        .map(|a| a.name.as_deref().unwrap_or(&a.email).to_lowercase())
}

/// The text the search index holds for an address list: names and addresses.
pub fn address_text(list: &[EmailAddress]) -> String {
    list.iter()
        .map(|a| match &a.name {
            Some(n) => format!("{n} {}", a.email),
            None => a.email.clone(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl Facts {
    /// Parses a message (Return-Path line included or not: it is a header like any other).
    /// A message the parser cannot read at all has no facts, and is still an email.
    pub fn parse(raw: &[u8]) -> Facts {
        let Some(m) = mail_parser::MessageParser::default().parse(raw) else {
            return Facts::default();
        };
        let list = |v: &mail_parser::HeaderValue<'_>| -> Vec<String> {
            v.as_text_list()
                .map(|l| l.iter().map(|s| s.to_string()).collect())
                .unwrap_or_default()
        };
        let mut refs = list(m.in_reply_to());
        refs.extend(list(m.references()));
        let text = (0..m.text_body_count())
            .filter_map(|i| m.body_text(i).map(|t| t.into_owned()))
            .collect::<Vec<_>>()
            .join("\n");
        let preview = m
            .body_preview(PREVIEW_CHARS)
            .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
            .map(|p| p.chars().take(PREVIEW_CHARS).collect());
        Facts {
            message_id: m.message_id().map(str::to_string),
            refs,
            subject: m.subject().map(str::to_string),
            sort_subject: m.thread_name().unwrap_or("").trim().to_lowercase(),
            from: addresses(m.from()),
            to: addresses(m.to()),
            cc: addresses(m.cc()),
            bcc: addresses(m.bcc()),
            sent_at: m.date().map(|d| d.to_timestamp()),
            has_attachment: m.attachment_count() > 0,
            preview,
            text,
        }
    }
}

/// Writes the facts of `email`, puts it in its thread and the search index, and marks it
/// indexed. Inside the writer's transaction.
pub(crate) fn store_facts(conn: &Connection, account: &str, email: i64, f: &Facts) -> Result<()> {
    let json = |l: &[EmailAddress]| serde_json::to_string(l).unwrap_or_else(|_| "[]".into());
    conn.prepare_cached(
        "UPDATE mail_emails SET indexed = 1, message_id = ?2, subject = ?3, sort_subject = ?4,
             from_json = ?5, to_json = ?6, cc_json = ?7, bcc_json = ?8, from_sort = ?9,
             to_sort = ?10, sent_at = ?11, has_attachment = ?12, preview = ?13
         WHERE id = ?1",
    )?
    .execute(params![
        email,
        f.message_id,
        f.subject,
        f.sort_subject,
        json(&f.from),
        json(&f.to),
        json(&f.cc),
        json(&f.bcc),
        address_sort(&f.from),
        address_sort(&f.to),
        f.sent_at,
        f.has_attachment,
        f.preview
    ])?;
    conn.prepare_cached(
        "INSERT INTO mail_fts(rowid, subject, from_addr, to_addr, cc_addr, bcc_addr, body)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        email,
        f.subject.as_deref().unwrap_or(""),
        address_text(&f.from),
        address_text(&f.to),
        address_text(&f.cc),
        address_text(&f.bcc),
        f.text
    ])?;
    super::threads::assign(conn, account, email, f)?;
    Ok(())
}

impl Store {
    /// Indexes the emails of `account` that are not yet: parses them here, then writes their
    /// facts, threads and search entries through the writer. The JMAP layer calls this before
    /// answering a read for the account. Returns how many were indexed.
    pub async fn index_pending(&self, writer: &Writer, account: &str) -> MailResult<usize> {
        let account = account_key(account);
        let mut total = 0;
        loop {
            let pending: Vec<(i64, String)> = self.read(|c| {
                let mut st = c.prepare_cached(
                    "SELECT id, message FROM mail_emails WHERE account = ?1 AND indexed = 0
                     ORDER BY id LIMIT ?2",
                )?;
                let rows = st.query_map(params![account, INDEX_BATCH as i64], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?;
                Ok(rows.collect::<rusqlite::Result<_>>()?)
            })?;
            if pending.is_empty() {
                return Ok(total);
            }
            let store = self.clone();
            let n = pending.len();
            let parsed = tokio::task::spawn_blocking(move || -> Vec<(i64, Facts)> {
                pending
                    .into_iter()
                    // A message that cannot be read now (its email destroyed meanwhile) is
                    // skipped; if its email remains, the next call tries again.
                    .filter_map(|(id, message)| {
                        let raw = store.message_bytes(&QueueId(message), false).ok()?;
                        Some((id, Facts::parse(&raw)))
                    })
                    .collect()
            })
            .await
            .map_err(|e| crate::StoreError::Invalid(e.to_string()))?;
            let acct = account.clone();
            write(writer, false, move |tx| {
                for (id, facts) in &parsed {
                    // Destroyed or indexed since it was read: nothing to do.
                    let still = tx
                        .prepare_cached("SELECT 1 FROM mail_emails WHERE id = ?1 AND indexed = 0")?
                        .exists([id])?;
                    if still {
                        store_facts(tx, &acct, *id, facts)?;
                    }
                }
                Ok(())
            })
            .await?;
            total += n;
            if n < INDEX_BATCH {
                return Ok(total);
            }
        }
    }
}
