//! Threads (RFC 8621 section 3) on PostgreSQL, by the embedded store's algorithm (see
//! `rampart_store::mail`'s threads module): an email joins the oldest thread that shares one of
//! its Message-IDs (own, In-Reply-To, References) and its normalised subject, or starts one.
//! Thread ids never change once given.

use super::changes::{record, Op};
use super::clean;
use crate::db;
use rampart_store::mail::rules::Facts;
use rampart_store::mail::Kind;
use rampart_store::Result;
use tokio_postgres::{GenericClient, Transaction};

/// Puts `email` into its thread and notes its Message-IDs for the emails that come later.
pub(crate) async fn assign(
    tx: &Transaction<'_>,
    account: &str,
    email: i64,
    f: &Facts,
) -> Result<i64> {
    let ids: Vec<String> = f
        .message_id
        .iter()
        .chain(f.refs.iter())
        .map(|s| clean(s))
        .collect();
    let subject = clean(&f.sort_subject);
    // The oldest of the candidate threads, so the choice does not depend on order.
    let found: Option<i64> = tx
        .query_one(
            "SELECT min(t.id) FROM mail_thread_refs r JOIN mail_threads t ON t.id = r.thread
             WHERE r.account = $1 AND r.message_id = ANY($2) AND t.subject = $3",
            &[&account, &ids, &subject],
        )
        .await
        .map_err(db)?
        .get(0);
    let thread = match found {
        Some(t) => {
            record(tx, account, Kind::Thread, t, Op::Updated).await?;
            // The thread's mailboxes may count one more unread thread now.
            thread_mailboxes_changed(tx, account, t, email).await?;
            t
        }
        None => {
            let t: i64 = tx
                .query_one(
                    "INSERT INTO mail_threads(account, subject) VALUES ($1, $2) RETURNING id",
                    &[&account, &subject],
                )
                .await
                .map_err(db)?
                .get(0);
            record(tx, account, Kind::Thread, t, Op::Created).await?;
            t
        }
    };
    tx.execute(
        "UPDATE mail_emails SET thread = $2 WHERE id = $1",
        &[&email, &thread],
    )
    .await
    .map_err(db)?;
    tx.execute(
        "INSERT INTO mail_thread_refs(account, message_id, thread)
         SELECT $1, m, $3 FROM unnest($2::text[]) AS m
         ON CONFLICT (account, message_id) DO NOTHING",
        &[&account, &ids, &thread],
    )
    .await
    .map_err(db)?;
    Ok(thread)
}

/// An email of `thread` was destroyed: the thread changed, or is gone with its last email.
pub(crate) async fn email_left_thread(
    tx: &Transaction<'_>,
    account: &str,
    thread: i64,
) -> Result<()> {
    let left = tx
        .query_opt(
            "SELECT 1 FROM mail_emails WHERE thread = $1 LIMIT 1",
            &[&thread],
        )
        .await
        .map_err(db)?
        .is_some();
    if left {
        record(tx, account, Kind::Thread, thread, Op::Updated).await?;
        thread_mailboxes_changed(tx, account, thread, 0).await?;
    } else {
        tx.execute("DELETE FROM mail_thread_refs WHERE thread = $1", &[&thread])
            .await
            .map_err(db)?;
        tx.execute("DELETE FROM mail_threads WHERE id = $1", &[&thread])
            .await
            .map_err(db)?;
        record(tx, account, Kind::Thread, thread, Op::Destroyed).await?;
    }
    Ok(())
}

/// Every mailbox holding an email of `thread` (other than `except`) has new unread-thread
/// counts: a changed Mailbox state (RFC 8621 section 2: unreadThreads).
pub(crate) async fn thread_mailboxes_changed(
    tx: &Transaction<'_>,
    account: &str,
    thread: i64,
    except: i64,
) -> Result<()> {
    let boxes: Vec<i64> = tx
        .query(
            "SELECT DISTINCT x.mailbox FROM mail_emails e
             JOIN mail_email_mailboxes x ON x.email = e.id WHERE e.thread = $1 AND e.id <> $2
             ORDER BY x.mailbox",
            &[&thread, &except],
        )
        .await
        .map_err(db)?
        .iter()
        .map(|r| r.get(0))
        .collect();
    for m in boxes {
        record(tx, account, Kind::Mailbox, m, Op::Updated).await?;
    }
    Ok(())
}

/// Thread/get: for each thread of `account` that exists, its email ids oldest first.
pub(crate) async fn thread_get<C: GenericClient + Sync>(
    c: &C,
    account: &str,
    ids: &[i64],
) -> Result<Vec<(i64, Vec<i64>)>> {
    let rows = c
        .query(
            "SELECT thread, id FROM mail_emails WHERE account = $1 AND thread = ANY($2)
             ORDER BY received_at, id",
            &[&account, &ids],
        )
        .await
        .map_err(db)?;
    let mut by_thread: std::collections::HashMap<i64, Vec<i64>> = Default::default();
    for r in &rows {
        by_thread
            .entry(r.get(0))
            .or_default()
            .push(r.get::<_, i64>(1));
    }
    let mut out = Vec::new();
    for t in ids {
        if let Some(emails) = by_thread.get(t) {
            out.push((*t, emails.clone()));
        }
    }
    Ok(out)
}
