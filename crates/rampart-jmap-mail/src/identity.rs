//! Identity (RFC 8621 §6): get, changes, set. Every account has an identity for its own
//! address, made on first use and not deletable; others may be created only for addresses the
//! directory lets the owner send as (NC-2.1.7: the same rule SMTP submission applies).

use rampart_jmap::args::Args;
use rampart_jmap::methods::get::{project, select, GetArgs, GetResponse};
use rampart_jmap::methods::patch::apply_patch;
use rampart_jmap::methods::set::{SetArgs, SetResponse};
use rampart_jmap::{CallContext, MethodError, SetError, SetErrorType};
use rampart_store::mailbox_audit::op;
use rampart_store::submission::{Identity, IdentityFields, SubKind};
use serde_json::{json, Map, Value};

use crate::account::{resolve, MailAccount};
use crate::error::server_fail;
use crate::ids::{self, IDENTITY};
use crate::{MailMethods, Responses};

const PROPERTIES: &[&str] = &[
    "id",
    "name",
    "email",
    "replyTo",
    "bcc",
    "textSignature",
    "htmlSignature",
    "mayDelete",
];

pub(crate) async fn call(
    m: &MailMethods,
    cx: &mut CallContext,
    method: &str,
    args: Map<String, Value>,
) -> Result<Responses, MethodError> {
    match method {
        "get" => get(m, cx, args).await,
        "changes" => {
            crate::submission::changes(m, cx, args, SubKind::Identity, IDENTITY, "Identity").await
        }
        "set" => set(m, cx, args).await,
        _ => Err(MethodError::unknown_method(&format!("Identity/{method}"))),
    }
}

/// The identity as JMAP shows it.
pub(crate) fn to_json(i: &Identity) -> Map<String, Value> {
    let list = |t: &Option<String>| {
        t.as_deref()
            .and_then(|s| serde_json::from_str::<Value>(s).ok())
            .unwrap_or(Value::Null)
    };
    let f = &i.fields;
    let v = json!({
        "id": ids::make(IDENTITY, i.id),
        "name": f.name,
        "email": f.email,
        "replyTo": list(&f.reply_to),
        "bcc": list(&f.bcc),
        "textSignature": f.text_signature,
        "htmlSignature": f.html_signature,
        "mayDelete": i.may_delete,
    });
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// The account's identities (its own made on first use).
pub(crate) async fn list(
    m: &MailMethods,
    account: &MailAccount,
) -> Result<Vec<Identity>, MethodError> {
    m.store
        .identity_list(&account.owner)
        .await
        .map_err(|e| server_fail(&e))
}

async fn get(
    m: &MailMethods,
    cx: &mut CallContext,
    args: Map<String, Value>,
) -> Result<Responses, MethodError> {
    let mut a = Args::new(args);
    let g = GetArgs::parse(&mut a, cx)?;
    a.finish()?;
    let props = g.properties_or(PROPERTIES, PROPERTIES)?;
    let account = resolve(cx, &g.account_id)?;
    let all = list(m, &account).await?;
    let state = m
        .store
        .sub_state(&account.owner, SubKind::Identity)
        .await
        .map_err(|e| server_fail(&e))?;
    let (chosen, not_found) = select(&g, cx, &all, |id| {
        ids::parse(IDENTITY, id).and_then(|n| all.iter().find(|i| i.id == n))
    })?;
    let list = chosen
        .into_iter()
        .map(|i| project(&to_json(i), &props))
        .collect();
    let r = GetResponse {
        account_id: g.account_id,
        state,
        list,
        not_found,
    };
    Ok(vec![("Identity/get".into(), r.into_arguments())])
}

/// `EmailAddress[]|null` (RFC 8621 §4.1.2.3): objects with `email` and an optional `name`.
fn address_list(v: &Value) -> Option<Option<String>> {
    match v {
        Value::Null => Some(None),
        Value::Array(items) => {
            let ok = items.iter().all(|i| {
                i.as_object().is_some_and(|o| {
                    o.get("email").is_some_and(Value::is_string)
                        && o.get("name").is_none_or(|n| n.is_null() || n.is_string())
                        && o.keys().all(|k| k == "email" || k == "name")
                })
            });
            ok.then(|| Some(v.to_string()))
        }
        _ => None,
    }
}

/// The settable properties from a full object; invalidProperties names those at fault.
fn fields_from(o: &Map<String, Value>, creating: bool) -> Result<IdentityFields, SetError> {
    let mut bad = Vec::new();
    let text = |k: &str, bad: &mut Vec<String>| match o.get(k) {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => {
            bad.push(k.to_owned());
            String::new()
        }
    };
    let name = text("name", &mut bad);
    let text_signature = text("textSignature", &mut bad);
    let html_signature = text("htmlSignature", &mut bad);
    let email = match o.get("email") {
        Some(Value::String(s)) if s.contains('@') && !s.chars().any(char::is_whitespace) => {
            s.to_ascii_lowercase()
        }
        _ => {
            bad.push("email".into());
            String::new()
        }
    };
    let mut list = |k: &str| match o.get(k).map(address_list) {
        None => None,
        Some(Some(v)) => v,
        Some(None) => {
            bad.push(k.to_owned());
            None
        }
    };
    let reply_to = list("replyTo");
    let bcc = list("bcc");
    for k in o.keys() {
        let server_set = k == "id" || k == "mayDelete";
        if !PROPERTIES.contains(&k.as_str()) || (creating && server_set) {
            bad.push(k.clone());
        }
    }
    if !bad.is_empty() {
        return Err(SetError::invalid_properties(bad));
    }
    Ok(IdentityFields {
        name,
        email,
        reply_to,
        bcc,
        text_signature,
        html_signature,
    })
}

async fn set(
    m: &MailMethods,
    cx: &mut CallContext,
    args: Map<String, Value>,
) -> Result<Responses, MethodError> {
    let mut a = Args::new(args);
    let s = SetArgs::parse(&mut a, cx)?;
    a.finish()?;
    let account = crate::account::resolve_writable(cx, &s.account_id)?;
    let existing = list(m, &account).await?;
    let old = crate::submission::state(m, &account.owner, SubKind::Identity).await?;
    s.check_state(&old)?;
    let mut r = SetResponse::new(&s.account_id, Some(old));
    let mut events = Vec::new();
    for (cid, o) in &s.create {
        let f = match fields_from(o, true) {
            Ok(f) => f,
            Err(e) => {
                r.not_created(cid, e);
                continue;
            }
        };
        // NC-2.1.7: an identity only for an address the owner may send as.
        let allowed = m
            .store
            .may_send_as(&account.owner, &f.email)
            .await
            .map_err(|e| server_fail(&e))?;
        if !allowed {
            r.not_created(
                cid,
                SetError::with(
                    SetErrorType::Other("forbiddenFrom"),
                    format!("{} is not an address you may send as", f.email),
                ),
            );
            continue;
        }
        let email = f.email.clone();
        let id = m
            .store
            .identity_create(&account.owner, f)
            .await
            .map_err(|e| server_fail(&e))?;
        let jid = ids::make(IDENTITY, id);
        events.push(crate::audit::event(
            cx,
            &account,
            op::IDENTITY,
            format!("create {jid} <{email}>"),
        ));
        let mut extra = Map::new();
        extra.insert("mayDelete".into(), true.into());
        r.created(cx, cid, &jid, extra);
    }
    for (raw, patch) in &s.update {
        let Some(jid) = cx.resolve_id(raw) else {
            r.not_updated(raw, SetError::new(SetErrorType::NotFound));
            continue;
        };
        let Some(cur) =
            ids::parse(IDENTITY, &jid).and_then(|n| existing.iter().find(|i| i.id == n))
        else {
            r.not_updated(&jid, SetError::new(SetErrorType::NotFound));
            continue;
        };
        let mut obj = to_json(cur);
        if let Err(e) = apply_patch(&mut obj, patch) {
            r.not_updated(&jid, e);
            continue;
        }
        // The address of an identity, its id and mayDelete are the server's.
        let before = to_json(cur);
        let immutable: Vec<String> = ["id", "email", "mayDelete"]
            .iter()
            .filter(|k| obj.get(**k) != before.get(**k))
            .map(|k| (*k).to_owned())
            .collect();
        if !immutable.is_empty() {
            r.not_updated(&jid, SetError::invalid_properties(immutable));
            continue;
        }
        let f = match fields_from(&obj, false) {
            Ok(f) => f,
            Err(e) => {
                r.not_updated(&jid, e);
                continue;
            }
        };
        let done = m
            .store
            .identity_update(&account.owner, cur.id, f)
            .await
            .map_err(|e| server_fail(&e))?;
        if done {
            events.push(crate::audit::event(
                cx,
                &account,
                op::IDENTITY,
                format!("update {jid}"),
            ));
            r.updated(&jid, None);
        } else {
            r.not_updated(&jid, SetError::new(SetErrorType::NotFound));
        }
    }
    for raw in &s.destroy {
        let Some(jid) = cx.resolve_id(raw) else {
            r.not_destroyed(raw, SetError::new(SetErrorType::NotFound));
            continue;
        };
        let Some(cur) =
            ids::parse(IDENTITY, &jid).and_then(|n| existing.iter().find(|i| i.id == n))
        else {
            r.not_destroyed(&jid, SetError::new(SetErrorType::NotFound));
            continue;
        };
        if !cur.may_delete {
            r.not_destroyed(
                &jid,
                SetError::with(
                    SetErrorType::Forbidden,
                    "the identity of the account's own address cannot be deleted",
                ),
            );
            continue;
        }
        let done = m
            .store
            .identity_destroy(&account.owner, cur.id)
            .await
            .map_err(|e| server_fail(&e))?;
        if done {
            events.push(crate::audit::event(
                cx,
                &account,
                op::IDENTITY,
                format!("destroy {jid}"),
            ));
            r.destroyed(&jid);
        } else {
            r.not_destroyed(&jid, SetError::new(SetErrorType::NotFound));
        }
    }
    r.new_state = crate::submission::state(m, &account.owner, SubKind::Identity).await?;
    // AL-3.1: identity changes are mailbox events.
    m.audit(events).await;
    Ok(vec![("Identity/set".into(), r.into_arguments())])
}
