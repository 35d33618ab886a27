//! `/get` (RFC 8620 §5.1).

use serde_json::{Map, Value};

use crate::args::Args;
use crate::engine::CallContext;
use crate::error::MethodError;

/// The arguments of a /get call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetArgs {
    pub account_id: String,
    /// None: every record (if the type allows it, and at most maxObjectsInGet of them).
    pub ids: Option<Vec<String>>,
    /// Ids given as `#creationId` that nothing was created for: they go to `notFound` as sent.
    pub unresolved: Vec<String>,
    /// None: the type's default properties.
    pub properties: Option<Vec<String>>,
}

impl GetArgs {
    /// Takes `accountId`, `ids` and `properties`. The account must be the user's
    /// (accountNotFound), and more ids than maxObjectsInGet is requestTooLarge (§5.1).
    pub fn parse(args: &mut Args, cx: &CallContext) -> Result<Self, MethodError> {
        let account_id = args.take_id("accountId")?;
        let raw_ids = args.take_opt_id_refs("ids")?;
        let properties = args.take_opt_strings("properties")?;
        cx.account(&account_id)?;
        let mut unresolved = Vec::new();
        let ids = match raw_ids {
            None => None,
            Some(raw) => {
                // RFC 8620 §5.1: maxObjectsInGet bounds the ids asked for.
                if raw.len() as u64 > cx.limits.max_objects_in_get {
                    return Err(MethodError::request_too_large(format!(
                        "more than maxObjectsInGet ({}) ids",
                        cx.limits.max_objects_in_get
                    )));
                }
                let mut ids = Vec::with_capacity(raw.len());
                for r in raw {
                    match cx.resolve_id(&r) {
                        Some(id) if !ids.contains(&id) => ids.push(id),
                        Some(_) => {}
                        None => unresolved.push(r),
                    }
                }
                Some(ids)
            }
        };
        Ok(Self {
            account_id,
            ids,
            unresolved,
            properties,
        })
    }

    /// The properties to return: the requested ones, each of which must be in `known`
    /// (invalidArguments otherwise), or `default`; `id` is always included (§5.1).
    pub fn properties_or(
        &self,
        default: &[&str],
        known: &[&str],
    ) -> Result<Vec<String>, MethodError> {
        let mut out: Vec<String> = match &self.properties {
            None => default.iter().map(|s| (*s).to_owned()).collect(),
            Some(p) => {
                if let Some(bad) = p.iter().find(|p| !known.contains(&p.as_str())) {
                    return Err(MethodError::invalid_arguments(format!(
                        "unknown property {bad:?}"
                    )));
                }
                p.clone()
            }
        };
        if !out.iter().any(|p| p == "id") {
            out.insert(0, "id".into());
        }
        out.dedup();
        Ok(out)
    }
}

/// When `ids` is null, the whole set is returned only if it fits maxObjectsInGet (§5.1).
pub fn check_get_all(count: usize, cx: &CallContext) -> Result<(), MethodError> {
    if count as u64 > cx.limits.max_objects_in_get {
        return Err(MethodError::request_too_large(format!(
            "there are more than maxObjectsInGet ({}) records: ask for ids",
            cx.limits.max_objects_in_get
        )));
    }
    Ok(())
}

/// The records a /get asks for among `all` (every one of the account's records): those `ids`
/// names, found with `find`, or all of them when `ids` is null (within maxObjectsInGet); and
/// the ids that name none (with the unresolved creation ids), for `notFound`.
pub fn select<'a, T>(
    g: &GetArgs,
    cx: &CallContext,
    all: &'a [T],
    find: impl Fn(&str) -> Option<&'a T>,
) -> Result<(Vec<&'a T>, Vec<String>), MethodError> {
    let mut not_found = g.unresolved.clone();
    let chosen = match &g.ids {
        None => {
            check_get_all(all.len(), cx)?;
            all.iter().collect()
        }
        Some(wanted) => {
            let mut out = Vec::new();
            for id in wanted {
                match find(id) {
                    Some(r) => out.push(r),
                    None => not_found.push(id.clone()),
                }
            }
            out
        }
    };
    Ok((chosen, not_found))
}

/// A record as `/get` shows it: only the asked-for `properties` of its full form.
pub fn project(full: &Map<String, Value>, properties: &[String]) -> Value {
    Value::Object(
        properties
            .iter()
            .filter_map(|p| full.get(p).map(|v| (p.clone(), v.clone())))
            .collect(),
    )
}

/// The /get response.
#[derive(Debug, Clone, PartialEq)]
pub struct GetResponse {
    pub account_id: String,
    pub state: String,
    pub list: Vec<Value>,
    pub not_found: Vec<String>,
}

impl GetResponse {
    pub fn into_arguments(self) -> Map<String, Value> {
        super::object([
            ("accountId", self.account_id.into()),
            ("state", self.state.into()),
            ("list", self.list.into()),
            ("notFound", self.not_found.into()),
        ])
    }
}
