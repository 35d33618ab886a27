//! Delegation on the shared database (`rampart mailbox grant|revoke|grants`, issue 20): a grant
//! made with one node's command line gives the delegate the owner's mailbox on every node (each
//! reads `mailbox_grants` when it authenticates, [`rampart_store::tokens::Logins::grants_to`]).
//! The same rules as the embedded store's `rampart_store::grants`.

use crate::{db, PgStore};
use rampart_store::directory::normalise_local_address;
use rampart_store::grants::{Grant, Rights};
use rampart_store::tokens::Logins;
use rampart_store::{now_micros, Result, StoreError};

impl PgStore {
    /// Grants (or changes) `delegate`'s rights on `owner`'s mailbox. Both must be users.
    pub async fn grant_set(&self, owner: &str, delegate: &str, rights: Rights) -> Result<()> {
        let owner = normalise_local_address(owner)?;
        let delegate = normalise_local_address(delegate)?;
        if owner == delegate {
            return Err(StoreError::Invalid(format!(
                "{owner} owns the mailbox already; name another user as the delegate"
            )));
        }
        for u in [&owner, &delegate] {
            if self.account_disabled(u).await?.is_none() {
                return Err(StoreError::Invalid(format!(
                    "no user {u}; see `rampart user list`"
                )));
            }
        }
        let c = self.conn(&self.sessions).await?;
        c.execute(
            "INSERT INTO mailbox_grants(owner, delegate, rights, created) VALUES ($1, $2, $3, $4)
             ON CONFLICT (owner, delegate) DO UPDATE SET rights = excluded.rights",
            &[&owner, &delegate, &rights.as_str(), &now_micros()],
        )
        .await
        .map_err(db)?;
        Ok(())
    }

    /// Ends a grant; false when there was none.
    pub async fn grant_revoke(&self, owner: &str, delegate: &str) -> Result<bool> {
        let c = self.conn(&self.sessions).await?;
        let n = c
            .execute(
                "DELETE FROM mailbox_grants WHERE owner = $1 AND delegate = $2",
                &[&owner.to_ascii_lowercase(), &delegate.to_ascii_lowercase()],
            )
            .await
            .map_err(db)?;
        Ok(n > 0)
    }

    /// Every grant, or those on `owner`'s mailbox, by owner then delegate.
    pub async fn grants(&self, owner: Option<&str>) -> Result<Vec<Grant>> {
        let c = self.conn(&self.sessions).await?;
        let rows = c
            .query(
                "SELECT owner, delegate, rights, created FROM mailbox_grants
                 WHERE $1::text IS NULL OR owner = $1
                 ORDER BY owner COLLATE \"C\", delegate COLLATE \"C\"",
                &[&owner.map(str::to_ascii_lowercase)],
            )
            .await
            .map_err(db)?;
        Ok(rows
            .iter()
            .map(|r| Grant {
                owner: r.get(0),
                delegate: r.get(1),
                // As the embedded store reads an unknown value: the least right.
                rights: Rights::parse(r.get(2)).unwrap_or(Rights::Read),
                created: r.get(3),
            })
            .collect())
    }
}
