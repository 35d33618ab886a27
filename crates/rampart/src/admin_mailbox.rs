//! The administrative commands of mailbox access: disabling accounts, users' bearer tokens,
//! delegation grants, the administrator's reading of a mailbox and the mailbox audit (AL-3.1)
//! that records all of these.

use crate::admin::{format_time, parse_time, Error};
use clap::{Args, Subcommand};
use rampart_config::Config;
use rampart_store::grants::Rights;
use rampart_store::mailbox_audit::op;
use rampart_store::tokens::{Scope, TokenInfo};
use rampart_store::{ActorKind, MailboxEvent, MailboxEventFilter, Store};
use std::io::Write;

/// The audit's service name for these commands.
const SERVICE: &str = "admin-cli";

#[derive(Subcommand)]
pub enum TokenCmd {
    /// Create a bearer token for a client of ADDRESS and print it. It is shown only this once
    /// and stored only as a hash; the client sends it as `Authorization: Bearer TOKEN`.
    Add {
        /// The user the token is for.
        address: String,
        /// A name to recognise the token by (e.g. the device).
        #[arg(long, default_value = "token")]
        name: String,
        /// What the token may be used for: jmap, submission (comma-separated or repeated).
        #[arg(long, value_delimiter = ',', default_value = "jmap")]
        scope: Vec<String>,
        /// Lifetime: 90d, 12h, 30m, or `never`.
        #[arg(long, default_value = "90d")]
        expires: String,
    },
    /// ADDRESS's tokens: id, name, scopes, created, expires, last used (recorded at most once
    /// an hour). Never the token itself.
    List {
        /// The user whose tokens to list.
        address: String,
        /// One JSON object per token.
        #[arg(long)]
        json: bool,
    },
    /// Revoke token ID of ADDRESS: it is refused from now on.
    Revoke {
        /// The user the token belongs to.
        address: String,
        /// The token's id, as `rampart user token list` shows it.
        id: String,
    },
}

#[derive(Args)]
pub struct AuditArgs {
    /// The mailbox (account) whose events to show.
    #[arg(long)]
    user: String,
    /// Start: an age (30m, 2h, 7d), RFC 3339 UTC, a date, or Unix seconds.
    #[arg(long)]
    since: Option<String>,
    /// Only these operations, comma-separated (`delete` means soft-delete and hard-delete).
    #[arg(long, value_delimiter = ',')]
    operation: Vec<String>,
    /// One JSON object per event.
    #[arg(long)]
    pub json: bool,
    /// Most events shown (the newest).
    #[arg(long, default_value_t = 10_000)]
    limit: usize,
}

/// The administrator as the audit names them: `admin:<login name>` (the uid when the name is
/// unknown).
fn admin_actor() -> String {
    format!("admin:{}", login_name())
}

#[allow(unsafe_code)]
fn login_name() -> String {
    // SAFETY: getuid has no preconditions.
    let uid = unsafe { libc::getuid() };
    // SAFETY: passwd is plain C data (integers and pointers); all zeroes is a valid value.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call; buf outlives the use of pwd's fields.
    let rc = unsafe { libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result) };
    if rc != 0 || result.is_null() || pwd.pw_name.is_null() {
        return format!("uid{uid}");
    }
    // SAFETY: pw_name points into buf, a NUL-terminated string that getpwuid_r wrote.
    let name = unsafe { std::ffi::CStr::from_ptr(pwd.pw_name) };
    name.to_string_lossy().into_owned()
}

/// An event of the `account`'s audit by the administrator, through this CLI.
pub fn admin_event(account: &str, operation: &str, detail: String) -> MailboxEvent {
    let mut e = MailboxEvent::new(account, SERVICE, operation, detail);
    e.actor = admin_actor();
    e.actor_kind = ActorKind::Administrator;
    e
}

/// Records an event; the command has already done its work, so a failure here is an error
/// the administrator sees (an unaudited action must not pass silently).
fn record(store: &Store, e: MailboxEvent) -> Result<(), Error> {
    store
        .mailbox_record_now(&[e])
        .map_err(|err| format!("the mailbox audit could not record this: {err}").into())
}

/// `rampart user disable|enable ADDRESS`.
pub fn set_disabled(store: &Store, address: &str, disabled: bool) -> Result<(), Error> {
    store.set_disabled(address, disabled)?;
    println!("{}", disabled_line(address, disabled));
    Ok(())
}

/// What `rampart user disable|enable` prints once done.
pub fn disabled_line(address: &str, disabled: bool) -> String {
    let address = address.to_ascii_lowercase();
    if disabled {
        format!("{address} disabled: no login by password, token or delegation; mail for it is still received")
    } else {
        format!("{address} enabled")
    }
}

/// A lifetime such as 90d, 12h, 30m; None for `never`.
fn parse_lifetime(s: &str) -> Result<Option<i64>, Error> {
    if s == "never" {
        return Ok(None);
    }
    let bad = || format!("--expires {s}: use a lifetime such as 90d, 12h, 30m, or never");
    let unit = s.chars().last().ok_or_else(bad)?;
    let n: i64 = s[..s.len() - unit.len_utf8()].parse().map_err(|_| bad())?;
    let secs = match unit {
        'd' => n.checked_mul(86_400),
        'h' => n.checked_mul(3_600),
        'm' => n.checked_mul(60),
        _ => None,
    }
    .filter(|s| *s > 0)
    .ok_or_else(bad)?;
    Ok(Some(secs.saturating_mul(1_000_000)))
}

/// `rampart user token ...`.
pub fn token(store: &Store, cmd: TokenCmd) -> Result<(), Error> {
    match cmd {
        TokenCmd::Add {
            address,
            name,
            scope,
            expires,
        } => {
            let (scopes, expires) = token_terms(&scope, &expires)?;
            let (token, info) = store.token_create(&address, &name, &scopes, expires)?;
            record(store, token_created_event(&info))?;
            print_token_created(&token, &info);
        }
        TokenCmd::List { address, json } => print_tokens(&store.tokens(&address)?, json)?,
        TokenCmd::Revoke { address, id } => {
            if !store.token_revoke(&address, &id)? {
                return Err(no_token(&address, &id));
            }
            record(store, token_revoked_event(&address, &id))?;
            println!("token {id} revoked");
        }
    }
    Ok(())
}

/// The scopes and the expiry time `rampart user token add` was asked for (either store).
pub fn token_terms(scope: &[String], expires: &str) -> Result<(Vec<Scope>, Option<i64>), Error> {
    let scopes = scope
        .iter()
        .map(|s| {
            Scope::parse(s.trim())
                .ok_or_else(|| format!("--scope {s} is not known; use jmap or submission"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let lifetime = parse_lifetime(expires)?;
    Ok((
        scopes,
        lifetime.map(|l| rampart_store::now_micros().saturating_add(l)),
    ))
}

/// AL-3.1: the administrator made a token for the account.
pub fn token_created_event(info: &TokenInfo) -> MailboxEvent {
    let scopes: Vec<&str> = info.scopes.iter().map(|s| s.as_str()).collect();
    admin_event(
        &info.account,
        op::TOKEN_CREATE,
        format!(
            "token {} \"{}\" scope {} expires {}",
            info.id,
            info.name,
            scopes.join(","),
            info.expires.map_or("never".into(), format_time)
        ),
    )
}

/// AL-3.1: the administrator revoked token `id`.
pub fn token_revoked_event(address: &str, id: &str) -> MailboxEvent {
    admin_event(address, op::TOKEN_REVOKE, format!("token {id}"))
}

/// The new token on stdout (the only time it is shown), what it is on stderr.
pub fn print_token_created(token: &str, info: &TokenInfo) {
    let scopes: Vec<&str> = info.scopes.iter().map(|s| s.as_str()).collect();
    eprintln!(
        "token {} for {} ({}), expires {}; it is shown only this once:",
        info.id,
        info.account,
        scopes.join(","),
        info.expires.map_or("never".into(), format_time)
    );
    println!("{token}");
}

/// `rampart user token list`'s lines, or one JSON object per token; never a token itself.
pub fn print_tokens(tokens: &[TokenInfo], json: bool) -> Result<(), Error> {
    for t in tokens {
        if json {
            println!("{}", serde_json::to_string(t)?);
        } else {
            let scopes: Vec<&str> = t.scopes.iter().map(|s| s.as_str()).collect();
            println!(
                "{}\t{}\t{}\tcreated {}\texpires {}\tlast used {}",
                t.id,
                t.name,
                scopes.join(","),
                format_time(t.created),
                t.expires.map_or("never".into(), format_time),
                t.last_used.map_or("never".into(), format_time)
            );
        }
    }
    Ok(())
}

/// `address` has no token `id`.
pub fn no_token(address: &str, id: &str) -> Error {
    format!("{address} has no token {id}; see `rampart user token list {address}`").into()
}

/// `rampart mailbox grant OWNER DELEGATE --rights R`.
pub fn grant(store: &Store, owner: &str, delegate: &str, rights: &str) -> Result<(), Error> {
    let r = parse_rights(rights)?;
    store.grant_set(owner, delegate, r)?;
    let (event, line) = granted(owner, delegate, r);
    record(store, event)?;
    println!("{line}");
    Ok(())
}

/// The rights `--rights` names.
pub fn parse_rights(rights: &str) -> Result<Rights, Error> {
    Rights::parse(rights)
        .ok_or_else(|| format!("--rights {rights} is not known; use read, send-as or full").into())
}

/// AL-3.1: the grant's audit event, and the line `rampart mailbox grant` prints (either store).
pub fn granted(owner: &str, delegate: &str, r: Rights) -> (MailboxEvent, String) {
    let (owner, delegate) = (owner.to_ascii_lowercase(), delegate.to_ascii_lowercase());
    let event = admin_event(
        &owner,
        op::GRANT,
        format!("{delegate} granted {}", r.as_str()),
    );
    let line = format!(
        "{delegate} may now reach the mailbox of {owner} ({})",
        r.as_str()
    );
    (event, line)
}

/// `rampart mailbox revoke OWNER DELEGATE`.
pub fn revoke(store: &Store, owner: &str, delegate: &str) -> Result<(), Error> {
    let (owner, delegate) = (owner.to_ascii_lowercase(), delegate.to_ascii_lowercase());
    if !store.grant_revoke(&owner, &delegate)? {
        return Err(no_grant(&owner, &delegate));
    }
    let (event, line) = revoked(&owner, &delegate);
    record(store, event)?;
    println!("{line}");
    Ok(())
}

/// `delegate` holds no grant on `owner`'s mailbox.
pub fn no_grant(owner: &str, delegate: &str) -> Error {
    format!("{delegate} holds no grant on {owner}; see `rampart mailbox grants {owner}`").into()
}

/// AL-3.1: the revocation's audit event, and the line `rampart mailbox revoke` prints.
pub fn revoked(owner: &str, delegate: &str) -> (MailboxEvent, String) {
    (
        admin_event(owner, op::GRANT, format!("{delegate} revoked")),
        format!("{delegate} may no longer reach the mailbox of {owner}"),
    )
}

/// `rampart mailbox grants [OWNER]`.
pub fn grants(store: &Store, owner: Option<&str>, json: bool) -> Result<(), Error> {
    print_grants(&store.grants(owner)?, json)
}

/// `rampart mailbox grants`' lines, or one JSON object per grant (either store).
pub fn print_grants(grants: &[rampart_store::grants::Grant], json: bool) -> Result<(), Error> {
    for g in grants {
        if json {
            println!("{}", serde_json::to_string(g)?);
            continue;
        }
        println!(
            "{}\t{}\t{}\tsince {}",
            g.owner,
            g.delegate,
            g.rights.as_str(),
            format_time(g.created)
        );
    }
    Ok(())
}

/// `rampart mailbox delete USER ID [--reason TEXT]`: the message leaves every folder of the
/// mailbox; AL-3.1 records the administrator's deletion with the reason in the same step.
pub fn delete(store: &Store, user: &str, id: i64, reason: &str) -> Result<(), Error> {
    if store.user_email_count(user)?.is_none() {
        return Err(crate::admin_user::no_user(user));
    }
    let user = user.to_ascii_lowercase();
    if !store.mailbox_delete(&user, id)? {
        return Err(no_message(&user, id));
    }
    record(store, delete_event(&user, id, reason))?;
    println!("{}", deleted_line(&user, id));
    Ok(())
}

/// No message `id` in `user`'s mailbox (`rampart mailbox show|delete`, either store).
pub fn no_message(user: &str, id: i64) -> Error {
    format!("no message {id} in the mailbox of {user}; see `rampart mailbox list {user}`").into()
}

/// AL-3.1: the administrator's delete of message `id`, with the reason.
pub fn delete_event(user: &str, id: i64, reason: &str) -> MailboxEvent {
    admin_event(
        user,
        op::HARD_DELETE,
        format!("message {id}; reason: {}", reason.trim()),
    )
}

/// What `rampart mailbox delete` prints once done.
pub fn deleted_line(user: &str, id: i64) -> String {
    format!("message {id} deleted from the mailbox of {user}")
}

/// The reason `rampart mailbox show` was given, trimmed; an error when there is none.
pub fn read_reason(reason: &str) -> Result<&str, Error> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err("--reason is empty; say why you read this mailbox (it is audited)".into());
    }
    Ok(reason)
}

/// AL-3.1: the administrator's read of message `id`, with the reason.
pub fn read_event(user: &str, id: i64, reason: &str) -> MailboxEvent {
    admin_event(
        user,
        op::ADMIN_READ,
        format!("message {id}; reason: {reason}"),
    )
}

/// `rampart mailbox show USER ID --reason TEXT`: the administrator reads a message; AL-3.1
/// records it, with the reason, before the message is shown.
pub fn show(store: &Store, user: &str, id: i64, reason: &str) -> Result<(), Error> {
    let reason = read_reason(reason)?;
    let Some(bytes) = store.mailbox_message(user, id)? else {
        return Err(no_message(user, id));
    };
    // AL-3.1: an administrator's read is recorded before anything is shown.
    record(store, read_event(user, id, reason))?;
    std::io::stdout().write_all(&bytes)?;
    Ok(())
}

/// The operations `--operation` names: `delete` is both kinds of delete.
fn operations(asked: &[String]) -> Result<Vec<String>, Error> {
    let mut out = Vec::new();
    for a in asked {
        let a = a.trim();
        if a == "delete" {
            out.extend([op::SOFT_DELETE.to_owned(), op::HARD_DELETE.to_owned()]);
        } else if op::ALL.contains(&a) {
            out.push(a.to_owned());
        } else {
            return Err(format!(
                "--operation {a} is not known; use delete, {}",
                op::ALL.join(", ")
            )
            .into());
        }
    }
    Ok(out)
}

/// `rampart mailbox audit --user U [--since] [--operation] [--json]`.
pub fn audit(config: &Config, store: &Store, a: AuditArgs) -> Result<(), Error> {
    let events = store.mailbox_events(&audit_filter(&a)?)?;
    print_audit(config, &events, a.json)
}

/// What `rampart mailbox audit` asks the store for (either store).
pub fn audit_filter(a: &AuditArgs) -> Result<MailboxEventFilter, Error> {
    let now = rampart_store::now_micros();
    Ok(MailboxEventFilter {
        account: Some(a.user.to_ascii_lowercase()),
        since: a.since.as_deref().map(|s| parse_time(s, now)).transpose()?,
        operations: operations(&a.operation)?,
        limit: Some(a.limit),
    })
}

/// `rampart mailbox audit`'s output: a table, or one JSON object per event.
pub fn print_audit(config: &Config, events: &[MailboxEvent], json: bool) -> Result<(), Error> {
    // AL-3.1 names the location of logins: say once when it cannot be known.
    let note = "location: not configured (set [audit] geoip_database to a MaxMind city database)";
    let located = config.audit.geoip_database.is_some();
    if json {
        if !located {
            eprintln!("{note}");
        }
        for e in events {
            let mut v = serde_json::to_value(e)?;
            v["time"] = format_time(e.ts).into();
            println!("{v}");
        }
        return Ok(());
    }
    if !located {
        println!("{note}");
    }
    let mut rows = vec![[
        "TIME".to_owned(),
        "OPERATION".into(),
        "ACTOR".into(),
        "SERVICE".into(),
        "CLIENT".into(),
        "LOCATION".into(),
        "USER AGENT".into(),
        "DETAIL".into(),
    ]];
    for e in events {
        rows.push([
            format_time(e.ts),
            e.operation.clone(),
            format!("{} ({})", e.actor, e.actor_kind.as_str()),
            e.service.clone(),
            e.client.clone().unwrap_or_else(|| "-".into()),
            e.location.clone().unwrap_or_else(|| "-".into()),
            e.user_agent.as_deref().map_or("-".into(), printable),
            printable(&e.detail),
        ]);
    }
    print_table(&rows);
    Ok(())
}

/// Control characters out: a user agent is the client's to choose, the terminal is ours.
fn printable(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Columns padded to their widest cell, the last one left as it is.
fn print_table(rows: &[[String; 8]]) {
    let mut widths = [0usize; 8];
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = std::io::stdout().lock();
    for r in rows {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate() {
            if i == r.len() - 1 {
                line.push_str(c);
            } else {
                line.push_str(&format!("{c:<w$}  ", w = widths[i]));
            }
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_and_operations() {
        assert_eq!(
            parse_lifetime("90d").unwrap(),
            Some(90 * 86_400 * 1_000_000)
        );
        assert_eq!(parse_lifetime("never").unwrap(), None);
        assert!(parse_lifetime("soon").is_err());
        assert!(parse_lifetime("0d").is_err());
        assert_eq!(
            operations(&["delete".into(), "read".into()]).unwrap(),
            vec!["soft-delete", "hard-delete", "read"]
        );
        let e = operations(&["frobnicate".into()]).unwrap_err().to_string();
        assert!(e.contains("login-failed") && !e.contains('\n'), "{e}");
    }
}
