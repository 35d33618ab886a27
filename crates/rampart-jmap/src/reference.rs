//! Result references (RFC 8620 §3.7): an argument named `#name` whose value is
//! `{resultOf, name, path}` takes its value from the response of an earlier call.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::MethodError;
use crate::pointer;
use crate::request::Invocation;

/// `{resultOf, name, path}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ResultReference {
    pub result_of: String,
    pub name: String,
    pub path: String,
}

/// Replaces every `#name` argument by the value it refers to in `previous` (the responses so far,
/// in order). Only earlier responses exist, so a reference to the call itself or to a later call
/// fails like one to a call id that does not exist: references cannot loop.
pub fn resolve_arguments(
    mut args: Map<String, Value>,
    previous: &[Invocation],
) -> Result<Map<String, Value>, MethodError> {
    if !args.keys().any(|k| k.starts_with('#')) {
        return Ok(args);
    }
    let refs: Vec<String> = args
        .keys()
        .filter(|k| k.starts_with('#'))
        .cloned()
        .collect();
    // RFC 8620 §3.7: the same argument both plain and referenced is invalidArguments. Checked
    // on the arguments as sent, before any is resolved, so the outcome does not depend on the
    // order of the keys (with "##a" next to "#a", resolving "#a" first would free the name).
    if let Some(key) = refs.iter().find(|k| args.contains_key(&k[1..])) {
        return Err(MethodError::invalid_arguments(format!(
            "the argument {:?} is given both directly and as a result reference",
            &key[1..]
        )));
    }
    for key in refs {
        let plain = &key[1..];
        let Some(raw) = args.remove(&key) else {
            continue;
        };
        let r: ResultReference = serde_json::from_value(raw).map_err(|e| {
            MethodError::invalid_result_reference(format!("{key:?} is not a ResultReference: {e}"))
        })?;
        let value = resolve(&r, previous)?;
        args.insert(plain.to_owned(), value);
    }
    Ok(args)
}

/// Evaluates one reference against the responses so far (RFC 8620 §3.7): the first response
/// with the call id must have the reference's name, and the path must exist in it.
pub fn resolve(r: &ResultReference, previous: &[Invocation]) -> Result<Value, MethodError> {
    let Some(resp) = previous.iter().find(|i| i.call_id == r.result_of) else {
        return Err(MethodError::invalid_result_reference(format!(
            "no earlier response has the method call id {:?}",
            r.result_of
        )));
    };
    if resp.name != r.name {
        return Err(MethodError::invalid_result_reference(format!(
            "the response to {:?} is {:?}, not {:?}",
            r.result_of, resp.name, r.name
        )));
    }
    let doc = Value::Object(resp.arguments.clone());
    pointer::evaluate(&doc, &r.path)
        .map_err(|e| MethodError::invalid_result_reference(format!("path {:?}: {e}", r.path)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::MethodErrorType;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!("test values are objects"),
        }
    }

    fn responses() -> Vec<Invocation> {
        vec![
            Invocation {
                name: "Email/query".into(),
                arguments: obj(json!({"ids": ["e1", "e2"], "accountId": "A1"})),
                call_id: "t0".into(),
            },
            Invocation {
                name: "Thread/get".into(),
                arguments: obj(json!({"list": [{"emailIds": ["e1", "e3"]}, {"emailIds": ["e2"]}]})),
                call_id: "t1".into(),
            },
        ]
    }

    #[test]
    fn resolves_a_reference() {
        let args = obj(json!({"accountId": "A1",
            "#ids": {"resultOf": "t0", "name": "Email/query", "path": "/ids"}}));
        let out = resolve_arguments(args, &responses()).unwrap();
        assert_eq!(out["ids"], json!(["e1", "e2"]));
        assert!(!out.contains_key("#ids"));
    }

    #[test]
    fn star_path_flattens_arrays_of_arrays() {
        let args = obj(json!({"#ids": {"resultOf": "t1", "name": "Thread/get",
            "path": "/list/*/emailIds"}}));
        let out = resolve_arguments(args, &responses()).unwrap();
        assert_eq!(out["ids"], json!(["e1", "e3", "e2"]));
    }

    #[test]
    fn plain_and_referenced_is_invalid_arguments() {
        let args = obj(
            json!({"ids": [], "#ids": {"resultOf": "t0", "name": "Email/query",
            "path": "/ids"}}),
        );
        let e = resolve_arguments(args, &responses()).unwrap_err();
        assert_eq!(e.kind, MethodErrorType::InvalidArguments);
    }

    #[test]
    fn a_reference_to_a_reference_name_is_refused_in_any_order() {
        // "#ids" sorts after "##ids": resolving "#ids" first must not make room for "##ids".
        let r = json!({"resultOf": "t0", "name": "Email/query", "path": "/ids"});
        for args in [
            json!({"##ids": r, "#ids": r}),
            json!({"#ids": r, "##ids": r}),
        ] {
            let e = resolve_arguments(obj(args), &responses()).unwrap_err();
            assert_eq!(e.kind, MethodErrorType::InvalidArguments);
        }
    }

    #[test]
    fn unresolvable_references_are_invalid_result_reference() {
        for r in [
            json!({"resultOf": "t9", "name": "Email/query", "path": "/ids"}),
            json!({"resultOf": "t0", "name": "Email/get", "path": "/ids"}),
            json!({"resultOf": "t0", "name": "Email/query", "path": "/nope"}),
            json!({"resultOf": "t0", "name": "Email/query", "path": "ids"}),
            json!({"resultOf": "t0", "name": "Email/query"}),
            json!({"resultOf": "t0", "name": "Email/query", "path": "/ids", "x": 1}),
            json!("t0"),
        ] {
            let args = obj(json!({ "#ids": r }));
            let e = resolve_arguments(args, &responses()).unwrap_err();
            assert_eq!(e.kind, MethodErrorType::InvalidResultReference, "{r}");
        }
    }

    #[test]
    fn self_and_forward_references_fail() {
        // Call "t2" referring to itself or to "t3" that comes later: neither response exists yet.
        for target in ["t2", "t3"] {
            let args = obj(json!({"#ids": {"resultOf": target, "name": "Email/query",
                "path": "/ids"}}));
            let e = resolve_arguments(args, &responses()).unwrap_err();
            assert_eq!(e.kind, MethodErrorType::InvalidResultReference);
        }
    }
}
