//! Lazy indexing on PostgreSQL: the header facts, the thread and the search entry of emails
//! delivered since the last read, as the embedded store's `index_pending`. The parsing is
//! `rampart_store::mail::rules::Facts::parse`, outside any transaction; only the results are
//! written, under the account's lock, skipping what another node indexed meanwhile.

use super::search::fold;
use super::{clean, lock_account, mdb, message_bytes};
use crate::{db, PgStore};
use rampart_store::mail::rules::{address_sort, address_text, Facts, INDEX_BATCH};
use rampart_store::mail::{EmailAddress, MailResult};
use rampart_store::Result;
use tokio_postgres::Transaction;

/// Writes the facts of `email`, puts it in its thread and the search index, marks it indexed.
pub(crate) async fn store_facts(
    tx: &Transaction<'_>,
    account: &str,
    email: i64,
    f: &Facts,
) -> Result<()> {
    let json = |l: &[EmailAddress]| serde_json::to_string(l).unwrap_or_else(|_| "[]".into());
    let opt = |s: &Option<String>| s.as_deref().map(clean);
    tx.execute(
        "UPDATE mail_emails SET indexed = true, message_id = $2, subject = $3, sort_subject = $4,
             from_json = $5, to_json = $6, cc_json = $7, bcc_json = $8, from_sort = $9,
             to_sort = $10, sent_at = $11, has_attachment = $12, preview = $13
         WHERE id = $1",
        &[
            &email,
            &opt(&f.message_id),
            &opt(&f.subject),
            &clean(&f.sort_subject),
            &json(&f.from),
            &json(&f.to),
            &json(&f.cc),
            &json(&f.bcc),
            &address_sort(&f.from).as_deref().map(clean),
            &address_sort(&f.to).as_deref().map(clean),
            &f.sent_at,
            &f.has_attachment,
            &opt(&f.preview),
        ],
    )
    .await
    .map_err(db)?;
    tx.execute(
        "INSERT INTO mail_search(email, account, subject, from_addr, to_addr, cc_addr, bcc_addr,
                                 body)
         VALUES ($1, $2, to_tsvector('simple', $3), to_tsvector('simple', $4),
                 to_tsvector('simple', $5), to_tsvector('simple', $6), to_tsvector('simple', $7),
                 to_tsvector('simple', $8))
         ON CONFLICT (email) DO NOTHING",
        &[
            &email,
            &account,
            &fold(f.subject.as_deref().unwrap_or("")),
            &fold(&address_text(&f.from)),
            &fold(&address_text(&f.to)),
            &fold(&address_text(&f.cc)),
            &fold(&address_text(&f.bcc)),
            &fold(&f.text),
        ],
    )
    .await
    .map_err(db)?;
    super::threads::assign(tx, account, email, f).await?;
    Ok(())
}

impl PgStore {
    /// Indexes the emails of `account` that are not yet, a batch per transaction. Returns how
    /// many were indexed (by this call).
    pub(crate) async fn index_pending_now(&self, account: &str) -> MailResult<usize> {
        let mut total = 0;
        loop {
            let conn = self.conn(&self.sessions).await?;
            let pending: Vec<(i64, String)> = conn
                .query(
                    "SELECT id, message FROM mail_emails WHERE account = $1 AND NOT indexed
                     ORDER BY id LIMIT $2",
                    &[&account, &(INDEX_BATCH as i64)],
                )
                .await
                .map_err(mdb)?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect();
            if pending.is_empty() {
                return Ok(total);
            }
            let n = pending.len();
            let mut raws = Vec::with_capacity(n);
            for (id, message) in pending {
                // A message gone meanwhile (its email destroyed) is skipped.
                if let Some(raw) = message_bytes(&**conn, &message, false).await? {
                    raws.push((id, raw));
                }
            }
            drop(conn);
            let parsed = tokio::task::spawn_blocking(move || -> Vec<(i64, Facts)> {
                raws.into_iter()
                    .map(|(id, raw)| (id, Facts::parse(&raw)))
                    .collect()
            })
            .await
            .map_err(|e| rampart_store::StoreError::Invalid(e.to_string()))?;
            let mut conn = self.conn(&self.sessions).await?;
            let tx = conn.transaction().await.map_err(mdb)?;
            lock_account(&tx, account).await?;
            for (id, facts) in &parsed {
                // Destroyed, or indexed by another reader meanwhile: nothing to do.
                let still = tx
                    .query_opt(
                        "SELECT 1 FROM mail_emails WHERE id = $1 AND NOT indexed",
                        &[id],
                    )
                    .await
                    .map_err(mdb)?
                    .is_some();
                if still {
                    store_facts(&tx, account, *id, facts).await?;
                }
            }
            // No notification, as in the embedded store: the delivery announced every kind.
            tx.commit().await.map_err(mdb)?;
            total += n;
            if n < INDEX_BATCH {
                return Ok(total);
            }
        }
    }
}
