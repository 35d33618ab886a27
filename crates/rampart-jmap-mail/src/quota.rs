//! Quota/get and Quota/changes (RFC 9425): one quota per account, the octets its emails take
//! against the limit the administrator set.

use rampart_jmap::args::{Args, MAX_SAFE_INT};
use rampart_jmap::methods::changes::{ChangesArgs, ChangesResponse};
use rampart_jmap::methods::get::{GetArgs, GetResponse};
use rampart_jmap::{CallContext, MethodError};
use rampart_store::mail::{Kind, Quota};
use serde_json::{json, Map, Value};

use crate::account::{self, MailAccount};
use crate::error::server_fail;
use crate::mailbox::state;
use crate::{MailMethods, Responses};

/// The id of the account's one mail quota.
const QUOTA_ID: &str = "Qmail";

const PROPERTIES: [&str; 8] = [
    "id",
    "name",
    "resourceType",
    "used",
    "hardLimit",
    "scope",
    "types",
    "description",
];

pub(crate) async fn call(
    m: &MailMethods,
    cx: &mut CallContext,
    method: &str,
    args: Map<String, Value>,
) -> Result<Responses, MethodError> {
    let out = match method {
        "get" => get(m, cx, args).await?,
        "changes" => changes(m, cx, args).await?,
        _ => return Err(MethodError::unknown_method(&format!("Quota/{method}"))),
    };
    Ok(vec![(format!("Quota/{method}"), out)])
}

/// The quota's state: it changes with the emails (`used`) and with the limit.
async fn quota_state(m: &MailMethods, a: &MailAccount) -> Result<(String, Quota), MethodError> {
    let emails = state(m, a, Kind::Email).await?;
    let q = m
        .store
        .quota_get(&a.owner)
        .await
        .map_err(|e| server_fail(&e))?;
    let limit = q.limit.map_or("n".to_owned(), |l| l.to_string());
    Ok((format!("{emails}-{limit}"), q))
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
    crate::mailbox::ready(m, &account).await?;
    let (state, q) = quota_state(m, &account).await?;
    // RFC 9425 §4.1: hardLimit is required; an account without a limit shows the largest
    // number JSON carries exactly.
    let hard = q.limit.unwrap_or(MAX_SAFE_INT as u64);
    let full = json!({
        "id": QUOTA_ID,
        "name": format!("mail of {}", account.owner),
        "resourceType": "octets",
        "used": q.used,
        "hardLimit": hard,
        "scope": "account",
        "types": ["Mail"],
        "description": if q.limit.is_some() { "the size of every email of the account" } else { "no limit is set" },
    });
    let pick = || {
        let mut o = Map::new();
        for p in &props {
            if let Some(v) = full.get(p) {
                o.insert(p.clone(), v.clone());
            }
        }
        Value::Object(o)
    };
    let mut list = Vec::new();
    let mut not_found = g.unresolved.clone();
    match &g.ids {
        None => list.push(pick()),
        Some(ids) => {
            for id in ids {
                if id == QUOTA_ID {
                    list.push(pick());
                } else {
                    not_found.push(id.clone());
                }
            }
        }
    }
    Ok(GetResponse {
        account_id: account.id,
        state,
        list,
        not_found,
    }
    .into_arguments())
}

/// Quota/changes: the one quota is updated whenever the state moved; a state this server never
/// gave is cannotCalculateChanges.
async fn changes(
    m: &MailMethods,
    cx: &CallContext,
    args: Map<String, Value>,
) -> Result<Map<String, Value>, MethodError> {
    let mut a = Args::new(args);
    let c = ChangesArgs::parse(&mut a, cx)?;
    a.finish()?;
    let account = account::resolve(cx, &c.account_id)?;
    crate::mailbox::ready(m, &account).await?;
    let (now, _) = quota_state(m, &account).await?;
    let well_formed = c
        .since_state
        .split_once('-')
        .is_some_and(|(e, l)| e.parse::<u64>().is_ok() && (l == "n" || l.parse::<u64>().is_ok()));
    if !well_formed {
        return Err(MethodError::cannot_calculate_changes());
    }
    let updated = if c.since_state == now {
        Vec::new()
    } else {
        vec![QUOTA_ID.to_owned()]
    };
    Ok(ChangesResponse {
        account_id: account.id,
        old_state: c.since_state,
        new_state: now,
        has_more_changes: false,
        created: Vec::new(),
        updated,
        destroyed: Vec::new(),
    }
    .into_arguments())
}
