//! The engine end to end over parsed requests, with the in-test `Notes` data type.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::*;
use crate::request::{parse_request, ParseLimits};

#[path = "../../tests/support/notes.rs"]
mod notes;
use notes::{Notes, NOTES};

fn account(id: &str, read_only: bool) -> Account {
    Account {
        id: id.into(),
        name: id.into(),
        is_personal: !read_only,
        is_read_only: read_only,
        account_capabilities: Map::from_iter([(NOTES.to_string(), json!({}))]),
        ..Default::default()
    }
}

fn alice() -> User {
    User {
        username: "alice".into(),
        accounts: vec![account("A1", false), account("R1", true)],
        primary_accounts: BTreeMap::from([(NOTES.into(), "A1".into())]),
        origin: Default::default(),
    }
}

fn limits() -> CoreCapability {
    CoreCapability {
        max_objects_in_get: 3,
        max_objects_in_set: 3,
        ..CoreCapability::default()
    }
}

async fn run(notes: &Notes, body: Value) -> Result<Value, RequestError> {
    let pl = ParseLimits {
        max_size_request: 1 << 20,
        max_calls_in_request: 16,
    };
    let req = parse_request(body.to_string().as_bytes(), &pl)?;
    process(notes, &alice(), &limits(), "sess1", req)
        .await
        .map(|r| r.to_value())
}

fn calls(v: Value) -> Value {
    json!({"using": ["urn:ietf:params:jmap:core", NOTES], "methodCalls": v})
}

/// The (name, args) of response `i`.
fn resp(v: &Value, i: usize) -> (&str, &Value) {
    let r = &v["methodResponses"][i];
    (r[0].as_str().unwrap(), &r[1])
}

#[tokio::test]
async fn core_echo_returns_its_arguments() {
    let v = run(
        &Notes::default(),
        calls(json!([["Core/echo", {"hello": [1, {"a": null}]}, "c1"]])),
    )
    .await
    .unwrap();
    assert_eq!(
        v["methodResponses"],
        json!([["Core/echo", {"hello": [1, {"a": null}]}, "c1"]])
    );
    assert_eq!(v["sessionState"], "sess1");
    assert!(v.get("createdIds").is_none());
}

#[tokio::test]
async fn unknown_capability_is_a_request_error() {
    let body = json!({"using": ["urn:ietf:params:jmap:core", "urn:example:nope"],
        "methodCalls": [["Core/echo", {}, "c1"]]});
    assert_eq!(
        run(&Notes::default(), body).await.unwrap_err(),
        RequestError::UnknownCapability("urn:example:nope".into())
    );
}

#[tokio::test]
async fn unknown_method_is_an_error_and_the_next_call_runs() {
    let v = run(
        &Notes::default(),
        calls(json!([["Foo/bar", {}, "c1"], ["Core/echo", {"x": 1}, "c2"]])),
    )
    .await
    .unwrap();
    assert_eq!(
        v["methodResponses"][0],
        json!(["error", {"type": "unknownMethod",
        "description": "unknown method \"Foo/bar\""}, "c1"])
    );
    assert_eq!(
        v["methodResponses"][1],
        json!(["Core/echo", {"x": 1}, "c2"])
    );
}

#[tokio::test]
async fn method_of_a_capability_not_in_using_is_unknown_method() {
    // RFC 8620 §3.6.2: Note/get exists, but its capability is not declared.
    let body = json!({"using": ["urn:ietf:params:jmap:core"],
        "methodCalls": [["Note/get", {"accountId": "A1", "ids": null}, "c1"]]});
    let v = run(&Notes::default(), body).await.unwrap();
    assert_eq!(resp(&v, 0).1["type"], "unknownMethod");
    // Core/echo needs core in using, too.
    let body = json!({"using": [], "methodCalls": [["Core/echo", {}, "c1"]]});
    let v = run(&Notes::default(), body).await.unwrap();
    assert_eq!(resp(&v, 0).1["type"], "unknownMethod");
}

#[tokio::test]
async fn back_reference_to_created_ids_with_star() {
    let notes = Notes::default();
    let v = run(
        &notes,
        calls(json!([
            ["Note/set", {"accountId": "A1", "create": {"k1": {"text": "one"}, "k2": {"text": "two"}}}, "c1"],
            ["Note/query", {"accountId": "A1"}, "c2"],
            ["Note/get", {"accountId": "A1", "#ids": {"resultOf": "c2", "name": "Note/query",
                "path": "/ids"}}, "c3"],
            ["Core/echo", {"#texts": {"resultOf": "c3", "name": "Note/get", "path": "/list/*/text"}}, "c4"]
        ])),
    )
    .await
    .unwrap();
    let (name, get) = resp(&v, 2);
    assert_eq!(name, "Note/get");
    assert_eq!(get["list"].as_array().unwrap().len(), 2);
    let (_, echo) = resp(&v, 3);
    let mut texts: Vec<&str> = echo["texts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    texts.sort();
    assert_eq!(texts, ["one", "two"]);
}

#[tokio::test]
async fn self_and_forward_references_are_invalid_result_reference() {
    let v = run(
        &Notes::default(),
        calls(json!([
            ["Core/echo", {"#x": {"resultOf": "c1", "name": "Core/echo", "path": ""}}, "c1"],
            ["Core/echo", {"#x": {"resultOf": "c3", "name": "Core/echo", "path": ""}}, "c2"],
            ["Core/echo", {}, "c3"]
        ])),
    )
    .await
    .unwrap();
    assert_eq!(resp(&v, 0).1["type"], "invalidResultReference");
    assert_eq!(resp(&v, 1).1["type"], "invalidResultReference");
    assert_eq!(resp(&v, 2).0, "Core/echo");
}

#[tokio::test]
async fn reference_to_an_error_response_is_invalid() {
    let v = run(
        &Notes::default(),
        calls(json!([
            ["Note/get", {"accountId": 1}, "c1"],
            ["Core/echo", {"#x": {"resultOf": "c1", "name": "Note/get", "path": "/list"}}, "c2"]
        ])),
    )
    .await
    .unwrap();
    assert_eq!(resp(&v, 0).1["type"], "invalidArguments");
    assert_eq!(resp(&v, 1).1["type"], "invalidResultReference");
}

#[tokio::test]
async fn created_ids_round_trip() {
    let notes = Notes::default();
    // Created in an earlier request; the client passes the mapping back in createdIds.
    let first = run(
        &notes,
        calls(json!([["Note/set", {"accountId": "A1",
        "create": {"k0": {"text": "zero"}}}, "c0"]])),
    )
    .await
    .unwrap();
    let n0 = resp(&first, 0).1["created"]["k0"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut body = calls(json!([
        ["Note/set", {"accountId": "A1", "create": {"k1": {"text": "one"}},
            "update": {"#k0": {"text": "zero!"}}}, "c1"],
        ["Note/get", {"accountId": "A1", "ids": ["#k0", "#k1", "#nope"]}, "c2"]
    ]));
    body["createdIds"] = json!({"k0": n0});
    let v = run(&notes, body).await.unwrap();
    let n1 = resp(&v, 0).1["created"]["k1"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(resp(&v, 0).1["updated"][&n0], Value::Null);
    let (_, get) = resp(&v, 1);
    assert_eq!(
        get["list"],
        json!([{"id": n0, "text": "zero!"}, {"id": n1, "text": "one"}])
    );
    assert_eq!(get["notFound"], json!(["#nope"]));
    assert_eq!(v["createdIds"], json!({"k0": n0, "k1": n1}));
}

#[tokio::test]
async fn an_account_of_another_user_is_account_not_found_and_nothing_changes() {
    let notes = Notes::default();
    let before = notes.state();
    let v = run(
        &notes,
        calls(json!([
            ["Note/set", {"accountId": "B1", "create": {"k1": {"text": "x"}}}, "c1"],
            ["Note/get", {"accountId": "B1", "ids": null}, "c2"],
            ["Note/set", {"accountId": "R1", "create": {"k1": {"text": "x"}}}, "c3"]
        ])),
    )
    .await
    .unwrap();
    assert_eq!(resp(&v, 0).1["type"], "accountNotFound");
    assert_eq!(resp(&v, 1).1["type"], "accountNotFound");
    assert_eq!(resp(&v, 2).1["type"], "accountReadOnly");
    assert_eq!(notes.state(), before);
}

#[tokio::test]
async fn state_changes_exactly_when_data_changes_and_if_in_state_guards() {
    let notes = Notes::default();
    let s0 = notes.state();
    let v = run(&notes, calls(json!([
        ["Note/set", {"accountId": "A1"}, "c1"],
        ["Note/set", {"accountId": "A1", "destroy": ["N404"]}, "c2"],
        ["Note/set", {"accountId": "A1", "ifInState": "other", "create": {"k": {"text": "x"}}}, "c3"]
    ])))
    .await
    .unwrap();
    assert_eq!(resp(&v, 0).1["newState"], s0.as_str());
    assert_eq!(resp(&v, 1).1["notDestroyed"]["N404"]["type"], "notFound");
    assert_eq!(resp(&v, 1).1["newState"], s0.as_str());
    assert_eq!(resp(&v, 2).1["type"], "stateMismatch");
    assert_eq!(notes.state(), s0, "a stateMismatch changes nothing");
    let v = run(
        &notes,
        calls(json!([["Note/set", {"accountId": "A1", "ifInState": s0,
        "create": {"k": {"text": "x"}}}, "c1"]])),
    )
    .await
    .unwrap();
    assert_eq!(resp(&v, 0).1["oldState"], s0.as_str());
    assert_ne!(resp(&v, 0).1["newState"], s0.as_str());
    assert_eq!(resp(&v, 0).1["newState"], notes.state().as_str());
}

#[tokio::test]
async fn max_objects_in_get_and_set_are_request_too_large() {
    let v = run(&Notes::default(), calls(json!([
        ["Note/get", {"accountId": "A1", "ids": ["a", "b", "c", "d"]}, "c1"],
        ["Note/set", {"accountId": "A1", "destroy": ["a", "b"], "create": {"x": {"text": ""}, "y": {"text": ""}}}, "c2"],
        ["Note/get", {"accountId": "A1", "ids": ["a", "b", "c"]}, "c3"]
    ])))
    .await
    .unwrap();
    assert_eq!(resp(&v, 0).1["type"], "requestTooLarge");
    assert_eq!(resp(&v, 1).1["type"], "requestTooLarge");
    assert_eq!(resp(&v, 2).1["notFound"], json!(["a", "b", "c"]));
}

#[tokio::test]
async fn wrong_argument_types_are_invalid_arguments() {
    let v = run(&Notes::default(), calls(json!([
        ["Note/get", {"accountId": "A1", "ids": "N1"}, "c1"],
        ["Note/get", {"accountId": "A1", "ids": null, "bogus": true}, "c2"],
        ["Note/get", {"ids": null}, "c3"],
        ["Note/set", {"accountId": "A1", "create": {"k": "text"}}, "c4"],
        ["Note/set", {"accountId": "A1", "create": {"bad id": {}}}, "c5"],
        ["Note/get", {"accountId": "A1", "ids": null, "properties": ["nope"]}, "c6"],
        ["Note/get", {"accountId": "A1", "ids": [], "#ids": {"resultOf": "c1", "name": "error", "path": ""}}, "c7"]
    ])))
    .await
    .unwrap();
    for i in 0..7 {
        assert_eq!(resp(&v, i).1["type"], "invalidArguments", "call {i}");
    }
}

#[tokio::test]
async fn invalid_patch_and_properties_are_set_errors() {
    let notes = Notes::default();
    let v = run(&notes, calls(json!([
        ["Note/set", {"accountId": "A1", "create": {"k": {"text": "x"}, "bad": {"text": 5}}}, "c1"],
        ["Note/set", {"accountId": "A1", "update": {"#k": {"text/0": "y"}}}, "c2"],
        ["Note/set", {"accountId": "A1", "update": {"#k": {"colour": "red"}}}, "c3"]
    ])))
    .await
    .unwrap();
    assert_eq!(
        resp(&v, 0).1["notCreated"]["bad"],
        json!({"type": "invalidProperties", "properties": ["text"]})
    );
    let id = resp(&v, 0).1["created"]["k"]["id"].as_str().unwrap();
    assert_eq!(resp(&v, 1).1["notUpdated"][id]["type"], "invalidPatch");
    assert_eq!(
        resp(&v, 2).1["notUpdated"][id]["properties"],
        json!(["colour"])
    );
}

#[tokio::test]
async fn query_arguments_are_validated() {
    let notes = Notes::default();
    let v = run(&notes, calls(json!([
        ["Note/set", {"accountId": "A1", "create": {"a": {"text": "1"}, "b": {"text": "2"}, "c": {"text": "3"}}}, "c0"],
        ["Note/query", {"accountId": "A1", "filter": {"operator": "XOR", "conditions": []}}, "c1"],
        ["Note/query", {"accountId": "A1", "filter": {"operator": "AND", "conditions": [{"colour": "red"}]}}, "c2"],
        ["Note/query", {"accountId": "A1", "sort": [{"property": "size"}]}, "c3"],
        ["Note/query", {"accountId": "A1", "sort": [{"property": "text", "collation": "i;nope"}]}, "c4"],
        ["Note/query", {"accountId": "A1", "anchor": "N999"}, "c5"],
        ["Note/query", {"accountId": "A1", "limit": -1}, "c6"],
        ["Note/query", {"accountId": "A1", "position": -2, "calculateTotal": true}, "c7"],
        ["Note/query", {"accountId": "A1", "anchor": "N2", "anchorOffset": -5, "limit": 2,
            "filter": {"operator": "NOT", "conditions": [{"text": "x"}]},
            "sort": [{"property": "text", "isAscending": false, "collation": "i;ascii-casemap"}]}, "c8"],
        ["Note/query", {"accountId": "A1", "sort": [{"property": "text", "isAscending": "yes"}]}, "c9"]
    ])))
    .await
    .unwrap();
    assert_eq!(resp(&v, 1).1["type"], "invalidArguments");
    assert_eq!(resp(&v, 2).1["type"], "unsupportedFilter");
    assert_eq!(resp(&v, 3).1["type"], "unsupportedSort");
    assert_eq!(resp(&v, 4).1["type"], "unsupportedSort");
    assert_eq!(resp(&v, 5).1["type"], "anchorNotFound");
    assert_eq!(resp(&v, 6).1["type"], "invalidArguments");
    assert_eq!(resp(&v, 7).1["position"], 1);
    assert_eq!(resp(&v, 7).1["total"], 3);
    assert_eq!(resp(&v, 7).1["ids"], json!(["N2", "N3"]));
    assert_eq!(resp(&v, 8).1["position"], 0);
    assert_eq!(resp(&v, 8).1["ids"], json!(["N1", "N2"]));
    assert!(resp(&v, 8).1.get("total").is_none());
    assert_eq!(resp(&v, 9).1["type"], "invalidArguments");
}
