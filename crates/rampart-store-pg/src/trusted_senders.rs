//! TrustedSenders on PostgreSQL (AL-1.2): the senders each user trusts, one list for every
//! node, with the embedded store's rules ([`rampart_store::trusted_senders`]): only a message's
//! authenticated From is trusted or distrusted, and an account keeps at most
//! [`MAX_PER_ACCOUNT`] addresses, the newest.

use crate::{db, PgStore};
use async_trait::async_trait;
use rampart_store::trusted_senders::{key, TrustChange, TrustedSenders, MAX_PER_ACCOUNT};
use rampart_store::{now_micros, Result};
use tokio_postgres::Transaction;

/// Adds (or confirms) `address`, then keeps the account's newest [`MAX_PER_ACCOUNT`]; the time
/// it is trusted from.
async fn insert(tx: &Transaction<'_>, account: &str, address: &str) -> Result<i64> {
    let now = now_micros();
    tx.execute(
        "INSERT INTO spam_trusted_senders(account, address, added) VALUES ($1, $2, $3)
         ON CONFLICT (account, address) DO UPDATE SET added = excluded.added",
        &[&account, &address, &now],
    )
    .await
    .map_err(db)?;
    tx.execute(
        "DELETE FROM spam_trusted_senders WHERE account = $1 AND address IN
           (SELECT address FROM spam_trusted_senders WHERE account = $1
            ORDER BY added DESC OFFSET $2)",
        &[&account, &MAX_PER_ACCOUNT],
    )
    .await
    .map_err(db)?;
    Ok(now)
}

#[async_trait]
impl TrustedSenders for PgStore {
    async fn judge_sender(&self, account: &str, email: i64, trust: bool) -> Result<TrustChange> {
        let account = key(account);
        let mut c = self.conn(&self.sessions).await?;
        let tx = c.transaction().await.map_err(db)?;
        let from: Option<String> = tx
            .query_opt(
                "SELECT m.authenticated_from FROM mail_emails e JOIN messages m
                   ON m.id = e.message WHERE e.account = $1 AND e.id = $2",
                &[&account, &email],
            )
            .await
            .map_err(db)?
            .and_then(|r| r.get(0));
        let Some(from) = from.map(|f| key(&f)).filter(|f| !f.is_empty()) else {
            return Ok(TrustChange::NotAuthenticated);
        };
        if !trust {
            tx.execute(
                "DELETE FROM spam_trusted_senders WHERE account = $1 AND address = $2",
                &[&account, &from],
            )
            .await
            .map_err(db)?;
            tx.commit().await.map_err(db)?;
            return Ok(TrustChange::Distrusted(from));
        }
        insert(&tx, &account, &from).await?;
        tx.commit().await.map_err(db)?;
        Ok(TrustChange::Trusted(from))
    }

    async fn trust_sender(&self, account: &str, address: &str) -> Result<i64> {
        let mut c = self.conn(&self.sessions).await?;
        let tx = c.transaction().await.map_err(db)?;
        let added = insert(&tx, &key(account), &key(address)).await?;
        tx.commit().await.map_err(db)?;
        Ok(added)
    }

    async fn trusted_senders(&self, account: &str) -> Result<Vec<(String, i64)>> {
        let c = self.conn(&self.sessions).await?;
        let rows = c
            .query(
                "SELECT address, added FROM spam_trusted_senders WHERE account = $1
                 ORDER BY added DESC, address",
                &[&key(account)],
            )
            .await
            .map_err(db)?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    async fn untrust_sender(&self, account: &str, address: &str) -> Result<bool> {
        let c = self.conn(&self.sessions).await?;
        let n = c
            .execute(
                "DELETE FROM spam_trusted_senders WHERE account = $1 AND address = $2",
                &[&key(account), &key(address)],
            )
            .await
            .map_err(db)?;
        Ok(n > 0)
    }
}
