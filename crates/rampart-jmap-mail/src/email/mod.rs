//! Email methods (RFC 8621 §4): get, changes, query, queryChanges, set, copy, import, parse.

pub mod blob;
mod body;
mod changes;
mod copy;
pub(crate) mod create;
mod get;
mod headers;
mod import;
mod junk;
mod parse;
mod query;
mod set;
pub mod view;

use rampart_jmap::{CallContext, MethodError};
use serde_json::{Map, Value};

use crate::{MailMethods, Responses};

pub(crate) async fn call(
    m: &MailMethods,
    cx: &mut CallContext,
    method: &str,
    args: Map<String, Value>,
) -> Result<Responses, MethodError> {
    match method {
        "get" => get::get(m, cx, args).await,
        "changes" => changes::changes(m, cx, args).await,
        "query" => query::query(m, cx, args).await,
        "queryChanges" => query::query_changes(m, cx, args).await,
        "set" => set::set(m, cx, args).await,
        "copy" => copy::copy(m, cx, args).await,
        "import" => import::import(m, cx, args).await,
        "parse" => parse::parse(m, cx, args).await,
        _ => Err(MethodError::unknown_method(&format!("Email/{method}"))),
    }
}

#[cfg(test)]
mod tests;
