//! The directory pages' reads and changes that the store traits do not carry, on either store:
//! the embedded one (on the blocking pool: Argon2id hashing, SQLite) or the database several
//! nodes share (issue 20), so an administrator changes users, grants, tokens, domains and
//! aliases from the console of any node. The store functions are the ones `rampart user|domain|
//! alias ...` call on each backend; errors come back as the sentence to show.

use rampart_store::tokens::{Logins, Scope, TokenInfo};
use rampart_store::{DomainRemoved, MailboxEvent, Store, UserDeleted};

use super::{Console, LocalStore};

/// An error as the sentence a page shows.
fn text(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Runs `f` on the embedded store on the blocking pool.
async fn blocking<T: Send + 'static>(
    s: &Store,
    f: impl FnOnce(&Store) -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    let s = s.clone();
    tokio::task::spawn_blocking(move || f(&s))
        .await
        .unwrap_or_else(|e| Err(e.to_string()))
}

/// A user as the users page lists it: address, disabled, the addresses it may send as.
pub(super) type UserRow = (String, bool, Vec<String>);

/// A user's page: disabled, emails in the mailbox, send-as grants, tokens; `None`: no such user.
pub(super) type UserDetail = (bool, u64, Vec<String>, Vec<TokenInfo>);

fn grants_of(grants: &[(String, String)], user: &str) -> Vec<String> {
    grants
        .iter()
        .filter(|(u, _)| u == user)
        .map(|(_, a)| a.clone())
        .collect()
}

/// Every user with its state and send-as grants.
pub(super) async fn users(c: &Console) -> Result<Vec<UserRow>, String> {
    match &c.local {
        LocalStore::Sqlite(s) => {
            blocking(s, |s| {
                let grants = s.send_as_grants().map_err(text)?;
                s.users()
                    .map_err(text)?
                    .into_iter()
                    .map(|u| {
                        let disabled = s.account_disabled(&u).map_err(text)?.unwrap_or(false);
                        let send_as = grants_of(&grants, &u);
                        Ok((u, disabled, send_as))
                    })
                    .collect()
            })
            .await
        }
        LocalStore::Postgresql(pg) => {
            let grants = pg.send_as_grants().await.map_err(text)?;
            let users = pg.users_disabled().await.map_err(text)?;
            Ok(users
                .into_iter()
                .map(|(u, disabled)| {
                    let send_as = grants_of(&grants, &u);
                    (u, disabled, send_as)
                })
                .collect())
        }
    }
}

/// One user's page.
pub(super) async fn user(c: &Console, address: &str) -> Result<Option<UserDetail>, String> {
    let a = address.to_owned();
    match &c.local {
        LocalStore::Sqlite(s) => {
            blocking(s, move |s| {
                let Some(disabled) = s.account_disabled(&a).map_err(text)? else {
                    return Ok(None);
                };
                let emails = s.user_email_count(&a).map_err(text)?.unwrap_or(0);
                let send_as = grants_of(&s.send_as_grants().map_err(text)?, &a);
                let tokens = s.tokens(&a).map_err(text)?;
                Ok(Some((disabled, emails, send_as, tokens)))
            })
            .await
        }
        LocalStore::Postgresql(pg) => {
            let Some(disabled) = pg.account_disabled(&a).await.map_err(text)? else {
                return Ok(None);
            };
            let emails = pg.user_email_count(&a).await.map_err(text)?.unwrap_or(0);
            let send_as = grants_of(&pg.send_as_grants().await.map_err(text)?, &a);
            let tokens = pg.tokens(&a).await.map_err(text)?;
            Ok(Some((disabled, emails, send_as, tokens)))
        }
    }
}

/// A new password (the caller applied the policy); the user's webmail sessions end.
pub(super) async fn set_password(
    c: &Console,
    address: &str,
    password: String,
) -> Result<(), String> {
    let a = address.to_owned();
    match &c.local {
        LocalStore::Sqlite(s) => {
            blocking(s, move |s| s.set_password(&a, &password).map_err(text)).await
        }
        LocalStore::Postgresql(pg) => pg.set_password(&a, &password).await.map_err(text),
    }
}

/// Disables or enables every login of the user.
pub(super) async fn set_disabled(c: &Console, address: &str, disabled: bool) -> Result<(), String> {
    let a = address.to_owned();
    match &c.local {
        LocalStore::Sqlite(s) => {
            blocking(s, move |s| s.set_disabled(&a, disabled).map_err(text)).await
        }
        LocalStore::Postgresql(pg) => pg.set_disabled(&a, disabled).await.map_err(text),
    }
}

/// Deletes the user and its account (its mail only with `purge`).
pub(super) async fn delete_user(
    c: &Console,
    address: &str,
    purge: bool,
) -> Result<UserDeleted, String> {
    let a = address.to_owned();
    match &c.local {
        LocalStore::Sqlite(s) => blocking(s, move |s| s.delete_user(&a, purge).map_err(text)).await,
        LocalStore::Postgresql(pg) => pg.delete_user(&a, purge).await.map_err(text),
    }
}

/// Withdraws a send-as grant (NC-2.1.7).
pub(super) async fn remove_send_as(c: &Console, user: &str, address: &str) -> Result<(), String> {
    let (u, a) = (user.to_owned(), address.to_owned());
    match &c.local {
        LocalStore::Sqlite(s) => blocking(s, move |s| s.remove_send_as(&u, &a).map_err(text)).await,
        LocalStore::Postgresql(pg) => pg.remove_send_as(&u, &a).await.map_err(text),
    }
}

/// Removes a domain (with its users and aliases only with `force`).
pub(super) async fn remove_domain(
    c: &Console,
    name: &str,
    force: bool,
) -> Result<DomainRemoved, String> {
    let n = name.to_owned();
    match &c.local {
        LocalStore::Sqlite(s) => {
            blocking(s, move |s| s.remove_domain(&n, force).map_err(text)).await
        }
        LocalStore::Postgresql(pg) => pg.remove_domain(&n, force).await.map_err(text),
    }
}

/// Removes an alias (one target, or every target when `target` is empty); the targets removed.
pub(super) async fn remove_alias(
    c: &Console,
    alias: &str,
    target: &str,
) -> Result<Vec<String>, String> {
    let (a, t) = (alias.to_owned(), target.to_owned());
    let target = |t: &str| (!t.is_empty()).then_some(t.to_owned());
    match &c.local {
        LocalStore::Sqlite(s) => {
            blocking(s, move |s| {
                s.remove_alias(&a, target(&t).as_deref()).map_err(text)
            })
            .await
        }
        LocalStore::Postgresql(pg) => pg
            .remove_alias(&a, target(&t).as_deref())
            .await
            .map_err(text),
    }
}

/// AL-3.1: records `event` in the user's mailbox audit before the action is reported.
async fn audit(c: &Console, event: MailboxEvent) -> Result<(), String> {
    match &c.local {
        LocalStore::Sqlite(s) => {
            blocking(s, move |s| s.mailbox_record_now(&[event]).map_err(text)).await
        }
        LocalStore::Postgresql(pg) => pg.insert_mailbox_events(&[event]).await.map_err(text),
    }
}

/// Creates a token; `event` (given the token's record) goes to the mailbox audit, and a token
/// the audit could not record is revoked: it was never shown, so nothing is lost.
pub(super) async fn token_create(
    c: &Console,
    address: &str,
    name: &str,
    scopes: Vec<Scope>,
    expires: Option<i64>,
    event: impl FnOnce(&TokenInfo) -> MailboxEvent,
) -> Result<(String, TokenInfo), String> {
    let (a, n) = (address.to_owned(), name.to_owned());
    let (token, info) = match &c.local {
        LocalStore::Sqlite(s) => {
            blocking(s, move |s| {
                s.token_create(&a, &n, &scopes, expires).map_err(text)
            })
            .await?
        }
        LocalStore::Postgresql(pg) => pg
            .token_create(&a, &n, &scopes, expires)
            .await
            .map_err(text)?,
    };
    if let Err(err) = audit(c, event(&info)).await {
        let _ = token_revoke(c, address, &info.id).await;
        return Err(format!(
            "the mailbox audit could not record it, so it was revoked: {err}"
        ));
    }
    Ok((token, info))
}

/// Revokes a token; false when the user has no such token.
async fn token_revoke(c: &Console, address: &str, id: &str) -> Result<bool, String> {
    let (a, t) = (address.to_owned(), id.to_owned());
    match &c.local {
        LocalStore::Sqlite(s) => blocking(s, move |s| s.token_revoke(&a, &t).map_err(text)).await,
        LocalStore::Postgresql(pg) => pg.token_revoke(&a, &t).await.map_err(text),
    }
}

/// Revokes a token and records it in the user's mailbox audit (AL-3.1).
pub(super) async fn token_revoke_audited(
    c: &Console,
    address: &str,
    id: &str,
    event: MailboxEvent,
) -> Result<(), String> {
    if !token_revoke(c, address, id).await? {
        return Err(format!("{address} has no token {id}"));
    }
    audit(c, event)
        .await
        .map_err(|e| format!("revoked, but the mailbox audit could not record it: {e}"))
}
