//! What the console's directory pages read and change besides the Directory trait, on the
//! shared database: every user with its state in one query, send-as grants listed and withdrawn
//! (NC-2.1.7), and a user's email count, as the embedded store's `Store::users`,
//! `account_disabled`, `send_as_grants`, `remove_send_as` and `user_email_count` give them.

use crate::{db, trace, PgStore};
use rampart_store::directory::{no_send_as, send_as_removed};
use rampart_store::Result;

impl PgStore {
    /// Every user with whether it is disabled, by address: one query, however many users.
    pub async fn users_disabled(&self) -> Result<Vec<(String, bool)>> {
        let c = self.conn(&self.sessions).await?;
        let rows = c
            .query("SELECT address, disabled FROM users ORDER BY address", &[])
            .await
            .map_err(db)?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// Every send-as grant: (user, address), by user then address.
    pub async fn send_as_grants(&self) -> Result<Vec<(String, String)>> {
        let c = self.conn(&self.sessions).await?;
        let rows = c
            .query(
                r#"SELECT "user", address FROM send_as ORDER BY "user", address"#,
                &[],
            )
            .await
            .map_err(db)?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// Withdraws a send-as grant, with a `send-as-removed` trace event in the same
    /// transaction; an error naming the grant when there is none.
    pub async fn remove_send_as(&self, user: &str, address: &str) -> Result<()> {
        trace::logged_on_commit(async {
            let user = user.trim().to_ascii_lowercase();
            let address = address.trim().to_ascii_lowercase();
            let mut conn = self.conn(&self.sessions).await?;
            let tx = conn.transaction().await.map_err(db)?;
            let n = tx
                .execute(
                    r#"DELETE FROM send_as WHERE "user" = $1 AND address = $2"#,
                    &[&user, &address],
                )
                .await
                .map_err(db)?;
            if n == 0 {
                return Err(no_send_as(&user, &address));
            }
            let e = send_as_removed(&user, &address);
            trace::insert_in(&tx, &e).await?;
            tx.commit().await.map_err(db)?;
            Ok(())
        })
        .await
    }

    /// How many emails the mailbox of `address` holds; `None` when there is no such user.
    pub async fn user_email_count(&self, address: &str) -> Result<Option<u64>> {
        let address = address.to_ascii_lowercase();
        let c = self.conn(&self.sessions).await?;
        let row = c
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM users WHERE address = $1),
                        (SELECT count(*) FROM mail_emails WHERE account = $1)",
                &[&address],
            )
            .await
            .map_err(db)?;
        let exists: bool = row.get(0);
        let n: i64 = row.get(1);
        Ok(exists.then(|| u64::try_from(n).unwrap_or(0)))
    }
}
