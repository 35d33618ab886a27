//! `rampart user delete`, `alias remove` and `domain remove` on the shared database (issue 20),
//! as the embedded store's `Store::delete_user`, `remove_alias` and `remove_domain` do: each in
//! one transaction with its trace event, so no node accepts the user's login, or mail for the
//! alias or the domain, once it commits (every node reads the directory from here).

use crate::mail::{destroy_email, lock_account, notify, ALL};
use crate::{column, db, trace, PgStore};
use rampart_store::directory::no_user;
use rampart_store::mail::MailError;
use rampart_store::{DomainRemoved, Result, StoreError, TraceEvent, UserDeleted};

/// The account's rows besides its emails, children before parents (the foreign keys); each
/// statement takes the address as `$1`.
const ACCOUNT_ROWS: [&str; 23] = [
    "DELETE FROM mail_email_mailboxes WHERE mailbox IN
         (SELECT id FROM mail_mailboxes WHERE account = $1)",
    "DELETE FROM mail_mailbox_props WHERE account = $1",
    "DELETE FROM mail_mailboxes WHERE account = $1",
    "DELETE FROM mail_thread_refs WHERE account = $1",
    "DELETE FROM mail_threads WHERE account = $1",
    "DELETE FROM mail_state WHERE account = $1",
    "DELETE FROM mail_changes WHERE account = $1",
    "DELETE FROM mail_quotas WHERE account = $1",
    "DELETE FROM mail_uploads WHERE account = $1",
    "DELETE FROM sub_submissions WHERE account = $1",
    "DELETE FROM sub_identities WHERE account = $1",
    "DELETE FROM sub_state WHERE account = $1",
    "DELETE FROM sub_vacation WHERE account = $1",
    "DELETE FROM sub_vacation_replied WHERE account = $1",
    "DELETE FROM access_tokens WHERE account = $1",
    "DELETE FROM web_sessions WHERE account = $1",
    "DELETE FROM spam_trusted_senders WHERE account = $1",
    "DELETE FROM spam_lessons WHERE scope = $1",
    "DELETE FROM spam_tokens WHERE scope = $1",
    "DELETE FROM mailbox_grants WHERE owner = $1 OR delegate = $1",
    "DELETE FROM send_as WHERE \"user\" = $1 OR address = $1",
    "DELETE FROM aliases WHERE target = $1",
    "DELETE FROM users WHERE address = $1",
];

impl PgStore {
    /// Deletes the user `address` and everything of its account: its emails (with `purge_mail`
    /// only: refused while the mailbox holds mail without it), mailboxes, tokens, sessions,
    /// delegation and send-as grants, identities, its trusted senders and its own spam
    /// classifier's lessons (AL-1.2; the installation's stay), and the aliases that pointed at
    /// it. The mailbox audit keeps its history. One transaction, with a `user-deleted` trace
    /// event.
    pub async fn delete_user(&self, address: &str, purge_mail: bool) -> Result<UserDeleted> {
        crate::trace::logged_on_commit(async {
            let address = address.trim().to_ascii_lowercase();
            let mut conn = self.conn(&self.sessions).await?;
            let tx = conn.transaction().await.map_err(db)?;
            // A delivery to the account waits for this commit, and then finds no user.
            lock_account(&tx, &address).await?;
            let exists = tx
                .query_opt(
                    "SELECT 1 FROM users WHERE address = $1 FOR UPDATE",
                    &[&address],
                )
                .await
                .map_err(db)?
                .is_some();
            if !exists {
                return Err(no_user(&address));
            }
            let emails: Vec<i64> = column(
                &tx,
                "SELECT id FROM mail_emails WHERE account = $1 ORDER BY id",
                &[&address],
            )
            .await?;
            if !emails.is_empty() && !purge_mail {
                return Err(StoreError::Invalid(format!(
                    "{address} still has {} message(s) in its mailbox; add --purge-mail to delete \
                     them with the account (they cannot be recovered)",
                    emails.len()
                )));
            }
            for id in &emails {
                match destroy_email(&tx, &address, *id).await {
                    Ok(()) | Err(MailError::NotFound) => {}
                    Err(MailError::Store(e)) => return Err(e),
                    Err(e) => return Err(StoreError::Invalid(e.to_string())),
                }
            }
            let aliases: Vec<String> = column(
                &tx,
                "SELECT DISTINCT alias FROM aliases WHERE target = $1 ORDER BY alias",
                &[&address],
            )
            .await?;
            for sql in ACCOUNT_ROWS {
                tx.execute(sql, &[&address]).await.map_err(db)?;
            }
            let mut e = TraceEvent::new(
                "user-deleted",
                format!(
                    "user {address} deleted by the administrator; {} message(s) purged; aliases \
                     removed: {}",
                    emails.len(),
                    if aliases.is_empty() {
                        "none".to_string()
                    } else {
                        aliases.join(", ")
                    }
                ),
            );
            e.recipient = Some(address.clone());
            trace::insert_in(&tx, &e).await?;
            // A JMAP client of the account on any node learns that its state changed.
            notify(&tx, &address, &ALL).await?;
            tx.commit().await.map_err(db)?;
            Ok(UserDeleted {
                address,
                messages_purged: emails.len(),
                aliases_removed: aliases,
            })
        })
        .await
    }

    /// Removes alias `alias` (every target, or only `target`). Returns the targets removed; an
    /// error when there were none.
    pub async fn remove_alias(&self, alias: &str, target: Option<&str>) -> Result<Vec<String>> {
        crate::trace::logged_on_commit(async {
            let alias = alias.trim().to_ascii_lowercase();
            let target = target.map(|t| t.trim().to_ascii_lowercase());
            let mut conn = self.conn(&self.sessions).await?;
            let tx = conn.transaction().await.map_err(db)?;
            let mut targets: Vec<String> = column(
                &tx,
                "DELETE FROM aliases WHERE alias = $1 AND ($2::text IS NULL OR target = $2)
                     RETURNING target",
                &[&alias, &target],
            )
            .await?;
            targets.sort();
            if targets.is_empty() {
                return Err(StoreError::Invalid(match target {
                    Some(t) => format!("no alias {alias} -> {t}; see `rampart alias list`"),
                    None => format!("no alias {alias}; see `rampart alias list`"),
                }));
            }
            let e = TraceEvent::new(
                "alias-removed",
                format!(
                    "alias {alias} -> {} removed by the administrator",
                    targets.join(", ")
                ),
            );
            trace::insert_in(&tx, &e).await?;
            tx.commit().await.map_err(db)?;
            Ok(targets)
        })
        .await
    }

    /// Removes a domain. Refused while users or aliases of it exist, naming them, unless
    /// `force`: then its aliases go, and its users are deleted as [`PgStore::delete_user`] does
    /// (their mail too). A trace event records it.
    pub async fn remove_domain(&self, name: &str, force: bool) -> Result<DomainRemoved> {
        crate::trace::logged_on_commit(async {
            let name = name.trim().to_ascii_lowercase();
            let suffix = format!("%@{name}");
            let (users, aliases) = {
                let c = self.conn(&self.sessions).await?;
                let known = c
                    .query_opt("SELECT 1 FROM domains WHERE name = $1", &[&name])
                    .await
                    .map_err(db)?
                    .is_some();
                if !known {
                    return Err(StoreError::Invalid(format!(
                        "no domain {name}; see `rampart domain list`"
                    )));
                }
                let users: Vec<String> = column(
                    &c,
                    "SELECT address FROM users WHERE domain = $1 ORDER BY address COLLATE \"C\"",
                    &[&name],
                )
                .await?;
                let aliases: Vec<String> = column(
                    &c,
                    "SELECT DISTINCT alias COLLATE \"C\" FROM aliases
                         WHERE alias LIKE $1 OR target LIKE $1 ORDER BY 1",
                    &[&suffix],
                )
                .await?;
                (users, aliases)
            };
            if !force && (!users.is_empty() || !aliases.is_empty()) {
                let list = |v: &[String]| {
                    if v.is_empty() {
                        "none".to_string()
                    } else {
                        v.join(", ")
                    }
                };
                return Err(StoreError::Invalid(format!(
                    "domain {name} still has users ({}) and aliases ({}); remove them first, or add \
                     --force to delete them (and the users' mail) with the domain",
                    list(&users),
                    list(&aliases)
                )));
            }
            for u in &users {
                self.delete_user(u, true).await?;
            }
            let mut conn = self.conn(&self.sessions).await?;
            let tx = conn.transaction().await.map_err(db)?;
            tx.execute(
                "DELETE FROM aliases WHERE alias LIKE $1 OR target LIKE $1",
                &[&suffix],
            )
            .await
            .map_err(db)?;
            tx.execute("DELETE FROM domains WHERE name = $1", &[&name])
                .await
                .map_err(db)?;
            let e = TraceEvent::new(
                "domain-removed",
                format!(
                    "domain {name} removed by the administrator; users deleted: {}; aliases removed: {}",
                    users.len(),
                    aliases.len()
                ),
            );
            trace::insert_in(&tx, &e).await?;
            tx.commit().await.map_err(db)?;
            Ok(DomainRemoved {
                name,
                users,
                aliases,
            })
        })
        .await
    }
}
