//! Domains, users and aliases: who this server represents and receives for.
//!
//! NC-2.1.2: no account exists that the administrator did not create. Nothing here seeds users;
//! the binary's demo mode creates its one demo user with a random password.
//! NC-2.1.6: [`Store::resolve_recipient`] is the single answer to "do we receive for this address".

use crate::{now_micros, Result, Store, StoreError, TraceEvent};
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::Argon2;
use rusqlite::{params, OptionalExtension};

/// Why a recipient is not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecipientError {
    /// The domain is not one this server represents (a relay attempt).
    ForeignDomain,
    /// The domain is ours, the mailbox does not exist.
    NoSuchUser,
}

/// A recipient we receive for, and the mailboxes it lands in (more than one for a list alias).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub address: String,
    pub mailboxes: Vec<String>,
}

/// How deep aliases may point at aliases.
pub const MAX_ALIAS_DEPTH: usize = 4;

impl Store {
    pub fn add_domain(&self, name: &str) -> Result<()> {
        let name = normalise_domain(name)?;
        let conn = self.admin_connection()?;
        let n = conn.execute(
            "INSERT OR IGNORE INTO domains(name, created) VALUES (?1, ?2)",
            params![name, now_micros()],
        )?;
        if n == 0 {
            return Err(StoreError::Invalid(format!("domain {name} exists already")));
        }
        Ok(())
    }

    pub fn domains(&self) -> Result<Vec<String>> {
        self.read(|c| {
            let mut st = c.prepare_cached("SELECT name FROM domains ORDER BY name")?;
            let rows = st.query_map([], |r| r.get(0))?;
            Ok(rows.collect::<rusqlite::Result<Vec<String>>>()?)
        })
    }

    pub fn is_local_domain(&self, domain: &str) -> Result<bool> {
        let d = domain.to_ascii_lowercase();
        self.read(|c| domain_exists(c, &d))
    }

    /// Creates a user with an Argon2id password hash (NC-2.1.4).
    pub fn add_user(&self, address: &str, password: &str) -> Result<()> {
        let address = normalise_local_address(address)?;
        let domain = address
            .rsplit_once('@')
            .map(|(_, d)| d.to_string())
            .unwrap_or_default();
        check_floor(password)?;
        if !self.is_local_domain(&domain)? {
            return Err(StoreError::Invalid(format!(
                "domain {domain} is not configured; add it first with `rampart domain add {domain}`"
            )));
        }
        let hash = hash_password(password)?;
        let conn = self.admin_connection()?;
        if self.alias_exists(&conn, &address)? {
            return Err(StoreError::Invalid(format!(
                "{address} is an alias already"
            )));
        }
        let n = conn.execute(
            "INSERT OR IGNORE INTO users(address, domain, password_hash, created) VALUES (?1, ?2, ?3, ?4)",
            params![address, domain, hash, now_micros()],
        )?;
        if n == 0 {
            return Err(StoreError::Invalid(format!(
                "user {address} exists already"
            )));
        }
        // RFC 8621 section 2: the account starts with the role mailboxes.
        crate::mail::schema::ensure_mailboxes_now(&conn, &address)?;
        Ok(())
    }

    pub fn users(&self) -> Result<Vec<String>> {
        self.read(|c| {
            let mut st = c.prepare_cached("SELECT address FROM users ORDER BY address")?;
            let rows = st.query_map([], |r| r.get(0))?;
            Ok(rows.collect::<rusqlite::Result<Vec<String>>>()?)
        })
    }

    /// Checks a password against the stored Argon2id hash. A disabled account's password is
    /// never right: it logs in nowhere (SMTP AUTH, JMAP), and answers like a wrong password so
    /// a guesser learns nothing of the account.
    pub fn verify_password(&self, address: &str, password: &str) -> Result<bool> {
        let address = address.to_ascii_lowercase();
        let hash: Option<String> = self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT password_hash FROM users WHERE address = ?1 AND disabled = 0",
            )?;
            Ok(st.query_row([address], |r| r.get(0)).optional()?)
        })?;
        let Some(hash) = hash else { return Ok(false) };
        verify_password_hash(&hash, password)
    }

    /// Disables (or enables again) a user's logins: password, tokens, delegated access. Mail
    /// for the account is still received. An error when there is no such user.
    pub fn set_disabled(&self, address: &str, disabled: bool) -> Result<()> {
        let address = address.to_ascii_lowercase();
        let n = self.admin_connection()?.execute(
            "UPDATE users SET disabled = ?1 WHERE address = ?2",
            params![disabled, address],
        )?;
        if n == 0 {
            return Err(no_user(&address));
        }
        if disabled {
            // A disabled account's webmail sessions end now, not at their next request.
            self.web_sessions_end_all(&address)?;
        }
        Ok(())
    }

    /// Sets a new password for `address` (stored as an Argon2id hash, NC-2.1.4). The caller
    /// applies the password policy first; the store only keeps the floor below every policy.
    /// Its webmail sessions end, so a session opened with the old password does not outlive it.
    pub fn set_password(&self, address: &str, password: &str) -> Result<()> {
        let address = address.to_ascii_lowercase();
        check_floor(password)?;
        let hash = hash_password(password)?;
        let mut conn = self.admin_connection()?;
        let tx = conn.transaction()?;
        let n = tx.execute(
            "UPDATE users SET password_hash = ?1 WHERE address = ?2",
            params![hash, address],
        )?;
        if n == 0 {
            return Err(no_user(&address));
        }
        let mut e = TraceEvent::new(
            "password",
            format!("password of {address} changed by the administrator"),
        );
        e.recipient = Some(address.clone());
        e.insert(&tx)?;
        tx.commit()?;
        self.web_sessions_end_all(&address)?;
        Ok(())
    }

    /// How many emails the mailbox of `address` holds; `None` when there is no such user.
    pub fn user_email_count(&self, address: &str) -> Result<Option<u64>> {
        let address = address.to_ascii_lowercase();
        self.read(|c| {
            let exists = c
                .prepare_cached("SELECT 1 FROM users WHERE address = ?1")?
                .exists([&address])?;
            if !exists {
                return Ok(None);
            }
            let n: i64 = c
                .prepare_cached("SELECT count(*) FROM mail_emails WHERE account = ?1")?
                .query_row([&address], |r| r.get(0))?;
            Ok(Some(u64::try_from(n).unwrap_or(0)))
        })
    }

    /// Deletes the user `address` and everything of its account: mailboxes, their emails (with
    /// `purge_mail` only: refused while the mailbox holds mail without it), tokens, sessions,
    /// delegation grants it gave or holds, send-as grants, identities, its trusted senders and
    /// its own spam classifier's lessons (AL-1.2; the installation's stay), and the aliases that
    /// pointed at it (they would deliver nowhere). The mailbox audit keeps its history. One
    /// transaction, with a `user-deleted` trace event.
    pub fn delete_user(&self, address: &str, purge_mail: bool) -> Result<UserDeleted> {
        let address = address.to_ascii_lowercase();
        let mut conn = self.admin_connection()?;
        // IMMEDIATE: it reads before it writes, and the server may deliver in between.
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let exists = tx
            .prepare("SELECT 1 FROM users WHERE address = ?1")?
            .exists([&address])?;
        if !exists {
            return Err(no_user(&address));
        }
        let emails: Vec<i64> = tx
            .prepare("SELECT id FROM mail_emails WHERE account = ?1 ORDER BY id")?
            .query_map([&address], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        if !emails.is_empty() && !purge_mail {
            return Err(StoreError::Invalid(format!(
                "{address} still has {} message(s) in its mailbox; add --purge-mail to delete                  them with the account (they cannot be recovered)",
                emails.len()
            )));
        }
        let mut removed = Vec::new();
        for id in &emails {
            match crate::mail::destroy_email(&tx, &address, *id) {
                Ok(Some(r)) => removed.push(r),
                Ok(None) | Err(crate::mail::MailError::NotFound) => {}
                Err(crate::mail::MailError::Store(e)) => return Err(e),
                Err(e) => return Err(StoreError::Invalid(e.to_string())),
            }
        }
        let aliases: Vec<String> = tx
            .prepare("SELECT DISTINCT alias FROM aliases WHERE target = ?1 ORDER BY alias")?
            .query_map([&address], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        // Children before parents, for the foreign keys.
        for sql in [
            "DELETE FROM mail_email_mailboxes WHERE mailbox IN
                 (SELECT id FROM mail_mailboxes WHERE account = ?1)",
            "DELETE FROM mail_mailbox_props WHERE account = ?1",
            "DELETE FROM mail_mailboxes WHERE account = ?1",
            "DELETE FROM mail_thread_refs WHERE account = ?1",
            "DELETE FROM mail_threads WHERE account = ?1",
            "DELETE FROM mail_state WHERE account = ?1",
            "DELETE FROM mail_changes WHERE account = ?1",
            "DELETE FROM mail_quotas WHERE account = ?1",
            "DELETE FROM mail_uploads WHERE account = ?1",
            "DELETE FROM sub_submissions WHERE account = ?1",
            "DELETE FROM sub_identities WHERE account = ?1",
            "DELETE FROM sub_state WHERE account = ?1",
            "DELETE FROM sub_vacation WHERE account = ?1",
            "DELETE FROM sub_vacation_replied WHERE account = ?1",
            "DELETE FROM access_tokens WHERE account = ?1",
            "DELETE FROM web_sessions WHERE account = ?1",
            "DELETE FROM spam_trusted_senders WHERE account = ?1",
            "DELETE FROM spam_lessons WHERE scope = ?1",
            "DELETE FROM spam_tokens WHERE scope = ?1",
            "DELETE FROM mailbox_grants WHERE owner = ?1 OR delegate = ?1",
            "DELETE FROM send_as WHERE user = ?1 OR address = ?1",
            "DELETE FROM aliases WHERE target = ?1",
            "DELETE FROM users WHERE address = ?1",
        ] {
            tx.execute(sql, [&address])?;
        }
        let mut e = TraceEvent::new(
            "user-deleted",
            format!(
                "user {address} deleted by the administrator; {} message(s) purged; aliases removed: {}",
                emails.len(),
                if aliases.is_empty() { "none".to_string() } else { aliases.join(", ") }
            ),
        );
        e.recipient = Some(address.clone());
        e.insert(&tx)?;
        tx.commit()?;
        self.unlink_removed(&removed)?;
        Ok(UserDeleted {
            address,
            messages_purged: emails.len(),
            aliases_removed: aliases,
        })
    }

    /// Removes a domain. Refused while users or aliases of it exist, naming them, unless
    /// `force`: then its aliases go, and its users are deleted as [`Store::delete_user`] does
    /// (their mail too). A trace event records it.
    pub fn remove_domain(&self, name: &str, force: bool) -> Result<DomainRemoved> {
        let name = name.trim().to_ascii_lowercase();
        if !self.is_local_domain(&name)? {
            return Err(StoreError::Invalid(format!(
                "no domain {name}; see `rampart domain list`"
            )));
        }
        let suffix = format!("%@{name}");
        let (users, aliases): (Vec<String>, Vec<String>) = self.read(|c| {
            let users = c
                .prepare("SELECT address FROM users WHERE domain = ?1 ORDER BY address")?
                .query_map([&name], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            let aliases = c
                .prepare(
                    "SELECT DISTINCT alias FROM aliases WHERE alias LIKE ?1 OR target LIKE ?1
                     ORDER BY alias",
                )?
                .query_map([&suffix], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            Ok((users, aliases))
        })?;
        if !force && (!users.is_empty() || !aliases.is_empty()) {
            let list = |v: &[String]| {
                if v.is_empty() {
                    "none".to_string()
                } else {
                    v.join(", ")
                }
            };
            return Err(StoreError::Invalid(format!(
                "domain {name} still has users ({}) and aliases ({}); remove them first, or add                  --force to delete them (and the users' mail) with the domain",
                list(&users),
                list(&aliases)
            )));
        }
        for u in &users {
            self.delete_user(u, true)?;
        }
        let mut conn = self.admin_connection()?;
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute(
            "DELETE FROM aliases WHERE alias LIKE ?1 OR target LIKE ?1",
            [&suffix],
        )?;
        tx.execute("DELETE FROM domains WHERE name = ?1", [&name])?;
        TraceEvent::new(
            "domain-removed",
            format!(
                "domain {name} removed by the administrator; users deleted: {}; aliases removed: {}",
                users.len(),
                aliases.len()
            ),
        )
        .insert(&tx)?;
        tx.commit()?;
        Ok(DomainRemoved {
            name,
            users,
            aliases,
        })
    }

    /// Removes alias `alias` (every target, or only `target`). Returns the targets removed; an
    /// error when there were none.
    pub fn remove_alias(&self, alias: &str, target: Option<&str>) -> Result<Vec<String>> {
        let alias = alias.trim().to_ascii_lowercase();
        let target = target.map(|t| t.trim().to_ascii_lowercase());
        let mut conn = self.admin_connection()?;
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let targets: Vec<String> = tx
            .prepare(
                "SELECT target FROM aliases WHERE alias = ?1 AND (?2 IS NULL OR target = ?2)
                 ORDER BY target",
            )?
            .query_map(params![alias, target], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        if targets.is_empty() {
            return Err(StoreError::Invalid(match target {
                Some(t) => format!("no alias {alias} -> {t}; see `rampart alias list`"),
                None => format!("no alias {alias}; see `rampart alias list`"),
            }));
        }
        tx.execute(
            "DELETE FROM aliases WHERE alias = ?1 AND (?2 IS NULL OR target = ?2)",
            params![alias, target],
        )?;
        TraceEvent::new(
            "alias-removed",
            format!(
                "alias {alias} -> {} removed by the administrator",
                targets.join(", ")
            ),
        )
        .insert(&tx)?;
        tx.commit()?;
        Ok(targets)
    }

    /// Adds an alias. Targets must be addresses in domains this server represents: forwarding to
    /// outside addresses is refused (AL-4.2).
    pub fn add_alias(&self, alias: &str, target: &str) -> Result<()> {
        let alias = normalise_local_address(alias)?;
        let target = normalise_local_address(target)?;
        for a in [&alias, &target] {
            let domain = a.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
            if !self.is_local_domain(domain)? {
                return Err(StoreError::Invalid(format!(
                    "{a} is not in a domain this server represents; aliases may only point inside \
                     (AL-4.2: no forwarding outside). Add the domain first if it is yours"
                )));
            }
        }
        let conn = self.admin_connection()?;
        let is_user: bool = conn
            .prepare("SELECT 1 FROM users WHERE address = ?1")?
            .exists([&alias])?;
        if is_user {
            return Err(StoreError::Invalid(format!("{alias} is a user already")));
        }
        let n = conn.execute(
            "INSERT OR IGNORE INTO aliases(alias, target, created) VALUES (?1, ?2, ?3)",
            params![alias, target, now_micros()],
        )?;
        if n == 0 {
            return Err(StoreError::Invalid(format!(
                "alias {alias} -> {target} exists already"
            )));
        }
        Ok(())
    }

    /// Lets `user` send as `address` (NC-2.1.7 send-as grant). The address must be in a
    /// represented domain.
    pub fn add_send_as(&self, user: &str, address: &str) -> Result<()> {
        let user = normalise_local_address(user)?;
        let address = normalise_local_address(address)?;
        if !self.users()?.contains(&user) {
            return Err(StoreError::Invalid(format!(
                "no user {user}; create it first with `rampart user add {user}`"
            )));
        }
        let domain = address.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
        if !self.is_local_domain(domain)? {
            return Err(StoreError::Invalid(format!(
                "{address} is not in a domain this server represents; users may send only as addresses of these domains (NC-2.1.7)"
            )));
        }
        self.admin_connection()?.execute(
            "INSERT OR IGNORE INTO send_as(user, address, created) VALUES (?1, ?2, ?3)",
            params![user, address, now_micros()],
        )?;
        Ok(())
    }

    /// Every send-as grant ([`Store::add_send_as`]): (user, address), by user then address.
    pub fn send_as_grants(&self) -> Result<Vec<(String, String)>> {
        self.read(|c| {
            let mut st =
                c.prepare_cached("SELECT user, address FROM send_as ORDER BY user, address")?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// Withdraws a send-as grant (NC-2.1.7), with a `send-as-removed` trace event; an error
    /// naming the grant when there is none.
    pub fn remove_send_as(&self, user: &str, address: &str) -> Result<()> {
        let user = user.trim().to_ascii_lowercase();
        let address = address.trim().to_ascii_lowercase();
        let mut conn = self.admin_connection()?;
        let tx = conn.transaction()?;
        let n = tx.execute(
            "DELETE FROM send_as WHERE user = ?1 AND address = ?2",
            params![user, address],
        )?;
        if n == 0 {
            return Err(no_send_as(&user, &address));
        }
        send_as_removed(&user, &address).insert(&tx)?;
        tx.commit()?;
        Ok(())
    }

    /// NC-2.1.7: may the authenticated `user` use `address` as envelope sender, From or Sender?
    /// Its own address, an alias that delivers to it, or an explicit send-as grant.
    pub fn may_send_as(&self, user: &str, address: &str) -> Result<bool> {
        let user = user.to_ascii_lowercase();
        let address = address.to_ascii_lowercase();
        if user == address {
            return Ok(true);
        }
        self.read(|c| {
            let alias = c
                .prepare_cached("SELECT 1 FROM aliases WHERE alias = ?1 AND target = ?2")?
                .exists([&address, &user])?;
            let grant = c
                .prepare_cached("SELECT 1 FROM send_as WHERE user = ?1 AND address = ?2")?
                .exists([&user, &address])?;
            // A delegate with send-as or full rights on the owner's mailbox (`rampart mailbox
            // grant`) may send as the owner; a reader may not.
            let delegate = c
                .prepare_cached(
                    "SELECT 1 FROM mailbox_grants WHERE delegate = ?1 AND owner = ?2
                     AND rights IN ('send-as', 'full')",
                )?
                .exists([&user, &address])?;
            Ok(alias || grant || delegate)
        })
    }

    pub fn aliases(&self) -> Result<Vec<(String, String)>> {
        self.read(|c| {
            let mut st =
                c.prepare_cached("SELECT alias, target FROM aliases ORDER BY alias, target")?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    fn alias_exists(&self, conn: &rusqlite::Connection, address: &str) -> Result<bool> {
        Ok(conn
            .prepare_cached("SELECT 1 FROM aliases WHERE alias = ?1")?
            .exists([address])?)
    }

    /// Resolves an RCPT address (already checked for relay tricks) to the mailboxes it reaches.
    /// The domain, the users and the aliases are read in one read transaction: one snapshot of
    /// the directory answers the whole question.
    pub fn resolve_recipient(
        &self,
        address: &str,
    ) -> Result<std::result::Result<Recipient, RecipientError>> {
        let address = address.to_ascii_lowercase();
        let Some((_, domain)) = address.rsplit_once('@') else {
            return Ok(Err(RecipientError::NoSuchUser));
        };
        self.read(|c| {
            if !domain_exists(c, domain)? {
                return Ok(Err(RecipientError::ForeignDomain));
            }
            let mut mailboxes = Vec::new();
            let mut pending = vec![(address.clone(), 0usize)];
            let mut seen = std::collections::HashSet::new();
            while let Some((a, depth)) = pending.pop() {
                if !seen.insert(a.clone()) {
                    continue;
                }
                let is_user = c
                    .prepare_cached("SELECT 1 FROM users WHERE address = ?1")?
                    .exists([&a])?;
                if is_user {
                    mailboxes.push(a);
                    continue;
                }
                if depth >= MAX_ALIAS_DEPTH {
                    continue;
                }
                let mut st = c.prepare_cached("SELECT target FROM aliases WHERE alias = ?1")?;
                let targets = st
                    .query_map([&a], |r| r.get::<_, String>(0))?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                pending.extend(targets.into_iter().map(|t| (t, depth + 1)));
            }
            mailboxes.sort();
            Ok(if mailboxes.is_empty() {
                Err(RecipientError::NoSuchUser)
            } else {
                Ok(Recipient {
                    address: address.clone(),
                    mailboxes,
                })
            })
        })
    }
}

/// Whether `domain` (lower case) is one of ours, read on `c`.
fn domain_exists(c: &rusqlite::Connection, domain: &str) -> Result<bool> {
    Ok(c.prepare_cached("SELECT 1 FROM domains WHERE name = ?1")?
        .exists([domain])?)
}

/// What [`Store::delete_user`] removed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UserDeleted {
    pub address: String,
    pub messages_purged: usize,
    pub aliases_removed: Vec<String>,
}

/// What [`Store::remove_domain`] removed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DomainRemoved {
    pub name: String,
    pub users: Vec<String>,
    pub aliases: Vec<String>,
}

/// NIST SP 800-63B's floor, below every configurable policy (`[passwords] min_length` is at
/// least this); the policy itself is applied by the caller (`rampart::password_policy`).
const PASSWORD_FLOOR: usize = 8;

/// Refuses a password below the floor (every backend applies it).
pub fn check_floor(password: &str) -> Result<()> {
    if password.chars().count() < PASSWORD_FLOOR {
        return Err(StoreError::Invalid(format!(
            "the password is shorter than {PASSWORD_FLOOR} characters; choose a longer one"
        )));
    }
    Ok(())
}

/// The error for a send-as grant (NC-2.1.7) that does not exist, as every backend words it.
pub fn no_send_as(user: &str, address: &str) -> StoreError {
    StoreError::Invalid(format!("{user} has no grant to send as {address}"))
}

/// The trace event of a send-as grant withdrawn (NC-2.1.7, AL-3.1), as every backend records it.
pub fn send_as_removed(user: &str, address: &str) -> TraceEvent {
    let mut e = TraceEvent::new(
        "send-as-removed",
        format!("{user} may no longer send as {address}; removed by the administrator"),
    );
    e.sender = Some(address.to_owned());
    e
}

/// The error for an address that is no user, as every backend words it.
pub fn no_user(address: &str) -> StoreError {
    StoreError::Invalid(format!("no user {address}; see rampart user list"))
}

/// An Argon2id PHC string of `password` (NC-2.1.4), as every backend stores it.
pub fn hash_password(password: &str) -> Result<String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| StoreError::Invalid(format!("cannot hash the password: {e}")))
}

/// Whether `password` matches a stored Argon2id PHC string.
pub fn verify_password_hash(hash: &str, password: &str) -> Result<bool> {
    let parsed = PasswordHash::new(hash)
        .map_err(|e| StoreError::Invalid(format!("stored hash unreadable: {e}")))?;
    Ok(Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok())
}

/// Lower-cases and checks a domain name for `domain add`.
pub fn normalise_domain(name: &str) -> Result<String> {
    let d = name.trim().to_ascii_lowercase();
    let ok = d.len() <= 253
        && d.contains('.')
        && d.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if ok {
        Ok(d)
    } else {
        Err(StoreError::Invalid(format!(
            "`{name}` is not a domain name; use e.g. agency.example (letters, digits, hyphens, dots)"
        )))
    }
}

/// Checks an address that we create (user or alias): a plain dot-atom local part without any of
/// the characters relay tricks rely on (`%`, `!`, quotes, `@`).
pub fn normalise_local_address(address: &str) -> Result<String> {
    let a = address.trim().to_ascii_lowercase();
    let invalid = || {
        StoreError::Invalid(format!(
            "`{address}` is not a valid address; use name@domain with letters, digits and . _ + -"
        ))
    };
    let (local, domain) = a.rsplit_once('@').ok_or_else(invalid)?;
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'+' | b'-'));
    if !local_ok {
        return Err(invalid());
    }
    let domain = normalise_domain(domain)?;
    Ok(format!("{local}@{domain}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (Store, tempdir::Dir) {
        let d = tempdir::Dir::new();
        (Store::open(d.path()).unwrap(), d)
    }

    #[test]
    fn users_aliases_and_resolution() {
        let (s, _d) = store();
        s.add_domain("Example.TEST").unwrap();
        s.add_user("Alice@example.test", "correct horse battery")
            .unwrap();
        s.add_user("bob@example.test", "correct horse battery")
            .unwrap();
        s.add_alias("team@example.test", "alice@example.test")
            .unwrap();
        s.add_alias("team@example.test", "bob@example.test")
            .unwrap();
        s.add_alias("postmaster@example.test", "team@example.test")
            .unwrap();

        let r = s
            .resolve_recipient("POSTMASTER@EXAMPLE.test")
            .unwrap()
            .unwrap();
        assert_eq!(r.mailboxes, vec!["alice@example.test", "bob@example.test"]);
        assert_eq!(
            s.resolve_recipient("nobody@example.test").unwrap(),
            Err(RecipientError::NoSuchUser)
        );
        assert_eq!(
            s.resolve_recipient("alice@example.test.evil").unwrap(),
            Err(RecipientError::ForeignDomain)
        );
        assert!(s
            .verify_password("alice@example.test", "correct horse battery")
            .unwrap());
        assert!(!s
            .verify_password("alice@example.test", "wrong horse battery")
            .unwrap());
        // The hash is Argon2id (NC-2.1.4), never the password.
        let hash: String = s
            .read(|c| Ok(c.query_row("SELECT password_hash FROM users LIMIT 1", [], |r| r.get(0))?))
            .unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
    }

    #[test]
    fn refuses_what_it_should() {
        let (s, _d) = store();
        s.add_domain("example.test").unwrap();
        assert!(s.add_domain("example.test").is_err());
        assert!(s.add_user("a@other.test", "long enough password").is_err());
        assert!(s
            .add_user("a%b@example.test", "long enough password")
            .is_err());
        assert!(s.add_user("a@example.test", "short").is_err());
        assert!(s.add_user("a@example.test", "7 chars").is_err());
        // AL-4.2: no alias forwards outside.
        let e = s
            .add_alias("fwd@example.test", "someone@gmail.example")
            .unwrap_err();
        assert!(e.to_string().contains("AL-4.2"), "{e}");
        assert!(
            s.users().unwrap().is_empty(),
            "NC-2.1.2: no account was created"
        );
    }
}

#[cfg(test)]
mod removal_tests {
    use super::tempdir;
    use crate::Store;

    #[test]
    fn users_domains_and_aliases_are_removed_with_what_refers_to_them() {
        let d = tempdir::Dir::new();
        let s = Store::open(d.path()).unwrap();
        s.add_domain("example.test").unwrap();
        s.add_user("alice@example.test", "correct horse battery")
            .unwrap();
        s.add_user("bob@example.test", "correct horse battery")
            .unwrap();
        s.add_alias("team@example.test", "alice@example.test")
            .unwrap();
        s.add_alias("team@example.test", "bob@example.test")
            .unwrap();
        assert!(s.delete_user("nobody@example.test", false).is_err());
        let gone = s.delete_user("alice@example.test", false).unwrap();
        assert_eq!(gone.aliases_removed, vec!["team@example.test"]);
        assert_eq!(s.users().unwrap(), vec!["bob@example.test"]);
        assert!(!s
            .verify_password("alice@example.test", "correct horse battery")
            .unwrap());
        // The alias keeps its other target.
        assert_eq!(
            s.aliases().unwrap(),
            vec![("team@example.test".into(), "bob@example.test".into())]
        );
        let e = s.remove_domain("example.test", false).unwrap_err();
        assert!(
            e.to_string().contains("bob@example.test")
                && e.to_string().contains("team@example.test"),
            "{e}"
        );
        assert!(s
            .remove_alias("team@example.test", Some("x@example.test"))
            .is_err());
        assert_eq!(
            s.remove_alias("team@example.test", None).unwrap(),
            vec!["bob@example.test"]
        );
        let r = s.remove_domain("example.test", true).unwrap();
        assert_eq!(r.users, vec!["bob@example.test"]);
        assert!(s.domains().unwrap().is_empty() && s.users().unwrap().is_empty());
        assert!(s.remove_domain("example.test", true).is_err());
    }

    #[test]
    fn set_password_replaces_the_old_one() {
        let d = tempdir::Dir::new();
        let s = Store::open(d.path()).unwrap();
        s.add_domain("example.test").unwrap();
        s.add_user("alice@example.test", "correct horse battery")
            .unwrap();
        s.set_password("alice@example.test", "rivet tundra mellow kiosk")
            .unwrap();
        assert!(!s
            .verify_password("alice@example.test", "correct horse battery")
            .unwrap());
        assert!(s
            .verify_password("alice@example.test", "rivet tundra mellow kiosk")
            .unwrap());
        assert!(s
            .set_password("nobody@example.test", "rivet tundra mellow kiosk")
            .is_err());
        assert!(s.set_password("alice@example.test", "short").is_err());
    }
}

/// A temporary directory for tests, removed on drop.
#[cfg(test)]
pub(crate) mod tempdir {
    pub struct Dir(std::path::PathBuf);
    impl Dir {
        pub fn new() -> Dir {
            let p = std::env::temp_dir().join(format!(
                "rampart-store-test-{}",
                hex(&crate::random_bytes::<8>())
            ));
            std::fs::create_dir_all(&p).unwrap();
            Dir(p)
        }
        pub fn path(&self) -> &std::path::Path {
            &self.0
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }
}
