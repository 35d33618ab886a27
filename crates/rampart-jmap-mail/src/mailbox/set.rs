//! Mailbox/set (RFC 8621 §2.5): create, update (rename, move, role, order, subscription) and
//! destroy, with `onDestroyRemoveEmails`; each mailbox create, rename or move, and delete is a
//! mailbox-audit event (AL-3.1).

use rampart_jmap::args::Args;
use rampart_jmap::methods::set::{SetArgs, SetResponse};
use rampart_jmap::{CallContext, MethodError, SetError, SetErrorType};
use rampart_store::mail::{
    EmailFilter, EmailQuery, FilterCondition, Kind, MailError, MailboxInfo, MailboxUpdate,
    NewMailbox,
};
use rampart_store::mailbox_audit::op;
use serde_json::{Map, Value};

use super::{mailboxes, ready, rights, state};
use crate::account::{self, MailAccount};
use crate::audit::event;
use crate::{ids, MailMethods};

/// The properties the server sets: a client may not (RFC 8620 §5.3 invalidProperties).
const SERVER_SET: [&str; 6] = [
    "id",
    "totalEmails",
    "unreadEmails",
    "totalThreads",
    "unreadThreads",
    "myRights",
];

/// A store refusal as a SetError; `invalidProperties` names the property the store's message
/// starts with ("name: …", "parentId: …", "role: …").
pub(crate) fn set_error(e: MailError) -> Result<SetError, MethodError> {
    match e {
        MailError::InvalidProperties(d) => {
            let prop = d.split(':').next().unwrap_or("").trim().to_owned();
            let mut s = SetError::invalid_properties([prop]);
            s.description = Some(d);
            Ok(s)
        }
        other => crate::error::set_error(other),
    }
}

/// A `parentId` value: null, a mailbox id, or `#creationId` of one created earlier.
fn parent(cx: &CallContext, v: &Value) -> Result<Option<i64>, ()> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => cx
            .resolve_id(s)
            .and_then(|id| ids::parse(ids::MAILBOX, &id))
            .map(Some)
            .ok_or(()),
        _ => Err(()),
    }
}

/// Reads the create or update properties; the names of those that are wrong.
fn read(
    cx: &CallContext,
    obj: &Map<String, Value>,
    u: &mut MailboxUpdate,
) -> Result<(), Vec<String>> {
    let mut bad = Vec::new();
    for (k, v) in obj {
        let ok = match (k.as_str(), v) {
            ("name", Value::String(s)) => {
                u.name = Some(s.clone());
                true
            }
            ("parentId", v) => match parent(cx, v) {
                Ok(p) => {
                    u.parent = Some(p);
                    true
                }
                Err(()) => false,
            },
            ("role", Value::Null) => {
                u.role = Some(None);
                true
            }
            ("role", Value::String(s)) => {
                u.role = Some(Some(s.clone()));
                true
            }
            ("sortOrder", Value::Number(n)) => match n.as_u64().and_then(|n| i64::try_from(n).ok())
            {
                Some(n) if n <= rampart_jmap::args::MAX_SAFE_INT => {
                    u.sort_order = Some(n);
                    true
                }
                _ => false,
            },
            ("isSubscribed", Value::Bool(b)) => {
                u.subscribed = Some(*b);
                true
            }
            _ => false,
        };
        if !ok {
            bad.push(k.clone());
        }
    }
    if bad.is_empty() {
        Ok(())
    } else {
        Err(bad)
    }
}

pub(super) async fn set(
    m: &MailMethods,
    cx: &mut CallContext,
    args: Map<String, Value>,
) -> Result<Map<String, Value>, MethodError> {
    let mut a = Args::new(args);
    let s = SetArgs::parse(&mut a, cx)?;
    let remove_emails = a.take_bool_or("onDestroyRemoveEmails", false)?;
    a.finish()?;
    let account = account::resolve_writable(cx, &s.account_id)?;
    ready(m, &account).await?;
    let old_state = state(m, &account, Kind::Mailbox).await?;
    s.check_state(&old_state)?;
    let mut r = SetResponse::new(&account.id, Some(old_state));
    let mut events = Vec::new();
    for (cid, obj) in &s.create {
        create(m, cx, &account, &mut r, &mut events, cid, obj).await?;
    }
    for (raw, patch) in &s.update {
        update(m, cx, &account, &mut r, &mut events, raw, patch).await?;
    }
    for raw in &s.destroy {
        destroy(m, cx, &account, &mut r, &mut events, raw, remove_emails).await?;
    }
    // AL-3.1: one event per mailbox created, renamed or moved, and deleted.
    m.audit(events).await;
    r.new_state = state(m, &account, Kind::Mailbox).await?;
    Ok(r.into_arguments())
}

async fn create(
    m: &MailMethods,
    cx: &mut CallContext,
    account: &MailAccount,
    r: &mut SetResponse,
    events: &mut Vec<rampart_store::MailboxEvent>,
    cid: &str,
    obj: &Map<String, Value>,
) -> Result<(), MethodError> {
    let mut u = MailboxUpdate::default();
    let mut bad = read(cx, obj, &mut u).err().unwrap_or_default();
    bad.extend(
        obj.keys()
            .filter(|k| SERVER_SET.contains(&k.as_str()))
            .cloned(),
    );
    if u.name.is_none() && !bad.iter().any(|b| b == "name") {
        bad.push("name".into());
    }
    if !bad.is_empty() {
        bad.sort();
        bad.dedup();
        r.not_created(cid, SetError::invalid_properties(bad));
        return Ok(());
    }
    let new = NewMailbox {
        name: u.name.clone().unwrap_or_default(),
        parent: u.parent.flatten(),
        role: u.role.clone().flatten(),
        sort_order: u.sort_order.unwrap_or(0),
        // A mailbox a user makes is one they want to see.
        subscribed: u.subscribed.unwrap_or(true),
    };
    match m.store.mailbox_create(&account.owner, new.clone()).await {
        Ok(id) => {
            let mut props = Map::new();
            for (k, v) in [
                ("totalEmails", 0.into()),
                ("unreadEmails", 0.into()),
                ("totalThreads", 0.into()),
                ("unreadThreads", 0.into()),
                ("myRights", rights(account.access, new.role.as_deref())),
            ] {
                props.insert(k.into(), v);
            }
            // RFC 8620 §5.3: the defaults the server filled in.
            if u.parent.is_none() {
                props.insert("parentId".into(), Value::Null);
            }
            if u.role.is_none() {
                props.insert("role".into(), Value::Null);
            }
            if u.sort_order.is_none() {
                props.insert("sortOrder".into(), 0.into());
            }
            if u.subscribed.is_none() {
                props.insert("isSubscribed".into(), true.into());
            }
            r.created(cx, cid, &ids::mailbox(id), props);
            events.push(event(
                cx,
                account,
                op::MAILBOX_CREATE,
                format!("created {} {:?}", ids::mailbox(id), new.name),
            ));
        }
        Err(e) => r.not_created(cid, set_error(e)?),
    }
    Ok(())
}

async fn update(
    m: &MailMethods,
    cx: &CallContext,
    account: &MailAccount,
    r: &mut SetResponse,
    events: &mut Vec<rampart_store::MailboxEvent>,
    raw: &str,
    patch: &Map<String, Value>,
) -> Result<(), MethodError> {
    let shown = cx.resolve_id(raw).unwrap_or_else(|| raw.to_owned());
    let Some(id) = ids::parse(ids::MAILBOX, &shown) else {
        r.not_updated(raw, SetError::not_found());
        return Ok(());
    };
    let before: Option<MailboxInfo> = mailboxes(m, account)
        .await?
        .into_iter()
        .find(|b| b.id == id);
    let Some(before) = before else {
        r.not_updated(raw, SetError::not_found());
        return Ok(());
    };
    let mut u = MailboxUpdate::default();
    let mut bad = read(cx, patch, &mut u).err().unwrap_or_default();
    // A server-set property may only be "set" to the value it has (RFC 8620 §5.3): refused.
    bad.extend(
        patch
            .keys()
            .filter(|k| SERVER_SET.contains(&k.as_str()))
            .cloned(),
    );
    if !bad.is_empty() {
        bad.sort();
        bad.dedup();
        r.not_updated(raw, SetError::invalid_properties(bad));
        return Ok(());
    }
    let renamed = u.name.as_ref().is_some_and(|n| *n != before.name);
    let moved = u.parent.is_some_and(|p| p != before.parent);
    match m.store.mailbox_update(&account.owner, id, u.clone()).await {
        Ok(_) => {
            r.updated(&shown, None);
            if renamed || moved {
                let mut d = ids::mailbox(id);
                if renamed {
                    d.push_str(&format!(
                        " renamed from {:?} to {:?}",
                        before.name,
                        u.name.unwrap_or_default()
                    ));
                }
                if moved {
                    let name = |p: Option<i64>| p.map_or("top level".into(), ids::mailbox);
                    d.push_str(&format!(
                        " moved from {} to {}",
                        name(before.parent),
                        name(u.parent.flatten())
                    ));
                }
                events.push(event(cx, account, op::MAILBOX_RENAME, d));
            }
        }
        Err(e) => r.not_updated(&shown, set_error(e)?),
    }
    Ok(())
}

async fn destroy(
    m: &MailMethods,
    cx: &CallContext,
    account: &MailAccount,
    r: &mut SetResponse,
    events: &mut Vec<rampart_store::MailboxEvent>,
    raw: &str,
    remove_emails: bool,
) -> Result<(), MethodError> {
    let shown = cx.resolve_id(raw).unwrap_or_else(|| raw.to_owned());
    let Some(id) = ids::parse(ids::MAILBOX, &shown) else {
        r.not_destroyed(raw, SetError::not_found());
        return Ok(());
    };
    let before = mailboxes(m, account)
        .await?
        .into_iter()
        .find(|b| b.id == id);
    let Some(before) = before else {
        r.not_destroyed(raw, SetError::not_found());
        return Ok(());
    };
    // onDestroyRemoveEmails destroys the emails that are only in this mailbox: find them
    // first, for the audit's hard delete.
    let only_here = if remove_emails && before.total_emails > 0 {
        emails_only_in(m, account, id).await?
    } else {
        Vec::new()
    };
    match m
        .store
        .mailbox_destroy(&account.owner, id, remove_emails)
        .await
    {
        Ok(()) => {
            r.destroyed(&shown);
            if !only_here.is_empty() {
                let named: Vec<String> =
                    only_here.iter().take(20).map(|e| ids::email(*e)).collect();
                let more = only_here.len().saturating_sub(20);
                events.push(event(
                    cx,
                    account,
                    op::HARD_DELETE,
                    format!(
                        "{} emails destroyed with mailbox {}: {}{}",
                        only_here.len(),
                        ids::mailbox(id),
                        named.join(", "),
                        if more > 0 {
                            format!(" and {more} more")
                        } else {
                            String::new()
                        }
                    ),
                ));
            }
            events.push(event(
                cx,
                account,
                op::MAILBOX_DELETE,
                format!(
                    "destroyed {} {:?} holding {} emails{}",
                    ids::mailbox(id),
                    before.name,
                    before.total_emails,
                    if remove_emails && before.total_emails > 0 {
                        " (onDestroyRemoveEmails: those only in it destroyed, the others left it)"
                    } else {
                        ""
                    }
                ),
            ));
        }
        Err(MailError::Forbidden(d)) => {
            r.not_destroyed(&shown, SetError::with(SetErrorType::Forbidden, d))
        }
        Err(e) => r.not_destroyed(&shown, set_error(e)?),
    }
    Ok(())
}

/// The emails of mailbox `id` that are in no other mailbox.
async fn emails_only_in(
    m: &MailMethods,
    account: &MailAccount,
    id: i64,
) -> Result<Vec<i64>, MethodError> {
    let q = EmailQuery {
        filter: Some(EmailFilter::Condition(Box::new(FilterCondition {
            in_mailbox: Some(id),
            ..Default::default()
        }))),
        ..EmailQuery::default()
    };
    let found = m
        .store
        .email_query(&account.owner, &q)
        .await
        .map_err(crate::error::method_error)?;
    let records = m
        .store
        .email_get(&account.owner, &found.ids)
        .await
        .map_err(|e| crate::error::server_fail(&e))?;
    Ok(records
        .into_iter()
        .filter(|e| e.mailboxes == [id])
        .map(|e| e.id)
        .collect())
}
