//! Thread/get and Thread/changes (RFC 8621 §3): a thread is the list of its emails' ids, oldest
//! first, as the store groups them by Message-ID, In-Reply-To and References.

use rampart_jmap::args::Args;
use rampart_jmap::methods::get::{GetArgs, GetResponse};
use rampart_jmap::{CallContext, MethodError};
use rampart_store::mail::Kind;
use serde_json::{Map, Value};

use crate::account;
use crate::error::server_fail;
use crate::mailbox::{changes, ready, state};
use crate::{ids, MailMethods, Responses};

const PROPERTIES: [&str; 2] = ["id", "emailIds"];

pub(crate) async fn call(
    m: &MailMethods,
    cx: &mut CallContext,
    method: &str,
    args: Map<String, Value>,
) -> Result<Responses, MethodError> {
    let out = match method {
        "get" => get(m, cx, args).await?,
        "changes" => changes(m, cx, args, Kind::Thread, ids::THREAD).await?,
        _ => return Err(MethodError::unknown_method(&format!("Thread/{method}"))),
    };
    Ok(vec![(format!("Thread/{method}"), out)])
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
    // A client reaches threads through emails; "every thread" is not something to list.
    let Some(wanted) = &g.ids else {
        return Err(MethodError::invalid_arguments(
            "Thread/get needs ids (the threadId of emails)",
        ));
    };
    let account = account::resolve(cx, &g.account_id)?;
    ready(m, &account).await?;
    let state = state(m, &account, Kind::Thread).await?;
    let numbers: Vec<i64> = wanted
        .iter()
        .filter_map(|id| ids::parse(ids::THREAD, id))
        .collect();
    let found = m
        .store
        .thread_get(&account.owner, &numbers)
        .await
        .map_err(|e| server_fail(&e))?;
    let mut list = Vec::new();
    let mut not_found = g.unresolved.clone();
    for id in wanted {
        let t = ids::parse(ids::THREAD, id).and_then(|n| found.iter().find(|(t, _)| *t == n));
        match t {
            Some((t, emails)) => {
                let mut o = Map::new();
                o.insert("id".into(), ids::thread(*t).into());
                if props.iter().any(|p| p == "emailIds") {
                    let e: Vec<Value> = emails.iter().map(|e| ids::email(*e).into()).collect();
                    o.insert("emailIds".into(), e.into());
                }
                list.push(Value::Object(o));
            }
            None => not_found.push(id.clone()),
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
