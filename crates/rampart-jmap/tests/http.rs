//! The JMAP endpoints over real HTTP/1.1 on 127.0.0.1:0, with an in-test backend.

mod support;

use std::collections::BTreeMap;

use serde_json::{json, Value};
use tokio::io::AsyncReadExt;

use rampart_jmap::http::{JmapConfig, StateChange};
use rampart_jmap::CoreCapability;
use support::notes::NOTES;
use support::*;

const CORE: &str = "urn:ietf:params:jmap:core";

fn config() -> JmapConfig {
    JmapConfig {
        core: CoreCapability {
            max_size_request: 1024 * 1024,
            max_calls_in_request: 16,
            max_concurrent_requests: 1,
            max_size_upload: 1024,
            max_concurrent_upload: 1,
            ..CoreCapability::default()
        },
        ..JmapConfig::default()
    }
}

fn echo() -> Value {
    json!({"using": [CORE], "methodCalls": [["Core/echo", {"ok": true}, "c1"]]})
}

/// The session still answers requests normally.
async fn still_serving(addr: std::net::SocketAddr) {
    let r = api(addr, &echo()).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json()["methodResponses"][0],
        json!(["Core/echo", {"ok": true}, "c1"])
    );
}

fn assert_problem(r: &HttpResponse, status: u16, ty: &str) {
    assert_eq!(r.status, status, "{:?}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    let p = r.json();
    assert_eq!(p["type"], ty);
    assert_eq!(p["status"], status);
}

#[tokio::test]
async fn well_known_redirects_to_the_session() {
    let (addr, _) = start(config()).await;
    let r = send(addr, "GET", "/.well-known/jmap", &[], b"").await;
    assert_eq!(r.status, 307);
    assert_eq!(r.header("location"), Some("/jmap/session"));
}

#[tokio::test]
async fn session_needs_credentials() {
    let (addr, _) = start(config()).await;
    for auth in [
        None,
        Some("Basic YWxpY2U6d3Jvbmc="),
        Some("Bearer nope"),
        Some("Basic !!"),
    ] {
        let h: Vec<(&str, &str)> = auth.map(|a| ("Authorization", a)).into_iter().collect();
        let r = send(addr, "GET", "/jmap/session", &h, b"").await;
        assert_eq!(r.status, 401, "{auth:?}");
        let challenges = r.headers_named("www-authenticate");
        assert!(
            challenges.iter().any(|c| c.starts_with("Basic realm=")),
            "{challenges:?}"
        );
        assert!(
            challenges.iter().any(|c| c.starts_with("Bearer realm=")),
            "{challenges:?}"
        );
    }
    let r = send(
        addr,
        "GET",
        "/jmap/session",
        &[("Authorization", "Bearer tok-alice")],
        b"",
    )
    .await;
    assert_eq!(r.status, 200);
    let s = r.json();
    assert_eq!(s["username"], "alice");
    assert_eq!(s["capabilities"][CORE]["maxCallsInRequest"], 16);
    assert_eq!(s["capabilities"][CORE]["maxConcurrentRequests"], 1);
    assert!(s["capabilities"].get(NOTES).is_some());
    assert_eq!(s["accounts"]["R1"]["isReadOnly"], true);
    // Absolute, on the origin the client used (its Host header).
    assert_eq!(s["apiUrl"], "https://localhost/jmap/api");
    // The API's sessionState is the session's state.
    let r = api(addr, &echo()).await;
    assert_eq!(r.json()["sessionState"], s["state"]);
}

#[tokio::test]
async fn request_errors_are_problem_details_and_the_session_keeps_serving() {
    let (addr, backend) = start(config()).await;
    let before = backend.methods.notes.state();
    let auth_json = [
        ("Authorization", ALICE),
        ("Content-Type", "application/json"),
    ];
    // Malformed JSON.
    let r = send(addr, "POST", "/jmap/api", &auth_json, b"{\"using\": [").await;
    assert_problem(&r, 400, "urn:ietf:params:jmap:error:notJSON");
    still_serving(addr).await;
    // Not application/json.
    let r = send(
        addr,
        "POST",
        "/jmap/api",
        &[("Authorization", ALICE), ("Content-Type", "text/plain")],
        echo().to_string().as_bytes(),
    )
    .await;
    assert_problem(&r, 400, "urn:ietf:params:jmap:error:notJSON");
    // Wrong types.
    let r = api(
        addr,
        &json!({"using": [CORE], "methodCalls": [["Core/echo", {}, 7]]}),
    )
    .await;
    assert_problem(&r, 400, "urn:ietf:params:jmap:error:notRequest");
    // Unknown capability: nothing runs, not even the create before it would.
    let r = api(
        addr,
        &json!({"using": [CORE, NOTES, "urn:example:nope"], "methodCalls": [
        ["Note/set", {"accountId": "A1", "create": {"k": {"text": "x"}}}, "c1"]]}),
    )
    .await;
    assert_problem(&r, 400, "urn:ietf:params:jmap:error:unknownCapability");
    // 10,000 method calls.
    let calls: Vec<Value> = (0..10_000)
        .map(|i| json!(["Core/echo", {}, format!("c{i}")]))
        .collect();
    let r = api(addr, &json!({"using": [CORE], "methodCalls": calls})).await;
    assert_problem(&r, 400, "urn:ietf:params:jmap:error:limit");
    assert_eq!(r.json()["limit"], "maxCallsInRequest");
    // Oversized request.
    let big = "x".repeat(1024 * 1024);
    let r = api(
        addr,
        &json!({"using": [CORE], "methodCalls": [["Core/echo", {"big": big}, "c1"]]}),
    )
    .await;
    assert_problem(&r, 400, "urn:ietf:params:jmap:error:limit");
    assert_eq!(r.json()["limit"], "maxSizeRequest");
    still_serving(addr).await;
    assert_eq!(
        backend.methods.notes.state(),
        before,
        "no request error changed anything"
    );
}

#[tokio::test]
async fn method_errors_over_http() {
    let (addr, _) = start(config()).await;
    let r = api(
        addr,
        &json!({"using": [CORE, NOTES], "methodCalls": [
        ["Nope/get", {}, "c1"],
        ["Note/get", {"accountId": "B1", "ids": null}, "c2"],
        ["Core/echo", {"#a": {"resultOf": "c3", "name": "Core/echo", "path": ""}}, "c3"],
        ["Note/set", {"accountId": "A1", "create": {"k1": {"text": "hi"}}}, "c4"]
    ], "createdIds": {}}),
    )
    .await;
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["methodResponses"][0][1]["type"], "unknownMethod");
    assert_eq!(v["methodResponses"][1][1]["type"], "accountNotFound");
    assert_eq!(v["methodResponses"][2][1]["type"], "invalidResultReference");
    let id = v["methodResponses"][3][1]["created"]["k1"]["id"].clone();
    assert_eq!(v["createdIds"], json!({"k1": id}));
}

#[tokio::test]
async fn too_many_concurrent_requests_is_429_limit() {
    let (addr, backend) = start(config()).await;
    let held = tokio::spawn(async move {
        api(
            addr,
            &json!({"using": [CORE, GATED], "methodCalls": [["Gate/wait", {}, "c1"]]}),
        )
        .await
    });
    backend.gate.entered.notified().await;
    let r = api(addr, &echo()).await;
    assert_problem(&r, 429, "urn:ietf:params:jmap:error:limit");
    assert_eq!(r.json()["limit"], "maxConcurrentRequests");
    // Another user is not affected.
    let r = send(
        addr,
        "POST",
        "/jmap/api",
        &[
            ("Authorization", "Basic Ym9iOmh1bnRlcjI="),
            ("Content-Type", "application/json"),
        ],
        echo().to_string().as_bytes(),
    )
    .await;
    assert_eq!(r.status, 200);
    backend.gate.release.notify_one();
    assert_eq!(held.await.unwrap().status, 200);
    still_serving(addr).await;
}

#[tokio::test]
async fn upload_and_download_round_trip() {
    let (addr, _) = start(config()).await;
    let r = send(
        addr,
        "POST",
        "/jmap/upload/A1",
        &[
            ("Authorization", ALICE),
            ("Content-Type", "Text/Plain; charset=utf-8"),
        ],
        b"hello blob",
    )
    .await;
    assert_eq!(r.status, 201);
    let up = r.json();
    assert_eq!(up["accountId"], "A1");
    assert_eq!(up["type"], "text/plain");
    assert_eq!(up["size"], 10);
    let blob = up["blobId"].as_str().unwrap().to_owned();
    let path = format!("/jmap/download/A1/{blob}/my%20%22file%22.txt?accept=text/plain");
    let r = send(addr, "GET", &path, &[("Authorization", ALICE)], b"").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"hello blob");
    assert_eq!(r.header("content-type"), Some("text/plain"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(
        r.header("content-disposition"),
        Some("attachment; filename=\"my _file_.txt\"; filename*=UTF-8''my%20_file_.txt")
    );
    // A type that could be rendered as a page of ours is still an attachment in a sandbox.
    let r = send(
        addr,
        "GET",
        &format!("/jmap/download/A1/{blob}/x.html?accept=text/html"),
        &[("Authorization", ALICE)],
        b"",
    )
    .await;
    assert!(r
        .header("content-disposition")
        .unwrap()
        .starts_with("attachment"));
    assert!(r
        .header("content-security-policy")
        .unwrap()
        .contains("sandbox"));
    // Another user's account, a missing blob, no credentials.
    let bob = [("Authorization", "Basic Ym9iOmh1bnRlcjI=")];
    assert_eq!(
        send(
            addr,
            "GET",
            &format!("/jmap/download/A1/{blob}/x"),
            &bob,
            b""
        )
        .await
        .status,
        404
    );
    assert_eq!(
        send(
            addr,
            "GET",
            "/jmap/download/A1/B999/x",
            &[("Authorization", ALICE)],
            b""
        )
        .await
        .status,
        404
    );
    assert_eq!(
        send(
            addr,
            "GET",
            &format!("/jmap/download/A1/{blob}/x"),
            &[],
            b""
        )
        .await
        .status,
        401
    );
}

#[tokio::test]
async fn upload_limits_and_accounts() {
    let (addr, backend) = start(config()).await;
    let auth = [
        ("Authorization", ALICE),
        ("Content-Type", "application/octet-stream"),
    ];
    let r = send(addr, "POST", "/jmap/upload/A1", &auth, &[0u8; 2000]).await;
    assert_problem(&r, 413, "urn:ietf:params:jmap:error:limit");
    assert_eq!(r.json()["limit"], "maxSizeUpload");
    assert_eq!(
        send(addr, "POST", "/jmap/upload/B1", &auth, b"x")
            .await
            .status,
        404
    );
    assert_eq!(
        send(addr, "POST", "/jmap/upload/R1", &auth, b"x")
            .await
            .status,
        403
    );
    assert!(backend.blobs.lock().unwrap().is_empty(), "nothing stored");
    // maxConcurrentUpload = 1.
    let held = tokio::spawn(async move {
        send(
            addr,
            "POST",
            "/jmap/upload/A1",
            &[
                ("Authorization", ALICE),
                ("Content-Type", "application/x-gate"),
            ],
            b"slow",
        )
        .await
    });
    backend.gate.entered.notified().await;
    let r = send(addr, "POST", "/jmap/upload/A1", &auth, b"x").await;
    assert_problem(&r, 429, "urn:ietf:params:jmap:error:limit");
    assert_eq!(r.json()["limit"], "maxConcurrentUpload");
    backend.gate.release.notify_one();
    assert_eq!(held.await.unwrap().status, 201);
    assert_eq!(
        send(addr, "POST", "/jmap/upload/A1", &auth, b"x")
            .await
            .status,
        201
    );
}

#[tokio::test]
async fn eventsource_sends_state_changes_of_the_users_accounts() {
    let (addr, backend) = start(config()).await;
    let (mut s, mut raw) = open_stream(
        addr,
        "/jmap/eventsource?types=*&closeafter=state&ping=0",
        ALICE,
    )
    .await;
    // The header section has arrived, so the handler has subscribed.
    let change = |acc: &str, state: &str| StateChange {
        changed: BTreeMap::from([(
            acc.to_string(),
            BTreeMap::from([("Note".to_string(), state.to_string())]),
        )]),
    };
    backend.push.send(change("B1", "s9")).unwrap();
    backend.push.send(change("A1", "s1")).unwrap();
    // A guard, not a synchronisation: closeafter=state must end the stream by itself.
    tokio::time::timeout(std::time::Duration::from_secs(10), s.read_to_end(&mut raw))
        .await
        .expect("closeafter=state closes the stream after the state event")
        .unwrap();
    let r = parse_response(&raw);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    let text = String::from_utf8(r.body).unwrap();
    let events: Vec<&str> = text
        .split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .collect();
    assert_eq!(events.len(), 1, "{text:?}");
    let mut lines = events[0].lines();
    assert_eq!(lines.next(), Some("event: state"));
    let data: Value =
        serde_json::from_str(lines.next().unwrap().strip_prefix("data: ").unwrap()).unwrap();
    assert_eq!(
        data,
        json!({"@type": "StateChange", "changed": {"A1": {"Note": "s1"}}})
    );
}

#[tokio::test]
async fn eventsource_connections_per_user_are_limited() {
    let mut cfg = config();
    cfg.max_event_sources = 1;
    let (addr, _) = start(cfg).await;
    let path = "/jmap/eventsource?types=*&closeafter=no&ping=0";
    let (_open, raw) = open_stream(addr, path, ALICE).await;
    assert!(raw.starts_with(b"HTTP/1.1 200"));
    // Only the header section is read: were the limit missing, the 200 stream would never end.
    let (_second, raw) = open_stream(addr, path, ALICE).await;
    assert!(
        raw.starts_with(b"HTTP/1.1 429"),
        "{:?}",
        String::from_utf8_lossy(&raw)
    );
    // Another user has their own allowance.
    let (_bob, raw) = open_stream(addr, path, "Basic Ym9iOmh1bnRlcjI=").await;
    assert!(raw.starts_with(b"HTTP/1.1 200"));
}

#[tokio::test]
async fn eventsource_bad_parameters_are_400() {
    let (addr, _) = start(config()).await;
    let r = send(
        addr,
        "GET",
        "/jmap/eventsource?types=*&closeafter=maybe&ping=0",
        &[("Authorization", ALICE)],
        b"",
    )
    .await;
    assert_eq!(r.status, 400);
    let r = send(
        addr,
        "GET",
        "/jmap/eventsource?types=*&closeafter=no&ping=-3",
        &[("Authorization", ALICE)],
        b"",
    )
    .await;
    assert_eq!(r.status, 400);
}
