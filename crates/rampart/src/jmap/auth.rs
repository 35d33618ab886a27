//! Who may use JMAP: HTTP Basic against the same Argon2id accounts as SMTP AUTH, and bearer
//! tokens (`rampart user token add`), both through the same guard as SMTP AUTH (NC-2.1.4: the
//! same growing delays and blocks, whatever the service); and the accounts a user reaches:
//! their own, and the mailboxes others delegated to them (`rampart mailbox grant`).
//!
//! NC-2.4.1: every failed login here (JMAP Basic and Bearer, the webmail's sign-in) is counted
//! by the IDS's brute-force detector per address and per account, and is a trace event `auth`
//! (so a `rampart::mail` log line, which contrib/fail2ban's filter reads).
//!
//! AL-3.1: logins, failed logins, token use and a delegate's access go to the mailbox audit.
//! Every request carries its credentials, so a login is recorded once per client (account,
//! address, user agent, credential) per hour, not once per request.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rampart_jmap::http::{Credentials, WEBMAIL_SERVICE};
use rampart_jmap::{Access, Account, Origin, User};
use rampart_jmap_mail::ids;
use rampart_smtp::geoip::login_event;
use rampart_store::grants::{Grant, Rights};
use rampart_store::mailbox_audit::op;
use rampart_store::tokens::{Scope, TokenCheck};
use rampart_store::web_sessions::{csrf_token, SessionCheck, SessionLimits};
use rampart_store::{ActorKind, MailboxEvent, TraceEvent};

use super::JmapBackend;

/// How long a client's login stands before it is recorded again (AL-3.1).
const LOGIN_RECORDED_EVERY: Duration = Duration::from_secs(3600);
/// Clients remembered before the expired ones are swept.
const LOGIN_SWEEP_AT: usize = 10_000;
/// NC-2.1.8: clients remembered at most; past this (many user agents within the hour) the log
/// starts over, which records some logins twice rather than hold unbounded memory.
const LOGIN_MAX: usize = 100_000;

/// The clients whose login was recorded within [`LOGIN_RECORDED_EVERY`].
#[derive(Default)]
pub(super) struct LoginLog {
    seen: Mutex<HashMap<(String, IpAddr, String, String), Instant>>,
}

impl LoginLog {
    /// True when this client's login is to be recorded now (first in the hour).
    fn is_new(&self, user: &str, ip: IpAddr, user_agent: &str, credential: &str) -> bool {
        let now = Instant::now();
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if seen.len() > LOGIN_SWEEP_AT {
            seen.retain(|_, t| now.duration_since(*t) < LOGIN_RECORDED_EVERY);
            if seen.len() > LOGIN_MAX {
                seen.clear();
            }
        }
        let key = (user.into(), ip, user_agent.into(), credential.into());
        match seen.get(&key) {
            Some(t) if now.duration_since(*t) < LOGIN_RECORDED_EVERY => false,
            _ => {
                seen.insert(key, now);
                true
            }
        }
    }
}

/// The user the credentials prove, or None.
pub(super) async fn authenticate(
    b: &JmapBackend,
    credentials: &Credentials,
    origin: &Origin,
) -> Option<User> {
    let ip = origin.ip?;
    let address = match credentials {
        Credentials::Basic { username, password } => {
            basic(b, username, password, origin, ip).await.ok()
        }
        Credentials::Bearer(token) => bearer(b, token, origin, ip).await,
        Credentials::Session {
            token,
            csrf,
            changes,
        } => session(b, token, csrf.as_deref(), *changes, ip).await,
    }?;
    let grants = account_ready(b, &address).await?;
    let credential = match credentials {
        Credentials::Basic { .. } => "basic",
        Credentials::Bearer(_) => "bearer",
        // The webmail's sign-in recorded the login (see `sign_in`).
        Credentials::Session { .. } => return Some(user_for(&address, &grants)),
    };
    let ua = origin.user_agent.clone().unwrap_or_default();
    if b.logins.is_new(&address, ip, &ua, credential) {
        record_login(b, &address, &grants, origin, ip, credential).await;
    }
    Some(user_for(&address, &grants))
}

/// Why a sign-in with a password did not succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NotSignedIn {
    /// A wrong password, an unknown or disabled account, or an address the guard blocks.
    Refused,
    /// The store could not answer (the password check, the role mailboxes, the grants): the
    /// password was not judged, and nothing is said of it.
    Unavailable,
}

/// The webmail's sign-in: the password through the same guard as SMTP AUTH and JMAP (NC-2.1.4),
/// then a `login` in the audit (and `delegate-access` where the user reaches others' mail).
/// The address (lower case). Grants that cannot be read refuse the sign-in for now: a session
/// whose `delegate-access` events were never written would reach others' mail unaudited (AL-3.1).
pub(crate) async fn sign_in(
    b: &JmapBackend,
    username: &str,
    password: &str,
    origin: &Origin,
) -> Result<String, NotSignedIn> {
    let ip = origin.ip.ok_or(NotSignedIn::Refused)?;
    let address = basic(b, username, password, origin, ip).await?;
    let grants = account_ready(b, &address)
        .await
        .ok_or(NotSignedIn::Unavailable)?;
    record_login(b, &address, &grants, origin, ip, "password").await;
    Ok(address)
}

/// A signed-in user's account made ready: its role mailboxes, and the grants that let it reach
/// others' mail. None (logged) when the store cannot do either: no access is given without the
/// grants that decide it and the audit of their use.
async fn account_ready(b: &JmapBackend, address: &str) -> Option<Vec<Grant>> {
    if let Err(e) = b.store.mailbox_ensure(address).await {
        tracing::error!(error = %e, "the role mailboxes could not be created");
        return None;
    }
    match b.store.grants_to(address).await {
        Ok(g) => Some(g),
        Err(e) => {
            tracing::error!(error = %e, "the delegation grants could not be read");
            None
        }
    }
}

/// The webmail's session cookie: a live session of an enabled account, from an address the
/// guard does not block; a request that changes something must carry the session's CSRF token.
async fn session(
    b: &JmapBackend,
    token: &str,
    csrf: Option<&str>,
    changes: bool,
    ip: IpAddr,
) -> Option<String> {
    if b.ctx.auth_guard.is_blocked(ip) {
        return None;
    }
    match b.store.web_session_check(token, session_limits(b)).await {
        Ok(SessionCheck::Valid { account }) => {
            if changes && !csrf.is_some_and(|c| csrf_matches(token, c)) {
                tracing::warn!(client = %ip, "webmail request without its CSRF token refused");
                return None;
            }
            Some(account)
        }
        Ok(_) => None,
        Err(e) => {
            tracing::error!(error = %e, "session check failed");
            None
        }
    }
}

/// Whether credentials accepted when a push connection began still stand: a webmail session
/// must still be live (signed out, expired or of a disabled account since: not), from an
/// address the guard does not block. A peek, not a use: an open push connection does not keep
/// the session from going idle. Basic and Bearer stand as they were.
pub(super) async fn still_valid(
    b: &JmapBackend,
    credentials: &Credentials,
    origin: &Origin,
) -> bool {
    let Credentials::Session { token, .. } = credentials else {
        return true;
    };
    if origin.ip.is_none_or(|ip| b.ctx.auth_guard.is_blocked(ip)) {
        return false;
    }
    matches!(
        b.store.web_session_peek(token, session_limits(b)).await,
        Ok(SessionCheck::Valid { .. })
    )
}

/// `[webmail]`'s session limits.
fn session_limits(b: &JmapBackend) -> SessionLimits {
    let w = &b.ctx.config.webmail;
    SessionLimits {
        idle: w.idle_micros(),
        max_age: w.max_age_micros(),
    }
}

/// Whether `presented` is the CSRF token of session `token`, compared in constant time.
pub(crate) fn csrf_matches(token: &str, presented: &str) -> bool {
    constant_eq(&csrf_token(token), presented)
}

/// Whether two secrets are equal, in time that does not depend on where they differ.
pub(crate) fn constant_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

/// HTTP Basic: the password through the login guard. The address (lower case).
async fn basic(
    b: &JmapBackend,
    username: &str,
    password: &str,
    origin: &Origin,
    ip: IpAddr,
) -> Result<String, NotSignedIn> {
    let guard = &b.ctx.auth_guard;
    // NC-2.1.4/NC-2.1.8: the same guard as SMTP AUTH, so failures here and there add up per
    // address and per account; counted against the address, and a hashing slot, before any hash.
    let attempt = guard.begin(ip).map_err(|_| NotSignedIn::Refused)?;
    let slot = attempt
        .hash_slot()
        .await
        .map_err(|_| NotSignedIn::Refused)?;
    let store = b.store.clone();
    let (u, p) = (username.to_owned(), password.to_owned());
    let ok = tokio::spawn(async move {
        let _slot = slot;
        // A disabled account's password is never right (the directory refuses it).
        store.verify_password(&u, &p).await
    })
    .await
    .map_err(|_| NotSignedIn::Unavailable)?;
    match ok {
        Ok(true) => {
            attempt.succeeded(username);
            Ok(username.to_ascii_lowercase())
        }
        Ok(false) => {
            let (delay, blocked) = attempt.failed(username, password);
            let account = printable(username);
            let how = if origin.service == WEBMAIL_SERVICE {
                "webmail"
            } else {
                "JMAP Basic"
            };
            login_failed(b, ip, &account, password, how, delay, blocked).await;
            record_failure(b, &account, origin, ip, None).await;
            tokio::time::sleep(delay).await;
            Err(NotSignedIn::Refused)
        }
        Err(e) => {
            tracing::error!(error = %e, "password check failed");
            Err(NotSignedIn::Unavailable)
        }
    }
}

/// `Authorization: Bearer`: a token of scope `jmap`. Refusals count in the login guard like a
/// wrong password (a token cannot be guessed, but a client hammering with bad ones is blocked),
/// and a blocked address is refused. A token costs one hash and one lookup, not an Argon2id
/// hash, so requests with tokens are not counted as attempts in flight: a client's parallel
/// requests are not taken for a guessing burst.
async fn bearer(b: &JmapBackend, token: &str, origin: &Origin, ip: IpAddr) -> Option<String> {
    let guard = &b.ctx.auth_guard;
    if guard.is_blocked(ip) {
        return None;
    }
    let check = match b.store.token_authenticate(token, Scope::Jmap).await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "token check failed");
            return None;
        }
    };
    let (account, why) = match check {
        TokenCheck::Valid {
            id,
            account,
            first_use_this_hour,
        } => {
            guard.succeeded(ip, &account);
            if first_use_this_hour {
                // AL-3.1: a token's use, at most once per token per hour (its last_used too).
                let mut e = client_event(&account, op::TOKEN_USE, format!("token {id}"), origin);
                e.location = b.ctx.locator.locate(ip);
                b.store.mailbox_record(vec![e]).await;
            }
            return Some(account);
        }
        TokenCheck::Unknown => ("(unknown token)".to_owned(), None),
        TokenCheck::Expired { id, account } => (account, Some(format!("token {id} expired"))),
        TokenCheck::WrongScope { id, account } => {
            (account, Some(format!("token {id} is not for jmap (scope)")))
        }
        TokenCheck::Disabled { id, account } => (
            account,
            Some(format!("token {id}: the account is disabled")),
        ),
    };
    // NC-2.4.1: the token is the secret: a client repeating one expired token counts once.
    let (delay, blocked) = guard.failed(ip, &account, token);
    login_failed(
        b,
        ip,
        &printable(&account),
        token,
        "JMAP Bearer",
        delay,
        blocked,
    )
    .await;
    if let Some(why) = why {
        record_failure(b, &account, origin, ip, Some(&format!("Bearer: {why}"))).await;
    }
    tokio::time::sleep(delay).await;
    None
}

/// Client-supplied text fit for the trace: no control characters, at most 100 characters.
fn printable(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(100).collect()
}

/// NC-2.4.1: a failed login over HTTPS (`how`: webmail sign-in, JMAP Basic, JMAP Bearer) goes
/// to the brute-force detector (per address and per account, a repeated secret once: only its
/// keyed hash is kept) and is a trace event `auth` worded as SMTP AUTH's (`failed for
/// <account>`), so the same fail2ban filter finds it.
async fn login_failed(
    b: &JmapBackend,
    ip: IpAddr,
    account: &str,
    secret: &str,
    how: &str,
    delay: Duration,
    blocked: bool,
) {
    b.ctx.ids.failed_login(ip, account, secret, how).await;
    let mut e = TraceEvent::new(
        "auth",
        format!(
            "failed for {account} ({how}); answered after {} ms{}",
            delay.as_millis(),
            if blocked { "; address blocked" } else { "" }
        ),
    );
    e.client = Some(ip.to_string());
    b.store.record(e).await;
    tracing::warn!(client = %ip, account = %account, "{how} failed");
}

/// An event of `account`'s audit by its owner, with the request's client and user agent.
pub(crate) fn client_event(
    account: &str,
    operation: &str,
    detail: String,
    origin: &Origin,
) -> MailboxEvent {
    let mut e = MailboxEvent::new(account, origin.service, operation, detail);
    e.client = origin.ip.map(|ip| ip.to_string());
    e.user_agent = origin.user_agent.clone();
    e
}

/// AL-3.1: `login-failed` on an account that exists (guessed names fill no audit); `why` None
/// for a password refused.
async fn record_failure(
    b: &JmapBackend,
    account: &str,
    origin: &Origin,
    ip: IpAddr,
    why: Option<&str>,
) {
    let why = match (b.store.account_disabled(account).await, why) {
        (Ok(Some(_)), Some(why)) => why.to_owned(),
        (Ok(Some(true)), None) => "Basic: the account is disabled".to_owned(),
        (Ok(Some(false)), None) => "Basic: wrong password".to_owned(),
        _ => return,
    };
    let e = login_event(
        &b.ctx.locator,
        account,
        origin.service,
        false,
        ip,
        origin.user_agent.clone(),
        why,
    );
    b.store.mailbox_record(vec![e]).await;
}

/// AL-3.1: a new client's `login`, and a `delegate-access` in each mailbox the user reaches as
/// a delegate (once per login: the session offers that account from then on).
async fn record_login(
    b: &JmapBackend,
    address: &str,
    grants: &[Grant],
    origin: &Origin,
    ip: IpAddr,
    credential: &str,
) {
    let location = b.ctx.locator.locate(ip);
    let mut events = vec![login_event(
        &b.ctx.locator,
        address,
        origin.service,
        true,
        ip,
        origin.user_agent.clone(),
        credential,
    )];
    for g in grants {
        let mut e = client_event(
            &g.owner,
            op::DELEGATE_ACCESS,
            format!("{} logged in with {} rights", g.delegate, g.rights.as_str()),
            origin,
        );
        e.actor = g.delegate.clone();
        e.actor_kind = ActorKind::Delegate;
        e.location = location.clone();
        events.push(e);
    }
    b.store.mailbox_record(events).await;
}

/// The user `address` with their own account, and one account per mailbox delegated to them
/// (not personal; read-only for `read` rights).
pub(super) fn user_for(address: &str, grants: &[Grant]) -> User {
    let id = ids::account(address);
    let own = account(address, Access::Owner);
    let primary_accounts = own
        .account_capabilities
        .keys()
        .map(|c| (c.clone(), id.clone()))
        .collect();
    let mut accounts = vec![own];
    for g in grants {
        let access = match g.rights {
            Rights::Read => Access::DelegateRead,
            Rights::SendAs => Access::DelegateSendAs,
            Rights::Full => Access::DelegateFull,
        };
        accounts.push(account(&g.owner, access));
    }
    User {
        username: address.to_owned(),
        accounts,
        primary_accounts,
        origin: Origin::default(),
    }
}

fn account(owner: &str, access: Access) -> Account {
    Account {
        id: ids::account(owner),
        name: owner.to_owned(),
        is_personal: access == Access::Owner,
        // Only a read grant is read-only: send-as may submit, full may change.
        is_read_only: access == Access::DelegateRead,
        account_capabilities: rampart_jmap_mail::account_capabilities(access),
        owner: owner.to_owned(),
        access,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delegate_sees_the_owners_mailbox_as_a_second_account() {
        let grants = vec![
            Grant {
                owner: "alice@example.test".into(),
                delegate: "bob@example.test".into(),
                rights: Rights::Read,
                created: 0,
            },
            Grant {
                owner: "carol@example.test".into(),
                delegate: "bob@example.test".into(),
                rights: Rights::SendAs,
                created: 0,
            },
        ];
        let u = user_for("bob@example.test", &grants);
        assert_eq!(u.accounts.len(), 3);
        let alice = u.account(&ids::account("alice@example.test")).unwrap();
        assert!(!alice.is_personal && alice.is_read_only);
        assert_eq!(alice.access, Access::DelegateRead);
        let carol = u.account(&ids::account("carol@example.test")).unwrap();
        assert!(!carol.is_read_only && carol.access.may_send());
        // The primary accounts stay the user's own.
        assert!(u
            .primary_accounts
            .values()
            .all(|a| *a == ids::account("bob@example.test")));
    }

    #[test]
    fn a_login_is_recorded_once_per_client_and_hour() {
        let log = LoginLog::default();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        assert!(log.is_new("a@x.test", ip, "ua", "basic"));
        assert!(!log.is_new("a@x.test", ip, "ua", "basic"));
        assert!(log.is_new("a@x.test", ip, "other", "basic"));
        assert!(log.is_new("a@x.test", ip, "ua", "bearer"));
    }
}
