//! Email/copy (RFC 8621 §4.7, RFC 8620 §5.4): emails of one account the user reaches into
//! another (a delegate's own and the owner's), one stored body for both; with
//! `onSuccessDestroyOriginal`, the originals are then destroyed by an implicit Email/set.

use std::collections::BTreeSet;

use rampart_jmap::args::Args;
use rampart_jmap::methods::set::SetResponse;
use rampart_jmap::{CallContext, MethodError, MethodErrorType, SetError};
use rampart_store::mail::Kind;
use rampart_store::mailbox_audit::op;
use serde_json::{Map, Value};

use super::set::audit::Changes;
use crate::account::{self, MailAccount};
use crate::audit::event;
use crate::error::{server_fail, set_error};
use crate::mailbox::{mailboxes, ready, state};
use crate::{ids, MailMethods, Responses};

/// The arguments of Email/copy.
struct CopyArgs {
    from_account_id: String,
    if_from_in_state: Option<String>,
    account_id: String,
    if_in_state: Option<String>,
    create: Vec<(String, Map<String, Value>)>,
    destroy_original: bool,
    destroy_from_if_in_state: Option<String>,
}

fn parse(args: Map<String, Value>, cx: &CallContext) -> Result<CopyArgs, MethodError> {
    let mut a = Args::new(args);
    let from_account_id = a.take_id("fromAccountId")?;
    let if_from_in_state = a.take_opt_string("ifFromInState")?;
    let account_id = a.take_id("accountId")?;
    let if_in_state = a.take_opt_string("ifInState")?;
    let create = a
        .take_opt_object("create")?
        .ok_or_else(|| MethodError::invalid_arguments("create is required"))?;
    let destroy_original = a.take_bool_or("onSuccessDestroyOriginal", false)?;
    let destroy_from_if_in_state = a.take_opt_string("destroyFromIfInState")?;
    a.finish()?;
    let create = create
        .into_iter()
        .map(|(k, v)| match v {
            Value::Object(o) if rampart_jmap::args::is_valid_id(&k) => Ok((k, o)),
            _ => Err(MethodError::invalid_arguments(
                "create: each creation id maps to an object",
            )),
        })
        .collect::<Result<Vec<_>, _>>()?;
    // RFC 8620 §5.4: the accounts must differ.
    if from_account_id == account_id {
        return Err(MethodError::invalid_arguments(
            "fromAccountId and accountId must differ",
        ));
    }
    if create.len() as u64 > cx.limits.max_objects_in_set {
        return Err(MethodError::request_too_large(format!(
            "more than maxObjectsInSet ({}) emails",
            cx.limits.max_objects_in_set
        )));
    }
    Ok(CopyArgs {
        from_account_id,
        if_from_in_state,
        account_id,
        if_in_state,
        create,
        destroy_original,
        destroy_from_if_in_state,
    })
}

/// One email to copy: the source, and its mailboxes and keywords in the target account.
struct Item {
    source: i64,
    mailboxes: Vec<i64>,
    keywords: Vec<String>,
}

/// Reads one create entry; the names of the properties that are wrong.
fn item(
    cx: &CallContext,
    o: &Map<String, Value>,
    known: &BTreeSet<i64>,
) -> Result<Option<Item>, Vec<String>> {
    let mut bad = Vec::new();
    let source = match o.get("id") {
        Some(Value::String(s)) => ids::parse(ids::EMAIL, s),
        _ => {
            bad.push("id".to_owned());
            None
        }
    };
    let all_true = |m: &Map<String, Value>| m.values().all(|v| v == &Value::Bool(true));
    let mut mailboxes = Vec::new();
    match o.get("mailboxIds") {
        Some(Value::Object(b)) if all_true(b) && !b.is_empty() => {
            for k in b.keys() {
                let id = cx.resolve_id(k).unwrap_or_else(|| k.clone());
                match ids::parse(ids::MAILBOX, &id).filter(|n| known.contains(n)) {
                    Some(n) => mailboxes.push(n),
                    None => {
                        bad.push("mailboxIds".into());
                        break;
                    }
                }
            }
        }
        _ => bad.push("mailboxIds".into()),
    }
    let keywords = match o.get("keywords") {
        None => Vec::new(),
        Some(Value::Object(k)) if all_true(k) => k.keys().cloned().collect(),
        Some(_) => {
            bad.push("keywords".into());
            Vec::new()
        }
    };
    // The store keeps the original's receivedAt; any other property is not the client's to set.
    for k in o.keys() {
        if !["id", "mailboxIds", "keywords"].contains(&k.as_str()) {
            bad.push(k.clone());
        }
    }
    if !bad.is_empty() {
        return Err(bad);
    }
    Ok(source.map(|source| Item {
        source,
        mailboxes,
        keywords,
    }))
}

pub(crate) async fn copy(
    m: &MailMethods,
    cx: &mut CallContext,
    args: Map<String, Value>,
) -> Result<Responses, MethodError> {
    let c = parse(args, cx)?;
    // RFC 8620 §5.4: a source account the user does not reach is fromAccountNotFound.
    let from = account::resolve(cx, &c.from_account_id).map_err(|e| {
        if e.kind == MethodErrorType::AccountNotFound {
            MethodError::with(MethodErrorType::FromAccountNotFound, "no such account")
        } else {
            e
        }
    })?;
    let to = account::resolve_writable(cx, &c.account_id)?;
    ready(m, &from).await?;
    ready(m, &to).await?;
    let from_state = state(m, &from, Kind::Email).await?;
    if c.if_from_in_state
        .as_ref()
        .is_some_and(|s| *s != from_state)
    {
        return Err(MethodError::state_mismatch());
    }
    let old_state = state(m, &to, Kind::Email).await?;
    if c.if_in_state.as_ref().is_some_and(|s| *s != old_state) {
        return Err(MethodError::state_mismatch());
    }
    let known: BTreeSet<i64> = mailboxes(m, &to).await?.iter().map(|b| b.id).collect();
    let mut r = SetResponse::new(&to.id, Some(old_state));
    let mut copied: Vec<(i64, i64)> = Vec::new();
    for (cid, o) in &c.create {
        let it = match item(cx, o, &known) {
            Ok(Some(it)) => it,
            Ok(None) => {
                r.not_created(cid, SetError::not_found());
                continue;
            }
            Err(bad) => {
                r.not_created(cid, SetError::invalid_properties(bad));
                continue;
            }
        };
        let made = m
            .store
            .email_copy(&from.owner, it.source, &to.owner, it.mailboxes, it.keywords)
            .await;
        match made {
            Ok(id) => copied.push((it.source, id)),
            Err(e) => r.not_created(cid, set_error(e)?),
        }
    }
    // The copies get their thread when indexed: do it now, so the answer can name it.
    ready(m, &to).await?;
    let new_ids: Vec<i64> = copied.iter().map(|(_, n)| *n).collect();
    let records = m
        .store
        .email_get(&to.owner, &new_ids)
        .await
        .map_err(|e| server_fail(&e))?;
    let mut done = copied.iter();
    for (cid, _) in &c.create {
        if r.not_created.contains_key(cid) {
            continue;
        }
        let Some((_, id)) = done.next() else { break };
        let rec = records.iter().find(|e| e.id == *id);
        let mut props = Map::new();
        props.insert("blobId".into(), ids::make(ids::MESSAGE_BLOB, *id).into());
        props.insert(
            "threadId".into(),
            rec.and_then(|e| e.thread).map(ids::thread).into(),
        );
        props.insert("size".into(), rec.map(|e| e.size).into());
        r.created(cx, cid, &ids::email(*id), props);
    }
    if !copied.is_empty() {
        let list: Vec<String> = copied
            .iter()
            .take(20)
            .map(|(s, n)| format!("{}->{}", ids::email(*s), ids::email(*n)))
            .collect();
        let more = copied.len().saturating_sub(20);
        let detail = format!(
            "{} emails copied from {}: {}{}",
            copied.len(),
            from.owner,
            list.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        );
        // AL-3.1: the copy is an event of the account that received it.
        m.audit(vec![event(cx, &to, op::COPY, detail)]).await;
    }
    r.new_state = state(m, &to, Kind::Email).await?;
    let mut out = vec![("Email/copy".to_owned(), copy_arguments(r, &from.id))];
    if c.destroy_original && !copied.is_empty() {
        let originals: Vec<i64> = copied.iter().map(|(s, _)| *s).collect();
        out.push(destroy_originals(m, cx, &from, originals, c.destroy_from_if_in_state).await?);
    }
    Ok(out)
}

/// The /copy response (RFC 8620 §5.4): a /set response without updates and destroys, with
/// `fromAccountId`.
fn copy_arguments(r: SetResponse, from_id: &str) -> Map<String, Value> {
    let mut m = r.into_arguments();
    for k in ["updated", "destroyed", "notUpdated", "notDestroyed"] {
        m.remove(k);
    }
    m.insert("fromAccountId".into(), from_id.into());
    m
}

/// RFC 8620 §5.4 onSuccessDestroyOriginal: an implicit Email/set destroying the originals in
/// the source account, with `destroyFromIfInState` as its ifInState; its response follows the
/// copy's (an error response when it fails as a whole).
async fn destroy_originals(
    m: &MailMethods,
    cx: &CallContext,
    from: &MailAccount,
    originals: Vec<i64>,
    if_in_state: Option<String>,
) -> Result<(String, Map<String, Value>), MethodError> {
    if !from.may_write() {
        let e = MethodError::new(MethodErrorType::AccountReadOnly);
        return Ok(("error".into(), e.to_arguments()));
    }
    let old = state(m, from, Kind::Email).await?;
    if if_in_state.as_ref().is_some_and(|s| *s != old) {
        return Ok(("error".into(), MethodError::state_mismatch().to_arguments()));
    }
    let mut r = SetResponse::new(&from.id, Some(old));
    let found = m
        .store
        .email_destroy(&from.owner, originals.clone())
        .await
        .map_err(crate::error::method_error)?;
    let mut changes = Changes::default();
    for (id, gone) in originals.into_iter().zip(found) {
        if gone {
            r.destroyed(&ids::email(id));
            changes.destroyed.push(id);
        } else {
            r.not_destroyed(&ids::email(id), SetError::not_found());
        }
    }
    // AL-3.1: the originals' hard delete, an event of the source account.
    m.audit(changes.events(cx, from)).await;
    r.new_state = state(m, from, Kind::Email).await?;
    Ok(("Email/set".into(), r.into_arguments()))
}

#[cfg(test)]
mod tests;
