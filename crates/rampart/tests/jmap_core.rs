//! JMAP over the https listener of a real `rampart serve`, spoken with curl: the session, Basic
//! authentication against the SMTP accounts, and the request-level rules (RFC 8620).

use crate::common;

use common::jmap::*;
use serde_json::json;

#[test]
fn session_lists_the_users_own_account_and_the_mail_capabilities() {
    let s = start_jmap();
    let c = s.jmap("alice@example.test");
    let session = c.session();
    assert_eq!(session["username"], "alice@example.test");
    for cap in USING {
        assert!(session["capabilities"].get(cap).is_some(), "{cap}");
    }
    let id = c.account_id();
    let account = &session["accounts"][&id];
    assert_eq!(account["name"], "alice@example.test");
    assert_eq!(account["isPersonal"], true);
    assert_eq!(account["isReadOnly"], false);
    // Bob's account id is not alice's.
    assert_ne!(s.jmap("bob@example.test").account_id(), id);
    // The well-known URI redirects to the session resource without authentication.
    let r = s
        .jmap_with(Auth::None)
        .http("GET", "/.well-known/jmap", &[], None);
    assert_eq!(r.status, 307);
    assert_eq!(r.header("location"), Some("/jmap/session"));
}

#[test]
fn wrong_password_and_no_credentials_are_401_and_echo_works() {
    let s = start_jmap();
    let bad = s.jmap_with(Auth::Basic("alice@example.test".into(), "wrong".into()));
    assert_eq!(bad.http("GET", "/jmap/session", &[], None).status, 401);
    let none = s.jmap_with(Auth::None);
    let r = none.http("GET", "/jmap/session", &[], None);
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").is_some());
    let c = s.jmap("alice@example.test");
    let out = c.call1("Core/echo", json!({"hello": [1, 2]}));
    assert_eq!(out, json!({"hello": [1, 2]}));
}

#[test]
fn session_urls_are_absolute_on_the_origin_the_client_used() {
    let s = start_jmap();
    let session = s.jmap("alice@example.test").session();
    let base = s.https_base();
    assert_eq!(session["apiUrl"], format!("{base}/jmap/api"));
    assert!(session["downloadUrl"]
        .as_str()
        .unwrap()
        .starts_with(&format!("{base}/jmap/download/")));
    assert!(session["uploadUrl"]
        .as_str()
        .unwrap()
        .starts_with(&format!("{base}/jmap/upload/")));
}

/// RFC 8620 §3.6: each bad request gets the RFC's answer, and the server goes on serving.
#[test]
fn bad_requests_get_the_rfc_errors_and_the_server_keeps_serving() {
    let s = start_jmap();
    let c = s.jmap("alice@example.test");
    let acc = c.account_id();
    let states = || {
        let r = c.call(json!([
            ["Mailbox/get", {"accountId": acc, "ids": []}, "m"],
            ["Email/get", {"accountId": acc, "ids": []}, "e"]
        ]));
        (r[0][1]["state"].clone(), r[1][1]["state"].clone())
    };
    let before = states();
    let problem = |body: &[u8], ctype: &str| {
        let r = c.http("POST", "/jmap/api", &[("Content-Type", ctype)], Some(body));
        assert_eq!(
            r.header("content-type"),
            Some("application/problem+json"),
            "{}",
            r.text()
        );
        (r.status, r.json())
    };
    let urn = |t: &str| format!("urn:ietf:params:jmap:error:{t}");
    // Malformed JSON, and a body that is not JSON at all.
    let (st, p) = problem(b"{\"using\": [", "application/json");
    assert_eq!(
        (st, p["type"].as_str().unwrap()),
        (400, urn("notJSON").as_str())
    );
    let (_, p) = problem(b"{}", "text/plain");
    assert_eq!(p["type"], urn("notJSON"));
    // JSON of the wrong shape.
    let (st, p) = problem(
        br#"{"using": "core", "methodCalls": {}}"#,
        "application/json",
    );
    assert_eq!(
        (st, p["type"].as_str().unwrap()),
        (400, urn("notRequest").as_str())
    );
    // A capability the server does not offer.
    let (_, p) = problem(
        br#"{"using": ["urn:example:nothing"], "methodCalls": []}"#,
        "application/json",
    );
    assert_eq!(p["type"], urn("unknownCapability"));
    // 10,000 method calls: over maxCallsInRequest.
    let calls: Vec<_> = (0..10_000)
        .map(|i| json!(["Core/echo", {}, format!("c{i}")]))
        .collect();
    let body = json!({"using": USING, "methodCalls": calls}).to_string();
    let (_, p) = problem(body.as_bytes(), "application/json");
    assert_eq!(p["type"], urn("limit"));
    assert_eq!(p["limit"], "maxCallsInRequest");
    // A request over maxSizeRequest.
    let max = c.session()["capabilities"]["urn:ietf:params:jmap:core"]["maxSizeRequest"]
        .as_u64()
        .unwrap();
    let big = format!(
        "{{\"using\": [], \"methodCalls\": [[\"Core/echo\", {{\"x\": \"{}\"}}, \"a\"]]}}",
        "x".repeat(max as usize + 1)
    );
    // Over HTTP/1.1 with `Expect: 100-continue`: the answer comes before the body is sent.
    // (Over HTTP/2 the server answers early too and resets the stream, which curl reports as
    // an error of its own although the response arrived.)
    let mut h1 = s.jmap("alice@example.test");
    h1.curl_args = vec!["--http1.1"];
    let r = h1.post_api(big.as_bytes());
    let p = r.json();
    assert_eq!(p["type"], urn("limit"), "{}", r.status);
    assert_eq!(p["limit"], "maxSizeRequest");

    // Method-level errors: each call fails alone, the next one runs.
    let bob = s.jmap("bob@example.test").account_id();
    let r = c.call(json!([
        ["Nothing/get", {}, "a"],
        ["Core/echo", {"#x": {"resultOf": "zz", "name": "Core/echo", "path": "/x"}}, "b"],
        // A reference to itself: results are only of earlier calls, so this cannot loop.
        ["Core/echo", {"#y": {"resultOf": "c", "name": "Core/echo", "path": "/y"}}, "c"],
        ["Mailbox/get", {"accountId": bob}, "d"],
        ["Core/echo", {"still": "here"}, "e"]
    ]));
    let kinds: Vec<(&str, &str)> = r
        .iter()
        .map(|x| (x[0].as_str().unwrap(), x[1]["type"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("error", "unknownMethod"),
            ("error", "invalidResultReference"),
            ("error", "invalidResultReference"),
            ("error", "accountNotFound"),
            ("Core/echo", ""),
        ]
    );
    assert_eq!(r[4][1], json!({"still": "here"}));
    // Nothing changed.
    assert_eq!(states(), before);
}

/// RFC 8620 §7.3: an EventSource client is told when new mail arrives over SMTP.
#[test]
fn push_tells_an_event_source_client_about_new_mail() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let s = start_jmap();
    let alice = s.jmap("alice@example.test");
    let account = alice.account_id();
    let port = s.listener("https").port();
    let mut curl = Command::new("curl")
        .args([
            "-sS",
            "-N",
            "--http1.1",
            "--max-time",
            "60",
            "-D",
            "-",
            "--cacert",
        ])
        .arg(s.ca_file())
        .arg("--resolve")
        .arg(format!("mail.example.test:{port}:127.0.0.1"))
        .arg("-u")
        .arg(format!("alice@example.test:{}", common::PASSWORD))
        .arg(format!(
            "https://mail.example.test:{port}/jmap/eventsource?types=*&closeafter=state&ping=0"
        ))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(curl.stdout.take().unwrap());
    // The status line arrives once the handler has subscribed: mail sent after it is seen.
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert!(line.contains(" 200"), "{line}");
    let mut c = s.connect();
    c.expect(220);
    c.send("EHLO client.example.org");
    c.expect(250);
    let (code, text) = c.send_mail(
        "carol@example.org",
        &["alice@example.test"],
        "From: carol@example.org\r\nTo: alice@example.test\r\nSubject: push\r\n\r\nhello\r\n",
    );
    assert_eq!(code, 250, "{text}");
    let mut event = String::new();
    let data = loop {
        line.clear();
        let n = out.read_line(&mut line).unwrap();
        assert!(n > 0, "the stream ended without a state event");
        if let Some(e) = line.strip_prefix("event:") {
            event = e.trim().to_string();
        }
        if let Some(d) = line.strip_prefix("data:") {
            if event == "state" {
                break d.trim().to_string();
            }
        }
    };
    let v: serde_json::Value = serde_json::from_str(&data).unwrap();
    assert_eq!(v["@type"], "StateChange");
    let changed = &v["changed"][&account];
    for t in ["Email", "Mailbox", "Thread"] {
        assert!(changed.get(t).is_some(), "{t} in {v}");
    }
    // Only alice's own account: bob's is never in her events.
    assert_eq!(v["changed"].as_object().unwrap().len(), 1);
    let _ = curl.wait();
}
