//! Parsing a request body into a [`Request`] (RFC 8620 §3.3), with the request-level limits
//! checked before anything is built.
//!
//! Two passes over the bytes: the first checks that they are I-JSON (notJSON) and counts the
//! method calls without keeping any value, so a request with 10,000 calls is refused as a
//! `limit` error for the cost of one scan; the second deserialises into strict types, where any
//! wrong type, missing or unknown property is notRequest.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::args::is_valid_id;
use crate::error::RequestError;

/// One method call: `[name, arguments, methodCallId]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    pub name: String,
    pub arguments: Map<String, Value>,
    pub call_id: String,
}

/// A JMAP request (RFC 8620 §3.3).
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub using: Vec<String>,
    pub method_calls: Vec<Invocation>,
    /// `createdIds` as sent; `None` when absent, and then the response carries none (§3.4).
    pub created_ids: Option<HashMap<String, String>>,
}

/// The limits checked while parsing (the core capability's maxSizeRequest, maxCallsInRequest).
#[derive(Debug, Clone, Copy)]
pub struct ParseLimits {
    pub max_size_request: usize,
    pub max_calls_in_request: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawRequest {
    using: Vec<String>,
    method_calls: Vec<(String, Map<String, Value>, String)>,
    #[serde(default)]
    created_ids: Option<HashMap<String, String>>,
}

/// Parses a request body. Order matters: size first (nothing read), then JSON syntax, then the
/// number of calls, then the types (RFC 8620 §3.6.1).
pub fn parse_request(body: &[u8], limits: &ParseLimits) -> Result<Request, RequestError> {
    // RFC 8620 §3.6.1 limit maxSizeRequest: refused before parsing.
    if body.len() > limits.max_size_request {
        return Err(RequestError::Limit {
            limit: "maxSizeRequest",
            detail: format!(
                "the request is larger than {} octets",
                limits.max_size_request
            ),
        });
    }
    let calls = scan(body)?;
    // RFC 8620 §3.6.1 limit maxCallsInRequest: counted by the scan, before any call is built.
    if calls > limits.max_calls_in_request {
        return Err(RequestError::Limit {
            limit: "maxCallsInRequest",
            detail: format!(
                "the request has more than {} method calls",
                limits.max_calls_in_request
            ),
        });
    }
    let raw: RawRequest = serde_json::from_slice(body)
        .map_err(|e| RequestError::NotRequest(format!("not a JMAP Request object: {e}")))?;
    if let Some(ids) = &raw.created_ids {
        // createdIds is Id[Id] (§3.3): both sides must be Ids.
        if let Some((k, v)) = ids.iter().find(|(k, v)| !is_valid_id(k) || !is_valid_id(v)) {
            return Err(RequestError::NotRequest(format!(
                "createdIds holds an invalid id: {:?} -> {:?}",
                truncate(k),
                truncate(v)
            )));
        }
    }
    Ok(Request {
        using: raw.using,
        method_calls: raw
            .method_calls
            .into_iter()
            .map(|(name, arguments, call_id)| Invocation {
                name,
                arguments,
                call_id,
            })
            .collect(),
        created_ids: raw.created_ids,
    })
}

fn truncate(s: &str) -> &str {
    match s.char_indices().nth(64) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// First pass: the body must be one I-JSON value (RFC 8620 §3.1, RFC 7493: valid JSON, no
/// duplicate member names), notJSON otherwise; returns how many elements the top-level
/// `methodCalls` array has (0 if there is none or it is not an array), keeping no value in
/// memory. serde_json bounds the nesting depth, so the walk cannot exhaust the stack.
fn scan(body: &[u8]) -> Result<usize, RequestError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let count = Walk { top: true }
        .deserialize(&mut de)
        .and_then(|c| de.end().map(|()| c))
        .map_err(|e| RequestError::NotJson(format!("the request is not valid I-JSON: {e}")))?;
    Ok(count)
}

/// Walks one value. At the top (`top`), the length of `methodCalls` is the result; elsewhere 0.
#[derive(Clone, Copy)]
struct Walk {
    top: bool,
}

/// Counts the elements of an array, walking each.
struct Count;

impl<'de> DeserializeSeed<'de> for Walk {
    type Value = usize;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<usize, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> DeserializeSeed<'de> for Count {
    type Value = usize;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<usize, D::Error> {
        d.deserialize_any(CountVisitor)
    }
}

macro_rules! scalars_are_zero {
    () => {
        fn visit_bool<E>(self, _: bool) -> Result<usize, E> {
            Ok(0)
        }
        fn visit_i64<E>(self, _: i64) -> Result<usize, E> {
            Ok(0)
        }
        fn visit_u64<E>(self, _: u64) -> Result<usize, E> {
            Ok(0)
        }
        fn visit_f64<E>(self, _: f64) -> Result<usize, E> {
            Ok(0)
        }
        fn visit_str<E>(self, _: &str) -> Result<usize, E> {
            Ok(0)
        }
        fn visit_unit<E>(self) -> Result<usize, E> {
            Ok(0)
        }
    };
}

/// Walks an object's members, refusing a name seen twice (RFC 7493 §2.3).
fn walk_map<'de, A: MapAccess<'de>>(mut map: A, top: bool) -> Result<usize, A::Error> {
    let mut seen: HashSet<Cow<'de, str>> = HashSet::new();
    let mut count = 0;
    while let Some(key) = map.next_key::<Cow<'de, str>>()? {
        if top && key == "methodCalls" {
            count = map.next_value_seed(Count)?;
        } else {
            map.next_value_seed(Walk { top: false })?;
        }
        if !seen.insert(key) {
            return Err(de::Error::custom("duplicate member name"));
        }
    }
    Ok(count)
}

impl<'de> Visitor<'de> for Walk {
    type Value = usize;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    scalars_are_zero!();
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<usize, A::Error> {
        while seq.next_element_seed(Walk { top: false })?.is_some() {}
        Ok(0)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<usize, A::Error> {
        walk_map(map, self.top)
    }
}

struct CountVisitor;

impl<'de> Visitor<'de> for CountVisitor {
    type Value = usize;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    // Anything but an array is left for the typed pass to call notRequest.
    scalars_are_zero!();
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<usize, A::Error> {
        let mut n = 0usize;
        while seq.next_element_seed(Walk { top: false })?.is_some() {
            n = n.saturating_add(1);
        }
        Ok(n)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<usize, A::Error> {
        walk_map(map, false).map(|_| 0)
    }
}

/// A JMAP response (RFC 8620 §3.4).
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub method_responses: Vec<Invocation>,
    pub created_ids: Option<HashMap<String, String>>,
    pub session_state: String,
}

impl Response {
    pub fn to_value(&self) -> Value {
        let calls: Vec<Value> = self
            .method_responses
            .iter()
            .map(|i| {
                Value::Array(vec![
                    Value::from(i.name.clone()),
                    Value::Object(i.arguments.clone()),
                    Value::from(i.call_id.clone()),
                ])
            })
            .collect();
        let mut m = Map::new();
        m.insert("methodResponses".into(), Value::Array(calls));
        if let Some(ids) = &self.created_ids {
            let ids: Map<String, Value> = ids
                .iter()
                .map(|(k, v)| (k.clone(), Value::from(v.clone())))
                .collect();
            m.insert("createdIds".into(), Value::Object(ids));
        }
        m.insert("sessionState".into(), self.session_state.clone().into());
        Value::Object(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: ParseLimits = ParseLimits {
        max_size_request: 10_000_000,
        max_calls_in_request: 16,
    };

    fn parse(s: &str) -> Result<Request, RequestError> {
        parse_request(s.as_bytes(), &LIMITS)
    }

    #[test]
    fn parses_a_request() {
        let r = parse(
            r#"{"using":["urn:ietf:params:jmap:core"],
                "methodCalls":[["Core/echo",{"hello":true},"c1"]],
                "createdIds":{"k1":"M123"}}"#,
        )
        .unwrap();
        assert_eq!(r.using, ["urn:ietf:params:jmap:core"]);
        assert_eq!(r.method_calls[0].name, "Core/echo");
        assert_eq!(r.method_calls[0].call_id, "c1");
        assert_eq!(r.method_calls[0].arguments["hello"], true);
        assert_eq!(r.created_ids.unwrap()["k1"], "M123");
    }

    #[test]
    fn a_number_written_out_parses_to_the_same_value() {
        // The jmap_request fuzz target's find: without correctly rounded parsing, this number
        // read back as a neighbouring float once written out (1.1116666666666664e101 against
        // ...665e101): one request, two meanings.
        let text = format!(
            r#"{{"using":[],"methodCalls":[["Core/echo",{{"n":1111{}11111111111111}},"c1"]]}}"#,
            "6".repeat(84)
        );
        let first = parse(&text).unwrap();
        let n = &first.method_calls[0].arguments["n"];
        let again = format!(r#"{{"using":[],"methodCalls":[["Core/echo",{{"n":{n}}},"c1"]]}}"#);
        assert_eq!(parse(&again).unwrap(), first);
    }

    #[test]
    fn malformed_json_is_not_json() {
        for bad in ["", "{", r#"{"using":[}"#, "[1,2", "{} x", "\u{0}"] {
            assert!(
                matches!(parse(bad), Err(RequestError::NotJson(_))),
                "{bad:?}"
            );
        }
        assert!(matches!(
            parse_request(b"\xff\xfe", &LIMITS),
            Err(RequestError::NotJson(_))
        ));
    }

    #[test]
    fn duplicate_member_names_are_not_json() {
        // RFC 8620 §3.1 asks for I-JSON, and RFC 7493 §2.3 forbids duplicate names: otherwise
        // serde_json keeps the last one and the server would act on a value the client's own
        // parser may not have seen.
        for bad in [
            r#"{"using":[],"methodCalls":[["Core/echo",{"a":1,"a":2},"c"]]}"#,
            r#"{"using":[],"methodCalls":[["Core/echo",{"x":[{"b":1,"\u0062":2}]},"c"]]}"#,
            r#"{"using":[],"methodCalls":[],"methodCalls":[]}"#,
            r#"{"using":[],"methodCalls":[],"using":[]}"#,
        ] {
            assert!(matches!(parse(bad), Err(RequestError::NotJson(_))), "{bad}");
        }
        assert!(parse(r#"{"using":[],"methodCalls":[["Core/echo",{"a":{"a":1}},"c"]]}"#).is_ok());
    }

    #[test]
    fn wrong_types_are_not_request() {
        for bad in [
            "[]",
            "42",
            r#"{"using":"urn:ietf:params:jmap:core","methodCalls":[]}"#,
            r#"{"using":[],"methodCalls":{}}"#,
            r#"{"using":[],"methodCalls":[["Core/echo",{},1]]}"#,
            r#"{"using":[],"methodCalls":[["Core/echo",[],"c"]]}"#,
            r#"{"using":[],"methodCalls":[["Core/echo",{}]]}"#,
            r#"{"using":[],"methodCalls":[["Core/echo",{},"c","extra"]]}"#,
            r#"{"using":[1],"methodCalls":[]}"#,
            r#"{"methodCalls":[]}"#,
            r#"{"using":[],"methodCalls":[],"other":1}"#,
            r#"{"using":[],"methodCalls":[],"createdIds":{"a":1}}"#,
            r#"{"using":[],"methodCalls":[],"createdIds":{"a b":"x"}}"#,
        ] {
            assert!(
                matches!(parse(bad), Err(RequestError::NotRequest(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn ten_thousand_calls_is_a_limit_error() {
        let calls = vec![r#"["Core/echo",{},"c"]"#; 10_000].join(",");
        let body = format!(r#"{{"using":["urn:ietf:params:jmap:core"],"methodCalls":[{calls}]}}"#);
        match parse(&body) {
            Err(RequestError::Limit { limit, .. }) => assert_eq!(limit, "maxCallsInRequest"),
            other => panic!("{other:?}"),
        }
        // Exactly at the limit is fine.
        let calls = vec![r#"["Core/echo",{},"c"]"#; 16].join(",");
        let body = format!(r#"{{"using":[],"methodCalls":[{calls}]}}"#);
        assert_eq!(parse(&body).unwrap().method_calls.len(), 16);
    }

    #[test]
    fn oversized_request_is_a_limit_error() {
        let small = ParseLimits {
            max_size_request: 10,
            max_calls_in_request: 16,
        };
        match parse_request(br#"{"using":[],"methodCalls":[]}"#, &small) {
            Err(RequestError::Limit { limit, .. }) => assert_eq!(limit, "maxSizeRequest"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn response_without_created_ids_has_none() {
        let r = Response {
            method_responses: vec![],
            created_ids: None,
            session_state: "s1".into(),
        };
        let v = r.to_value();
        assert!(v.get("createdIds").is_none());
        assert_eq!(v["sessionState"], "s1");
    }
}
