//! Mailbox/get, /changes, /query, /queryChanges and /set (RFC 8621 §2), and the steps every
//! mail method shares: make delivered mail visible ([`ready`]) and answer a type's /changes
//! from the store's change log ([`changes`]).

mod query;
mod set;

pub(crate) use query::query_changes_from;
pub(crate) use set::set_error;

use rampart_jmap::args::Args;
use rampart_jmap::methods::changes::{ChangesArgs, ChangesResponse};
use rampart_jmap::methods::get::{select, GetArgs, GetResponse};
use rampart_jmap::{Access, CallContext, MethodError};
use rampart_store::mail::{Kind, MailboxInfo};
use serde_json::{json, Map, Value};

use crate::account::{self, MailAccount};
use crate::error::{method_error, server_fail};
use crate::{ids, MailMethods, Responses};

/// The most ids one /changes answer carries (RFC 8620 §5.2 lets the server cap maxChanges).
pub(crate) const MAX_CHANGES: usize = 5_000;

pub(crate) async fn call(
    m: &MailMethods,
    cx: &mut CallContext,
    method: &str,
    args: Map<String, Value>,
) -> Result<Responses, MethodError> {
    let out = match method {
        "get" => get(m, cx, args).await?,
        "changes" => changes(m, cx, args, Kind::Mailbox, ids::MAILBOX).await?,
        "query" => query::query(m, cx, args).await?,
        "queryChanges" => query::query_changes(m, cx, args).await?,
        "set" => set::set(m, cx, args).await?,
        _ => return Err(MethodError::unknown_method(&format!("Mailbox/{method}"))),
    };
    Ok(vec![(format!("Mailbox/{method}"), out)])
}

/// Before any read: indexes the account's delivered mail (the store defers header parsing to
/// this), so what the answer shows includes everything delivered so far.
pub(crate) async fn ready(m: &MailMethods, a: &MailAccount) -> Result<(), MethodError> {
    m.store
        .index_pending(&a.owner)
        .await
        .map_err(method_error)?;
    Ok(())
}

/// The state string of `kind` in the account.
pub(crate) async fn state(
    m: &MailMethods,
    a: &MailAccount,
    kind: Kind,
) -> Result<String, MethodError> {
    m.store
        .mail_state(&a.owner, kind)
        .await
        .map_err(|e| server_fail(&e))
}

/// The account's mailboxes; an account without any gets its role mailboxes first.
pub(crate) async fn mailboxes(
    m: &MailMethods,
    a: &MailAccount,
) -> Result<Vec<MailboxInfo>, MethodError> {
    let list = m
        .store
        .mailbox_get(&a.owner)
        .await
        .map_err(|e| server_fail(&e))?;
    if !list.is_empty() {
        return Ok(list);
    }
    m.store
        .mailbox_ensure(&a.owner)
        .await
        .map_err(|e| server_fail(&e))?;
    m.store
        .mailbox_get(&a.owner)
        .await
        .map_err(|e| server_fail(&e))
}

/// Foo/changes for the types the store's change log keeps (Mailbox, Email, Thread): the log
/// pages itself at a state boundary, so more than maxChanges is `hasMoreChanges`, never an
/// error; an unknown or pruned state is cannotCalculateChanges.
pub(crate) async fn changes(
    m: &MailMethods,
    cx: &CallContext,
    args: Map<String, Value>,
    kind: Kind,
    letter: char,
) -> Result<Map<String, Value>, MethodError> {
    let mut a = Args::new(args);
    let c = ChangesArgs::parse(&mut a, cx)?;
    a.finish()?;
    let account = account::resolve(cx, &c.account_id)?;
    ready(m, &account).await?;
    let max = c
        .max_changes
        .map_or(MAX_CHANGES, |n| usize::try_from(n).unwrap_or(MAX_CHANGES))
        .min(MAX_CHANGES);
    let ch = m
        .store
        .mail_changes(&account.owner, kind, &c.since_state, Some(max))
        .await
        .map_err(method_error)?;
    // RFC 8621 §2.2: when no updated mailbox changed its own properties, only counts did.
    let counts_only = kind == Kind::Mailbox && !ch.updated.is_empty() && {
        let props = m
            .store
            .mailbox_props_changed(&account.owner, &c.since_state)
            .await
            .map_err(method_error)?;
        !ch.updated.iter().any(|u| props.contains(u))
    };
    let name = |v: Vec<i64>| v.into_iter().map(|n| ids::make(letter, n)).collect();
    let mut out = ChangesResponse {
        account_id: account.id.clone(),
        old_state: c.since_state.clone(),
        new_state: ch.new_state,
        has_more_changes: ch.has_more_changes,
        created: name(ch.created),
        updated: name(ch.updated),
        destroyed: name(ch.destroyed),
    }
    .into_arguments();
    if kind == Kind::Mailbox {
        // Null: "fetch every property" (something besides counts may have changed).
        let props = if counts_only {
            json!([
                "totalEmails",
                "unreadEmails",
                "totalThreads",
                "unreadThreads"
            ])
        } else {
            Value::Null
        };
        out.insert("updatedProperties".into(), props);
    }
    Ok(out)
}

/// Every Mailbox property (RFC 8621 §2.1).
const PROPERTIES: [&str; 11] = [
    "id",
    "name",
    "parentId",
    "role",
    "sortOrder",
    "totalEmails",
    "unreadEmails",
    "totalThreads",
    "unreadThreads",
    "myRights",
    "isSubscribed",
];

/// RFC 8621 §2.1 MailboxRights for the caller: a read-only or send-as delegate reads only; the
/// Inbox cannot be deleted (delivery needs it).
pub(crate) fn rights(access: Access, role: Option<&str>) -> Value {
    let write = matches!(access, Access::Owner | Access::DelegateFull);
    json!({
        "mayReadItems": true,
        "mayAddItems": write,
        "mayRemoveItems": write,
        "maySetSeen": write,
        "maySetKeywords": write,
        "mayCreateChild": write,
        "mayRename": write,
        "mayDelete": write && role != Some("inbox"),
        "maySubmit": access.may_send(),
    })
}

/// A mailbox as JMAP shows it, with the properties asked for.
pub(crate) fn to_json(b: &MailboxInfo, access: Access, props: &[String]) -> Value {
    let mut o = Map::new();
    for p in props {
        let v = match p.as_str() {
            "id" => ids::mailbox(b.id).into(),
            "name" => b.name.clone().into(),
            "parentId" => b.parent.map(ids::mailbox).into(),
            "role" => b.role.clone().into(),
            "sortOrder" => b.sort_order.into(),
            "totalEmails" => b.total_emails.into(),
            "unreadEmails" => b.unread_emails.into(),
            "totalThreads" => b.total_threads.into(),
            "unreadThreads" => b.unread_threads.into(),
            "myRights" => rights(access, b.role.as_deref()),
            "isSubscribed" => b.subscribed.into(),
            _ => continue,
        };
        o.insert(p.clone(), v);
    }
    Value::Object(o)
}

async fn get(
    m: &MailMethods,
    cx: &CallContext,
    args: Map<String, Value>,
) -> Result<Map<String, Value>, MethodError> {
    let mut a = Args::new(args);
    let g = GetArgs::parse(&mut a, cx)?;
    a.finish()?;
    let props = g.properties_or(&PROPERTIES, &PROPERTIES)?;
    let account = account::resolve(cx, &g.account_id)?;
    ready(m, &account).await?;
    // The state first: a change racing this read shows up at the next /changes.
    let state = state(m, &account, Kind::Mailbox).await?;
    let all = mailboxes(m, &account).await?;
    let (chosen, not_found) = select(&g, cx, &all, |id| {
        ids::parse(ids::MAILBOX, id).and_then(|n| all.iter().find(|b| b.id == n))
    })?;
    let list = chosen
        .into_iter()
        .map(|b| to_json(b, account.access, &props))
        .collect();
    Ok(GetResponse {
        account_id: account.id,
        state,
        list,
        not_found,
    }
    .into_arguments())
}
