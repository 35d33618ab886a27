//! Email/import (RFC 8621 §4.8): an uploaded message becomes an email of the account, in the
//! mailboxes and with the keywords given.
//!
//! The message is the gateway's to judge first: one the checks' reading refuses (two From
//! fields, a bare CR, a header block two readers take differently) is `invalidEmail`, never
//! stored, so no client is ever shown a message the checks could not read one way. Larger than
//! the server's message size is `tooLarge`; past the account's quota `overQuota`.

use rampart_jmap::args::Args;
use rampart_jmap::{CallContext, MethodError, SetError, SetErrorType};
use rampart_store::mail::Kind;
use rampart_store::mailbox_audit::op;
use serde_json::{json, Map, Value};

use super::blob;
use crate::account::{self, MailAccount};
use crate::error::{server_fail, set_error};
use crate::ids;
use crate::{MailMethods, Responses};

/// `mailboxIds` of a new email: an object of ids (or `#creationId`s of this request) to true,
/// at least one.
pub(super) fn mailbox_ids(cx: &CallContext, v: Option<&Value>) -> Result<Vec<i64>, SetError> {
    let bad = || SetError::invalid_properties(["mailboxIds"]);
    let Some(Value::Object(o)) = v else {
        return Err(bad());
    };
    let mut out = Vec::with_capacity(o.len());
    for (k, v) in o {
        if v != &Value::Bool(true) {
            return Err(bad());
        }
        let id = cx.resolve_id(k).ok_or_else(bad)?;
        out.push(ids::parse(ids::MAILBOX, &id).ok_or_else(bad)?);
    }
    if out.is_empty() {
        return Err(bad());
    }
    Ok(out)
}

/// `keywords`: an object of keywords to true (absent: none).
pub(super) fn keywords(v: Option<&Value>) -> Result<Vec<String>, SetError> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Object(o)) if o.values().all(|v| v == &Value::Bool(true)) => {
            Ok(o.keys().cloned().collect())
        }
        Some(_) => Err(SetError::invalid_properties(["keywords"])),
    }
}

/// `receivedAt`: a UTCDate, microseconds since the epoch (absent: now).
pub(super) fn received_at(v: Option<&Value>) -> Result<Option<i64>, SetError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => mail_parser::DateTime::parse_rfc3339(s)
            .filter(|d| d.is_valid())
            .map(|d| Some(d.to_timestamp().saturating_mul(1_000_000)))
            .ok_or_else(|| SetError::invalid_properties(["receivedAt"])),
        Some(_) => Err(SetError::invalid_properties(["receivedAt"])),
    }
}

/// Checks `raw` the way the gateway does and stores it: the new email's id. Shared with
/// Email/set create.
pub(super) async fn store_message(
    m: &MailMethods,
    account: &MailAccount,
    raw: Vec<u8>,
    mailboxes: Vec<i64>,
    keywords: Vec<String>,
    received_at: Option<i64>,
) -> Result<Result<i64, SetError>, MethodError> {
    if raw.len() as u64 > m.max_message_size {
        return Ok(Err(SetError::with(
            SetErrorType::TooLarge,
            format!("the message is larger than {} octets", m.max_message_size),
        )));
    }
    // One message, one meaning: what the checks would refuse is not stored, and header bytes
    // that are not UTF-8 are stored repaired, as the gateway stores mail it receives.
    let (raw, refusal) = tokio::task::spawn_blocking(move || {
        let raw = rampart_checks::message::repair(&raw).map_or(raw, |r| r.bytes);
        let refusal = rampart_checks::message::read(&raw).err();
        (raw, refusal)
    })
    .await
    .map_err(|e| MethodError::server_fail(format!("a task failed: {e}")))?;
    if let Some(r) = refusal {
        return Ok(Err(SetError::with(
            SetErrorType::Other("invalidEmail"),
            r.text,
        )));
    }
    match m
        .store
        .email_import(&account.owner, raw, mailboxes, keywords, received_at)
        .await
    {
        Ok(id) => Ok(Ok(id)),
        Err(e) => set_error(e).map(Err),
    }
}

/// The server-set properties of a stored email: {id, blobId, threadId, size}.
pub(super) async fn created_properties(
    m: &MailMethods,
    account: &MailAccount,
    id: i64,
) -> Result<Map<String, Value>, MethodError> {
    let rec = m
        .store
        .email_get(&account.owner, &[id])
        .await
        .map_err(|e| server_fail(&e))?
        .pop();
    let mut out = Map::new();
    out.insert("id".into(), ids::email(id).into());
    out.insert("blobId".into(), ids::make(ids::MESSAGE_BLOB, id).into());
    out.insert(
        "threadId".into(),
        rec.as_ref()
            .and_then(|r| r.thread)
            .map_or(Value::Null, |t| ids::thread(t).into()),
    );
    out.insert("size".into(), json!(rec.map_or(0, |r| r.size.max(0))));
    Ok(out)
}

pub(crate) async fn import(
    m: &MailMethods,
    cx: &mut CallContext,
    args: Map<String, Value>,
) -> Result<Responses, MethodError> {
    let mut args = Args::new(args);
    let account_id = args.take_id("accountId")?;
    let if_in_state = args.take_opt_string("ifInState")?;
    let emails = args
        .take_opt_object("emails")?
        .ok_or_else(|| MethodError::invalid_arguments("emails is required"))?;
    args.finish()?;
    let account = account::resolve_writable(cx, &account_id)?;
    if emails.len() as u64 > cx.limits.max_objects_in_set {
        return Err(MethodError::request_too_large(format!(
            "more than maxObjectsInSet ({}) emails",
            cx.limits.max_objects_in_set
        )));
    }
    let old_state = m
        .store
        .mail_state(&account.owner, Kind::Email)
        .await
        .map_err(|e| server_fail(&e))?;
    if if_in_state.as_ref().is_some_and(|s| *s != old_state) {
        return Err(MethodError::state_mismatch());
    }
    let mut created = Map::new();
    let mut not_created = Map::new();
    let mut events = Vec::new();
    for (creation_id, v) in emails {
        let Value::Object(o) = v else {
            return Err(MethodError::invalid_arguments(
                "emails: values must be EmailImport objects",
            ));
        };
        match import_one(m, cx, &account, &o).await? {
            Ok((id, props)) => {
                let email_id = ids::email(id);
                // AL-3.1: an import is a mailbox event, with the new email and its source.
                events.push(crate::audit::event(
                    cx,
                    &account,
                    op::IMPORT,
                    format!(
                        "{email_id} from {}",
                        o.get("blobId").and_then(Value::as_str).unwrap_or("")
                    ),
                ));
                cx.add_created_id(creation_id.clone(), email_id);
                created.insert(creation_id, Value::Object(props));
            }
            Err(e) => {
                not_created.insert(creation_id, e.to_value());
            }
        }
    }
    m.audit(events).await;
    let new_state = m
        .store
        .mail_state(&account.owner, Kind::Email)
        .await
        .map_err(|e| server_fail(&e))?;
    let or_null = |o: Map<String, Value>| {
        if o.is_empty() {
            Value::Null
        } else {
            Value::Object(o)
        }
    };
    let mut out = Map::new();
    out.insert("accountId".into(), account.id.clone().into());
    out.insert("oldState".into(), old_state.into());
    out.insert("newState".into(), new_state.into());
    out.insert("created".into(), or_null(created));
    out.insert("notCreated".into(), or_null(not_created));
    Ok(vec![("Email/import".into(), out)])
}

/// One EmailImport object: the new email's id and server-set properties, or why not.
async fn import_one(
    m: &MailMethods,
    cx: &CallContext,
    account: &MailAccount,
    o: &Map<String, Value>,
) -> Result<Result<(i64, Map<String, Value>), SetError>, MethodError> {
    if let Some(k) = o
        .keys()
        .find(|k| !["blobId", "mailboxIds", "keywords", "receivedAt"].contains(&k.as_str()))
    {
        return Ok(Err(SetError::invalid_properties([k.clone()])));
    }
    let Some(blob_id) = o.get("blobId").and_then(Value::as_str) else {
        return Ok(Err(SetError::invalid_properties(["blobId"])));
    };
    let (mailboxes, keywords, received_at) = match (
        mailbox_ids(cx, o.get("mailboxIds")),
        keywords(o.get("keywords")),
        received_at(o.get("receivedAt")),
    ) {
        (Ok(m), Ok(k), Ok(r)) => (m, k, r),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return Ok(Err(e)),
    };
    // Another account's blob is no blob here (RFC 8620 §6: blob ids are per account).
    let Some(data) = blob::fetch(&m.store, &account.owner, blob_id)
        .await
        .map_err(|e| server_fail(&e))?
    else {
        return Ok(Err(SetError::with(
            SetErrorType::NotFound,
            format!("no blob {blob_id}"),
        )));
    };
    let id = match store_message(m, account, data.bytes, mailboxes, keywords, received_at).await? {
        Ok(id) => id,
        Err(e) => return Ok(Err(e)),
    };
    Ok(Ok((id, created_properties(m, account, id).await?)))
}
