//! VacationResponse (RFC 8621 §8): get and set of the account's one vacation response, id
//! `singleton`. The automatic replies themselves are sent where local delivery is accepted
//! (rampart-smtp's session/vacation.rs): one per sender per period, to the envelope sender only,
//! never a forward (AL-4.2).

pub mod date;

use rampart_jmap::args::Args;
use rampart_jmap::methods::get::{project, GetArgs, GetResponse};
use rampart_jmap::methods::patch::apply_patch;
use rampart_jmap::methods::set::{SetArgs, SetResponse};
use rampart_jmap::{CallContext, MethodError, SetError, SetErrorType};
use rampart_store::mailbox_audit::op;
use rampart_store::submission::{SubKind, Vacation};
use serde_json::{json, Map, Value};

use crate::account::resolve;
use crate::error::server_fail;
use crate::{MailMethods, Responses};

const SINGLETON: &str = "singleton";
const PROPERTIES: &[&str] = &[
    "id",
    "isEnabled",
    "fromDate",
    "toDate",
    "subject",
    "textBody",
    "htmlBody",
];

pub(crate) async fn call(
    m: &MailMethods,
    cx: &mut CallContext,
    method: &str,
    args: Map<String, Value>,
) -> Result<Responses, MethodError> {
    match method {
        "get" => get(m, cx, args).await,
        "set" => set(m, cx, args).await,
        _ => Err(MethodError::unknown_method(&format!(
            "VacationResponse/{method}"
        ))),
    }
}

fn to_json(v: &Vacation) -> Map<String, Value> {
    let d = |t: Option<i64>| {
        t.map(|t| Value::from(date::format(t)))
            .unwrap_or(Value::Null)
    };
    let o = json!({
        "id": SINGLETON,
        "isEnabled": v.is_enabled,
        "fromDate": d(v.from_date),
        "toDate": d(v.to_date),
        "subject": v.subject,
        "textBody": v.text_body,
        "htmlBody": v.html_body,
    });
    match o {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn from_json(o: &Map<String, Value>) -> Result<Vacation, SetError> {
    let mut bad = Vec::new();
    let mut text = |k: &str| match o.get(k) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            bad.push(k.to_owned());
            None
        }
    };
    let subject = text("subject");
    let text_body = text("textBody");
    let html_body = text("htmlBody");
    let mut date = |k: &str| match o.get(k) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            let t = date::parse(s);
            if t.is_none() {
                bad.push(k.to_owned());
            }
            t
        }
        Some(_) => {
            bad.push(k.to_owned());
            None
        }
    };
    let from_date = date("fromDate");
    let to_date = date("toDate");
    let is_enabled = match o.get("isEnabled") {
        Some(Value::Bool(b)) => *b,
        _ => {
            bad.push("isEnabled".into());
            false
        }
    };
    if o.get("id").and_then(Value::as_str) != Some(SINGLETON) {
        bad.push("id".into());
    }
    bad.extend(
        o.keys()
            .filter(|k| !PROPERTIES.contains(&k.as_str()))
            .cloned(),
    );
    if !bad.is_empty() {
        return Err(SetError::invalid_properties(bad));
    }
    Ok(Vacation {
        is_enabled,
        from_date,
        to_date,
        subject,
        text_body,
        html_body,
    })
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
    crate::account::owner_only(&account, "the vacation response settings")?;
    let v = m
        .store
        .vacation_get(&account.owner)
        .await
        .map_err(|e| server_fail(&e))?;
    let state = m
        .store
        .sub_state(&account.owner, SubKind::Vacation)
        .await
        .map_err(|e| server_fail(&e))?;
    let mut not_found = g.unresolved.clone();
    let want = match &g.ids {
        None => true,
        Some(ids) => {
            not_found.extend(ids.iter().filter(|i| *i != SINGLETON).cloned());
            ids.iter().any(|i| i == SINGLETON)
        }
    };
    let full = to_json(&v);
    let list = if want {
        vec![project(&full, &props)]
    } else {
        Vec::new()
    };
    let r = GetResponse {
        account_id: g.account_id,
        state,
        list,
        not_found,
    };
    Ok(vec![("VacationResponse/get".into(), r.into_arguments())])
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
    crate::account::owner_only(&account, "the vacation response settings")?;
    let state = || async {
        m.store
            .sub_state(&account.owner, SubKind::Vacation)
            .await
            .map_err(|e| server_fail(&e))
    };
    let old = state().await?;
    s.check_state(&old)?;
    let mut r = SetResponse::new(&s.account_id, Some(old));
    // RFC 8621 §8: there is exactly one; it is neither created nor destroyed.
    for (cid, _) in &s.create {
        r.not_created(cid, SetError::new(SetErrorType::Singleton));
    }
    for id in &s.destroy {
        r.not_destroyed(id, SetError::new(SetErrorType::Singleton));
    }
    for (id, patch) in &s.update {
        if id != SINGLETON {
            r.not_updated(id, SetError::new(SetErrorType::NotFound));
            continue;
        }
        let current = m
            .store
            .vacation_get(&account.owner)
            .await
            .map_err(|e| server_fail(&e))?;
        let mut obj = to_json(&current);
        if let Err(e) = apply_patch(&mut obj, patch) {
            r.not_updated(id, e);
            continue;
        }
        let new = match from_json(&obj) {
            Ok(v) => v,
            Err(e) => {
                r.not_updated(id, e);
                continue;
            }
        };
        let enabled = new.is_enabled;
        m.store
            .vacation_set(&account.owner, new)
            .await
            .map_err(|e| server_fail(&e))?;
        // AL-3.1: a vacation change is a mailbox event (what changed, not the text).
        m.audit_one(
            cx,
            &account,
            op::VACATION,
            format!("enabled={enabled}; properties: {}", keys(patch)),
        )
        .await;
        r.updated(id, None);
    }
    r.new_state = state().await?;
    Ok(vec![("VacationResponse/set".into(), r.into_arguments())])
}

fn keys(patch: &Map<String, Value>) -> String {
    patch.keys().cloned().collect::<Vec<_>>().join(",")
}
