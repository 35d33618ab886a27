//! Delegation: an owner lets a delegate reach their mailbox (`rampart mailbox grant`). Over JMAP
//! the owner's mailbox appears as a second account of the delegate; the mailbox audit (AL-3.1)
//! names the delegate as the actor of what they do there.

use crate::directory::normalise_local_address;
use crate::{now_micros, Result, Store, StoreError};
use rusqlite::params;

/// What a delegate may do in the owner's mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rights {
    /// Read only.
    Read,
    /// Read, and send as the owner.
    SendAs,
    /// Everything the owner may do.
    Full,
}

impl Rights {
    pub fn as_str(self) -> &'static str {
        match self {
            Rights::Read => "read",
            Rights::SendAs => "send-as",
            Rights::Full => "full",
        }
    }

    pub fn parse(s: &str) -> Option<Rights> {
        [Rights::Read, Rights::SendAs, Rights::Full]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

/// One grant.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Grant {
    pub owner: String,
    pub delegate: String,
    pub rights: Rights,
    /// Microseconds since the epoch.
    pub created: i64,
}

impl Store {
    /// Grants (or changes) `delegate`'s rights on `owner`'s mailbox. Both must be users.
    pub fn grant_set(&self, owner: &str, delegate: &str, rights: Rights) -> Result<()> {
        let owner = normalise_local_address(owner)?;
        let delegate = normalise_local_address(delegate)?;
        if owner == delegate {
            return Err(StoreError::Invalid(format!(
                "{owner} owns the mailbox already; name another user as the delegate"
            )));
        }
        for u in [&owner, &delegate] {
            if self.account_disabled(u)?.is_none() {
                return Err(StoreError::Invalid(format!(
                    "no user {u}; see `rampart user list`"
                )));
            }
        }
        self.admin_connection()?.execute(
            "INSERT INTO mailbox_grants(owner, delegate, rights, created) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(owner, delegate) DO UPDATE SET rights = excluded.rights",
            params![owner, delegate, rights.as_str(), now_micros()],
        )?;
        Ok(())
    }

    /// Ends a grant; false when there was none.
    pub fn grant_revoke(&self, owner: &str, delegate: &str) -> Result<bool> {
        let n = self.admin_connection()?.execute(
            "DELETE FROM mailbox_grants WHERE owner = ?1 AND delegate = ?2",
            params![owner.to_ascii_lowercase(), delegate.to_ascii_lowercase()],
        )?;
        Ok(n > 0)
    }

    /// Every grant, or those on `owner`'s mailbox, by owner then delegate.
    pub fn grants(&self, owner: Option<&str>) -> Result<Vec<Grant>> {
        self.select_grants(
            "SELECT owner, delegate, rights, created FROM mailbox_grants
             WHERE ?1 IS NULL OR owner = ?1 ORDER BY owner, delegate",
            owner.map(str::to_ascii_lowercase),
        )
    }

    /// The grants `delegate` holds, by owner.
    pub fn grants_to(&self, delegate: &str) -> Result<Vec<Grant>> {
        self.select_grants(
            "SELECT owner, delegate, rights, created FROM mailbox_grants
             WHERE delegate = ?1 ORDER BY owner",
            Some(delegate.to_ascii_lowercase()),
        )
    }

    fn select_grants(&self, sql: &str, arg: Option<String>) -> Result<Vec<Grant>> {
        self.read(|c| {
            let mut st = c.prepare_cached(sql)?;
            let rows = st.query_map([arg], |r| {
                Ok(Grant {
                    owner: r.get(0)?,
                    delegate: r.get(1)?,
                    rights: Rights::from_db(&r.get::<_, String>(2)?),
                    created: r.get(3)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::tempdir;

    #[test]
    fn grants_are_kept_changed_and_revoked() {
        let d = tempdir::Dir::new();
        let s = Store::open(d.path()).unwrap();
        s.add_domain("example.test").unwrap();
        for u in ["alice@example.test", "bob@example.test"] {
            s.add_user(u, "correct horse battery").unwrap();
        }
        s.grant_set("alice@example.test", "Bob@example.test", Rights::Read)
            .unwrap();
        s.grant_set("alice@example.test", "bob@example.test", Rights::Full)
            .unwrap();
        let g = s.grants_to("bob@example.test").unwrap();
        assert_eq!(g.len(), 1);
        assert_eq!(g[0].rights, Rights::Full);
        assert_eq!(g[0].owner, "alice@example.test");
        assert!(s.grants(Some("bob@example.test")).unwrap().is_empty());
        assert_eq!(s.grants(None).unwrap().len(), 1);
        assert!(s
            .grant_set("alice@example.test", "alice@example.test", Rights::Read)
            .is_err());
        assert!(s
            .grant_set("alice@example.test", "nobody@example.test", Rights::Read)
            .is_err());
        assert!(s
            .grant_revoke("alice@example.test", "bob@example.test")
            .unwrap());
        assert!(s.grants_to("bob@example.test").unwrap().is_empty());
    }
}
