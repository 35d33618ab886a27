//! The webmail's sessions over HTTPS against a real `rampart serve`, with curl (issue 13, item
//! 4): the cookie's flags, randomness and hashed storage; session fixation; CSRF on sign-in,
//! sign-out and the JMAP API; sign-out, the idle timeout and a disabled account ending the
//! session; the pages' security headers; and no session token in the log.
//!
//! The failed-login guard (NC-2.1.4) and the mailbox audit (AL-3.1) of the webmail are in
//! webmail_audit.rs.

use crate::common;
use crate::session_support;

use common::jmap::*;
use common::{cli, Options, Server, PASSWORD};
use serde_json::json;
use session_support::*;

/// A made-up session token of the right shape.
const PLANTED: &str = "rps_00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

fn has_cookie_attr(header: &str, attr: &str) -> bool {
    header
        .split(';')
        .skip(1)
        .any(|a| a.trim().eq_ignore_ascii_case(attr))
}

fn cookie_attr_named(header: &str, name: &str) -> bool {
    header.split(';').skip(1).any(|a| {
        a.trim()
            .split('=')
            .next()
            .is_some_and(|k| k.trim().eq_ignore_ascii_case(name))
    })
}

/// Every file of the store (database, write-ahead log) as bytes.
fn store_bytes(s: &Server) -> Vec<u8> {
    let mut all = Vec::new();
    for e in std::fs::read_dir(s.data_dir()).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if p.is_file() && name.starts_with("rampart.db") {
            all.extend(std::fs::read(&p).unwrap());
        }
    }
    all
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// The webmail sessions' rows as SQLite stores them: (hash, account) per line.
fn session_rows(s: &Server) -> String {
    let out = common::python(
        "import sqlite3,sys\n\
         c=sqlite3.connect(sys.argv[1])\n\
         for h,a in c.execute('SELECT hash, account FROM web_sessions'): print(h, a)\n",
        &[s.data_dir().join("rampart.db").to_str().unwrap()],
    );
    String::from_utf8(out.stdout).unwrap()
}

fn sha256_hex(s: &str) -> String {
    let out = common::python(
        "import hashlib,sys\nprint(hashlib.sha256(sys.argv[1].encode()).hexdigest())",
        &[s],
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn al_4_1_sign_in_gives_a_strict_cookie_and_the_api_answers_it_with_csrf() {
    let s = start_jmap();
    let b = Browser::sign_in(&s, ALICE);
    let app = get_with(&s, "/", &b.session);
    assert!(app
        .header("content-security-policy")
        .is_some_and(|c| c.contains("script-src 'self'") && !c.contains("unsafe-inline")));
    let with_csrf = b.api_with(json!([["Mailbox/get", {}, "0"]]), Some(&b.csrf));
    assert_eq!(with_csrf.status, 200, "{}", with_csrf.text());
    // CSRF: the cookie alone does not reach the API.
    let without = b.api_with(json!([["Mailbox/get", {}, "0"]]), None);
    assert_eq!(without.status, 401);
    // No Basic challenge for the browser (it would show a password dialog).
    assert!(!without
        .header("www-authenticate")
        .is_some_and(|v| v.contains("Basic")));
    // Nor for the page's request once its cookie is gone (cleared by the user): the CSRF
    // header says it is the webmail's. A client without either is challenged for Basic.
    let body = json!({"using": USING, "methodCalls": [["Mailbox/get", {}, "0"]]}).to_string();
    let gone = anon(&s).http(
        "POST",
        "/jmap/api",
        &[
            ("Content-Type", "application/json"),
            ("X-Rampart-CSRF", &b.csrf),
        ],
        Some(body.as_bytes()),
    );
    assert_eq!(gone.status, 401);
    let challenges: Vec<&str> = gone
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("www-authenticate"))
        .map(|(_, v)| v.as_str())
        .collect();
    assert!(
        !challenges.is_empty() && challenges.iter().all(|v| !v.contains("Basic")),
        "{challenges:?}"
    );
    let api_client = anon(&s).http(
        "POST",
        "/jmap/api",
        &[("Content-Type", "application/json")],
        Some(body.as_bytes()),
    );
    assert!(api_client
        .headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("www-authenticate") && v.contains("Basic")));
}

/// A request refused for its credentials is answered after its body has been read (up to
/// 1 MiB): answered mid-upload, HTTP/2 resets the stream and curl reports a transport error
/// (CI saw `curl: (92) Stream error in the HTTP/2 framing layer`) instead of the 401.
#[test]
fn al_4_1_a_refused_request_with_a_body_gets_its_401() {
    let s = start_jmap();
    let padding = " ".repeat(600 * 1024);
    let body =
        format!("{{\"using\": [], \"methodCalls\": [[\"Mailbox/get\", {{}}, \"0\"]]{padding}}}");
    for _ in 0..3 {
        let r = anon(&s).http(
            "POST",
            "/jmap/api",
            &[
                ("Content-Type", "application/json"),
                ("X-Rampart-CSRF", "x"),
            ],
            Some(body.as_bytes()),
        );
        assert_eq!(r.status, 401);
    }
}

/// Issue 13 item 4: `__Host-` cookie, Secure, HttpOnly, SameSite=Strict, Path=/, no Domain, no
/// lifetime (it ends with the browser); random; only its hash in the database.
#[test]
fn al_4_1_session_cookie_flags_random_and_stored_hashed() {
    let s = start_jmap();
    let (t1, header) = sign_in(&s, ALICE, PASSWORD).expect("signed in");
    let (t2, _) = sign_in(&s, ALICE, PASSWORD).expect("signed in again");
    assert!(
        header.starts_with("__Host-rampart-session="),
        "the __Host- prefix binds the cookie to this host: {header}"
    );
    for flag in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(has_cookie_attr(&header, flag), "{flag} missing: {header}");
    }
    for absent in ["Domain", "Max-Age", "Expires"] {
        assert!(
            !cookie_attr_named(&header, absent),
            "{absent} on the session cookie: {header}"
        );
    }
    assert_ne!(t1, t2, "two sign-ins, two sessions");
    assert!(t1.starts_with("rps_") && t1.len() == 4 + 64, "{t1}");
    assert!(
        t1[4..].bytes().all(|b| b.is_ascii_hexdigit()),
        "256 bits in hex: {t1}"
    );
    assert!(get_with(&s, "/", &t1).status == 200 && is_webmail(&get_with(&s, "/", &t2)));
    // Stored hashed: the rows hold SHA-256 of each token, and no file of the store holds a
    // token.
    let rows = session_rows(&s);
    for t in [&t1, &t2] {
        assert!(
            rows.contains(&format!("{} {ALICE}", sha256_hex(t))),
            "{rows}"
        );
        assert!(!rows.contains(t.as_str()), "{rows}");
        assert!(!contains(&store_bytes(&s), t), "the token is in the store");
    }
}

/// Session fixation: a cookie the browser brought to the sign-in (made up, or a real earlier
/// session) is never the session afterwards, and a real one is ended by the sign-in.
#[test]
fn al_4_1_session_fixation_a_planted_cookie_is_not_the_session() {
    let s = start_jmap();
    let r = post_login(&s, ALICE, PASSWORD, &[(SESSION_COOKIE, PLANTED)]);
    assert_eq!(r.status, 303, "{}", r.text());
    let (fresh, _) = set_cookie(&r, SESSION_COOKIE).expect("a new session cookie");
    assert_ne!(fresh, PLANTED);
    assert!(is_webmail(&get_with(&s, "/", &fresh)));
    assert!(!is_webmail(&get_with(&s, "/", PLANTED)));
    // An attacker's own real session, planted in alice's browser.
    let planted = Browser::sign_in(&s, BOB);
    assert!(planted.signed_in());
    let r = post_login(&s, ALICE, PASSWORD, &[(SESSION_COOKIE, &planted.session)]);
    assert_eq!(r.status, 303, "{}", r.text());
    let (fresh, _) = set_cookie(&r, SESSION_COOKIE).expect("a new session cookie");
    assert_ne!(fresh, planted.session);
    assert!(is_webmail(&get_with(&s, "/", &fresh)));
    assert!(
        !planted.signed_in(),
        "the planted session was ended by the sign-in"
    );
    assert_eq!(planted.session_status(), 401);
    // Alice's own earlier session brought to a new sign-in ends too.
    let earlier = Browser::sign_in(&s, ALICE);
    let r = post_login(&s, ALICE, PASSWORD, &[(SESSION_COOKIE, &earlier.session)]);
    assert_eq!(r.status, 303);
    assert_eq!(earlier.session_status(), 401);
}

fn no_session_cookie(r: &HttpReply) -> bool {
    set_cookie(r, SESSION_COOKIE).is_none_or(|(v, _)| v.is_empty())
}

/// CSRF on the sign-in form: without the form's token, with a wrong one, or with a token but
/// not its cookie, the sign-in is refused (403) and no session begins; a POST from another site
/// (Origin or Sec-Fetch-Site) is refused outright, the right password notwithstanding.
#[test]
fn al_4_1_csrf_sign_in_needs_its_form_token_and_our_origin() {
    let s = start_jmap();
    let creds = [("username", ALICE), ("password", PASSWORD)];
    let with_token = |t: &str| {
        let mut f = creds.to_vec();
        f.push(("login_token", t));
        form(&f)
    };
    let (cookie, token) = login_form(&s);
    let other = login_form(&s).1;
    let cases: Vec<(&str, HttpReply)> = vec![
        (
            "no form token",
            post_form(&s, "/login", &[(LOGIN_COOKIE, &cookie)], &[], &form(&creds)),
        ),
        (
            "a wrong form token",
            post_form(
                &s,
                "/login",
                &[(LOGIN_COOKIE, &cookie)],
                &[],
                &with_token(&other),
            ),
        ),
        (
            "a token without its cookie",
            post_form(&s, "/login", &[], &[], &with_token(&token)),
        ),
        (
            "an empty token and cookie",
            post_form(&s, "/login", &[(LOGIN_COOKIE, "")], &[], &with_token("")),
        ),
        (
            "Origin of another site",
            post_form(
                &s,
                "/login",
                &[(LOGIN_COOKIE, &cookie)],
                &[("Origin", "https://evil.example")],
                &with_token(&token),
            ),
        ),
        (
            "Sec-Fetch-Site: cross-site",
            post_form(
                &s,
                "/login",
                &[(LOGIN_COOKIE, &cookie)],
                &[("Sec-Fetch-Site", "cross-site")],
                &with_token(&token),
            ),
        ),
    ];
    for (what, r) in &cases {
        assert_eq!(r.status, 403, "{what}: {}", r.text());
        assert!(no_session_cookie(r), "{what}: a session began");
    }
    // The same form with its cookie, from our origin, signs in: the refusals above were the
    // CSRF checks, not the password.
    let ok = post_form(
        &s,
        "/login",
        &[(LOGIN_COOKIE, &cookie)],
        &[],
        &with_token(&token),
    );
    assert_eq!(ok.status, 303, "{}", ok.text());
    assert!(!no_session_cookie(&ok));
    // GET changes nothing: the form's fields in a query sign nobody in.
    let get = anon(&s).http(
        "GET",
        &format!("/login?{}", with_token(&token)),
        &[("Cookie", &format!("{LOGIN_COOKIE}={cookie}"))],
        None,
    );
    assert_eq!(get.status, 405);
    assert!(no_session_cookie(&get));
}

/// CSRF on sign-out: without the session's token, with a wrong one, or from another site, the
/// sign-out is refused and the session still works; a GET does nothing.
#[test]
fn al_4_1_csrf_sign_out_needs_the_session_token_and_our_origin() {
    let s = start_jmap();
    let b = Browser::sign_in(&s, ALICE);
    let cookie = [(SESSION_COOKIE, b.session.as_str())];
    let cases = [
        ("no csrf field", vec![], String::new()),
        ("a wrong csrf", vec![], form(&[("csrf", &"0".repeat(64))])),
        (
            "another session's csrf",
            vec![],
            form(&[("csrf", &Browser::sign_in(&s, BOB).csrf)]),
        ),
        (
            "Origin of another site",
            vec![("Origin", "https://evil.example")],
            form(&[("csrf", &b.csrf)]),
        ),
        (
            "Sec-Fetch-Site: cross-site",
            vec![("Sec-Fetch-Site", "cross-site")],
            form(&[("csrf", &b.csrf)]),
        ),
    ];
    for (what, headers, body) in &cases {
        let r = post_form(&s, "/logout", &cookie, headers, body);
        assert_eq!(r.status, 403, "{what}: {}", r.text());
        assert!(b.signed_in(), "{what}: the session ended");
    }
    let get = anon(&s).http(
        "GET",
        &format!("/logout?csrf={}", b.csrf),
        &[("Cookie", &b.cookie())],
        None,
    );
    assert_eq!(get.status, 405);
    assert!(b.signed_in() && b.session_status() == 200);
}

/// CSRF on the API: a POST with the cookie but without the session's CSRF header, or with a
/// wrong one, is 401 and changes nothing (no mailbox, no blob); with it, the same request works.
#[test]
fn al_4_1_csrf_api_and_upload_need_the_csrf_header() {
    let s = start_jmap();
    let b = Browser::sign_in(&s, ALICE);
    let bob = Browser::sign_in(&s, BOB);
    let acct = b.account_id();
    let create = |name: &str| json!([["Mailbox/set", {"accountId": acct, "create": {"m": {"name": name}}}, "0"]]);
    for (what, csrf) in [
        ("none", None),
        ("wrong", Some("0".repeat(64))),
        ("another session's", Some(bob.csrf.clone())),
        ("the session token itself", Some(b.session.clone())),
    ] {
        let r = b.api_with(create(&format!("csrf-{what}")), csrf.as_deref());
        assert_eq!(r.status, 401, "{what}: {}", r.text());
        let up = anon(&s).http(
            "POST",
            &format!("/jmap/upload/{acct}"),
            &[
                ("Cookie", &b.cookie()),
                ("Content-Type", "text/plain"),
                ("X-Rampart-CSRF", csrf.as_deref().unwrap_or("")),
            ],
            Some(b"planted blob"),
        );
        assert_eq!(up.status, 401, "upload, {what}: {}", up.text());
    }
    let names: Vec<String> = b.call1("Mailbox/get", json!({"accountId": acct}))["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        !names.iter().any(|n| n.starts_with("csrf-")),
        "a refused request made a mailbox: {names:?}"
    );
    // With the token both work.
    let made = b.call1(
        "Mailbox/set",
        json!({"accountId": acct, "create": {"m": {"name": "with-csrf"}}}),
    );
    assert!(made["created"]["m"]["id"].is_string(), "{made}");
    let up = anon(&s).http(
        "POST",
        &format!("/jmap/upload/{acct}"),
        &[
            ("Cookie", &b.cookie()),
            ("Content-Type", "text/plain"),
            ("X-Rampart-CSRF", &b.csrf),
        ],
        Some(b"a blob"),
    );
    assert_eq!(up.status, 201, "{}", up.text());
    // A GET of the API changes nothing (there is no GET there).
    let get = get_with(&s, "/jmap/api", &b.session);
    assert_eq!(get.status, 405);
}

/// Sign-out ends the session on the server (the old cookie opens neither the page nor the API)
/// and the reply clears the cookie. When the store cannot end it (a trigger refuses the delete:
/// a real fault of the real database), the reply says so and keeps the cookie, the session
/// stands (as said), and no sign-out is in the mailbox audit (AL-3.1).
#[test]
fn al_4_1_sign_out_ends_the_session_and_clears_the_cookie() {
    let s = start_jmap();
    let b = Browser::sign_in(&s, ALICE);
    let other = Browser::sign_in(&s, ALICE);
    let sign_out = || {
        post_form(
            &s,
            "/logout",
            &[(SESSION_COOKIE, &b.session)],
            &[],
            &form(&[("csrf", &b.csrf)]),
        )
    };
    s.sqlite(
        "CREATE TRIGGER keep_sessions BEFORE DELETE ON web_sessions \
         BEGIN SELECT RAISE(ABORT, 'kept by the test'); END",
    );
    let r = sign_out();
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(
        r.text().contains("Signing out failed: the server could not end your session just now, so it is still valid."),
        "{}",
        r.text()
    );
    assert!(
        set_cookie(&r, SESSION_COOKIE).is_none(),
        "the cookie is kept"
    );
    assert!(b.signed_in(), "the session stands, as the page says");
    let signed_out = |e: &serde_json::Value| e["operation"] == "logout";
    assert!(!audit(&s, ALICE).iter().any(signed_out));
    s.sqlite("DROP TRIGGER keep_sessions");
    let r = sign_out();
    assert_eq!(r.status, 303, "{}", r.text());
    wait_audit(&s, ALICE, signed_out);
    let (v, header) = set_cookie(&r, SESSION_COOKIE).expect("the cookie is cleared");
    assert!(v.is_empty(), "{header}");
    assert!(has_cookie_attr(&header, "Max-Age=0"), "{header}");
    assert!(!b.signed_in(), "the old cookie still opens the webmail");
    assert_eq!(b.session_status(), 401);
    let api = b.api_with(json!([["Mailbox/get", {}, "0"]]), Some(&b.csrf));
    assert_eq!(api.status, 401);
    // The account's other session (another browser) stands.
    assert!(other.signed_in());
}

/// AL-3.1: a sign-in whose delegation grants cannot be read (the table renamed away under the
/// running server) would make a session that reaches others' mail with no `delegate-access` in
/// their audit: it is refused for now, with a 503 and a sentence (not "wrong password"), and no
/// session is made; once the table is back, the same password signs in.
#[test]
fn al_3_1_a_sign_in_whose_grants_cannot_be_read_is_refused_for_now() {
    let s = start_jmap();
    s.sqlite("ALTER TABLE mailbox_grants RENAME TO mailbox_grants_away");
    let r = post_login(&s, ALICE, PASSWORD, &[]);
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(
        r.text()
            .contains("The server could not sign you in just now. Try again shortly."),
        "{}",
        r.text()
    );
    assert!(set_cookie(&r, SESSION_COOKIE).is_none(), "no session");
    s.sqlite("ALTER TABLE mailbox_grants_away RENAME TO mailbox_grants");
    assert!(sign_in(&s, ALICE, PASSWORD).is_ok());
}

/// The idle timeout (here `[webmail] idle_timeout_secs = 2`): a session in use outlives the
/// timeout, one left alone for longer ends. The waits are the behaviour under test.
#[test]
fn al_4_1_idle_session_ends_after_the_idle_timeout() {
    let s = start_jmap_with(Options {
        top: "[webmail]\nidle_timeout_secs = 2\n".into(),
        ..Default::default()
    });
    let b = Browser::sign_in(&s, ALICE);
    let begun = std::time::Instant::now();
    // In use every 0.7 s for longer than the timeout: still signed in.
    while begun.elapsed() < std::time::Duration::from_millis(2600) {
        std::thread::sleep(std::time::Duration::from_millis(700));
        assert_eq!(
            b.session_status(),
            200,
            "a session in use ended after {:?}",
            begun.elapsed()
        );
    }
    std::thread::sleep(std::time::Duration::from_millis(2600));
    assert_eq!(b.session_status(), 401, "an idle session still works");
    assert!(!b.signed_in());
}

/// A disabled account's session ends at once, and stays ended when it is enabled again.
#[test]
fn al_4_1_a_disabled_account_loses_its_session() {
    let s = start_jmap();
    let b = Browser::sign_in(&s, ALICE);
    let bob = Browser::sign_in(&s, BOB);
    cli(&s.config, &["user", "disable", ALICE], None);
    assert!(!b.signed_in());
    assert_eq!(b.session_status(), 401);
    assert!(bob.signed_in(), "another account's session stands");
    cli(&s.config, &["user", "enable", ALICE], None);
    assert_eq!(b.session_status(), 401, "ended, not suspended");
    assert!(Browser::sign_in(&s, ALICE).signed_in());
}

/// The security headers on the sign-in page, the webmail page and the script.
#[test]
fn nc_2_1_3_pages_and_script_send_the_security_headers() {
    let s = start_jmap();
    let b = Browser::sign_in(&s, ALICE);
    let out = anon(&s).http("GET", "/", &[], None);
    let app = get_with(&s, "/", &b.session);
    let script = get_with(&s, "/webmail/assets/app.js", &b.session);
    assert!(!is_webmail(&out) && is_webmail(&app));
    assert_eq!(script.status, 200);
    for (what, r) in [
        ("sign-in page", &out),
        ("webmail", &app),
        ("app.js", &script),
    ] {
        let csp = r.header("content-security-policy").unwrap_or_default();
        assert!(
            !csp.is_empty() && !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
            "{what}: {csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
        assert!(
            r.header("strict-transport-security")
                .is_some_and(|v| v.contains("max-age=")),
            "{what}"
        );
        assert_eq!(r.header("x-frame-options"), Some("DENY"), "{what}");
        assert_eq!(
            r.header("x-content-type-options"),
            Some("nosniff"),
            "{what}"
        );
        assert_eq!(r.header("referrer-policy"), Some("no-referrer"), "{what}");
        assert_eq!(r.header("server"), None, "{what} names the software");
    }
    for (what, r) in [("sign-in page", &out), ("webmail", &app)] {
        assert_eq!(r.header("cache-control"), Some("no-store"), "{what}");
        assert!(r
            .header("content-type")
            .is_some_and(|v| v.starts_with("text/html")));
    }
    // What the sign-in page echoes is escaped: a hostile address comes back as text, if at all.
    let hostile = "\"><script>alert(1)</script><img src=x onerror=alert(2)>@example.test";
    let r = post_login(&s, hostile, "wrong password", &[]);
    assert_eq!(r.status, 401);
    let page = r.text();
    assert!(
        !page.contains("<script>alert") && !page.contains("<img src=x"),
        "{page}"
    );
    assert!(page.contains("id=\"login-error\""), "{page}");
}

/// Starts the server's process again with its log (at debug) written to `log`.
fn restart_logging(s: &mut Server, log: &std::path::Path) {
    use std::io::BufRead;
    s.kill9();
    let config = std::fs::read_to_string(&s.config).unwrap();
    std::fs::write(
        &s.config,
        config.replace("level = \"warn\"", "level = \"debug\""),
    )
    .unwrap();
    let mut child = std::process::Command::new(common::BIN)
        .arg("--config")
        .arg(&s.config)
        .arg("serve")
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    s.listeners.clear();
    loop {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "server exited");
        if let Some(rest) = line.strip_prefix("listening on ") {
            let mut parts = rest.split_whitespace();
            let addr = parts.next().unwrap().parse().unwrap();
            let role = parts.next().unwrap_or("").trim_matches(['(', ')']);
            s.listeners.push((addr, role.to_owned()));
        }
        if line.starts_with("data directory:") {
            break;
        }
    }
    s.addr = s.listener("mx");
    s.child = Some(child);
    s.stdout = Some(out);
}

/// The session token and its CSRF token never reach the log or the audit, even at debug and
/// through the refusals that log a warning.
#[test]
fn al_3_1_no_session_token_in_the_log_or_the_audit() {
    let mut s = start_jmap();
    let log = s.dir.0.join("server.log");
    restart_logging(&mut s, &log);
    let b = Browser::sign_in(&s, ALICE);
    let acct = b.account_id();
    assert_eq!(
        b.call1("Mailbox/get", json!({"accountId": acct}))["list"]
            .as_array()
            .map(Vec::len),
        Some(6)
    );
    assert_eq!(
        b.api_with(json!([["Mailbox/get", {}, "0"]]), None).status,
        401
    );
    assert_eq!(
        b.api_with(json!([["Mailbox/get", {}, "0"]]), Some("wrong"))
            .status,
        401
    );
    let planted = post_login(&s, ALICE, PASSWORD, &[(SESSION_COOKIE, &b.session)]);
    assert_eq!(planted.status, 303);
    let (second, _) = set_cookie(&planted, SESSION_COOKIE).unwrap();
    let page = get_with(&s, "/", &second);
    let csrf2 = csrf_of(&page.text()).unwrap();
    let out = post_form(
        &s,
        "/logout",
        &[(SESSION_COOKIE, &second)],
        &[],
        &form(&[("csrf", &csrf2)]),
    );
    assert_eq!(out.status, 303);
    wait_audit(&s, ALICE, |e| e["operation"] == "logout");
    let first = (b.session.clone(), b.csrf.clone());
    drop(b);
    let audit_text = cli(
        &s.config,
        &["mailbox", "audit", "--user", ALICE, "--json"],
        None,
    );
    s.terminate();
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("CSRF token refused"),
        "the refusals were logged (the log is the one under test): {logged}"
    );
    for secret in [&first.0, &first.1, &second, &csrf2] {
        assert!(!logged.contains(secret.as_str()), "a token is in the log");
        assert!(
            !audit_text.contains(secret.as_str()),
            "a token is in the audit"
        );
        assert!(
            !logged.contains(&secret[4..]),
            "a token's bits are in the log"
        );
    }
}

/// A push connection (EventSource) with a session cookie, open (its response begun), its lines
/// read on their own thread.
struct Push {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Drop for Push {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn open_push(s: &Server, session: &str) -> Push {
    use std::io::BufRead;
    let port = s.listener("https").port();
    let mut child = std::process::Command::new("curl")
        .args([
            "-sS",
            "-N",
            "--http1.1",
            "-D",
            "-",
            "--max-time",
            "40",
            "--cacert",
        ])
        .arg(s.ca_file())
        .arg("--resolve")
        .arg(format!("mail.example.test:{port}:127.0.0.1"))
        .arg("-H")
        .arg(format!("Cookie: {SESSION_COOKIE}={session}"))
        .arg(format!(
            "https://mail.example.test:{port}/jmap/eventsource?types=*&closeafter=no&ping=0"
        ))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("curl");
    let out = child.stdout.take().unwrap();
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in std::io::BufReader::new(out).lines() {
            let Ok(l) = l else { return };
            if tx.send(l).is_err() {
                return;
            }
        }
    });
    // The status line comes once the handler has subscribed to the changes: only then is a
    // change sure to reach this connection.
    let status = lines
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("the push connection's status line");
    assert!(
        status.starts_with("HTTP/") && status.contains(" 200"),
        "{status}"
    );
    Push { child, lines }
}

fn deliver(s: &Server, id: &str) {
    let mut c = s.connect();
    c.expect(220);
    c.send("EHLO client.test");
    c.expect(250);
    let (code, text) = c.send_mail(
        "sender@remote.test",
        &[ALICE],
        &common::message(id, "hello"),
    );
    assert_eq!(code, 250, "{text}");
}

/// Sign-out ends the push connection the session opened: at the next change the stream ends
/// instead of sending it.
#[test]
fn al_4_1_sign_out_ends_the_sessions_push_connection() {
    use std::sync::mpsc::RecvTimeoutError;
    let s = start_jmap();
    let b = Browser::sign_in(&s, ALICE);
    let push = open_push(&s, &b.session);
    deliver(&s, "before");
    s.wait_mailbox(ALICE, 1);
    let wait = std::time::Duration::from_secs(20);
    loop {
        match push.lines.recv_timeout(wait) {
            Ok(l) if l.starts_with("event: state") => break,
            Ok(_) => continue,
            Err(e) => panic!("no state change while signed in: {e:?}"),
        }
    }
    let out = post_form(
        &s,
        "/logout",
        &[(SESSION_COOKIE, &b.session)],
        &[],
        &form(&[("csrf", &b.csrf)]),
    );
    assert_eq!(out.status, 303);
    deliver(&s, "after");
    s.wait_mailbox(ALICE, 2);
    // The change of the second delivery is not sent: the session is asked again first, and the
    // stream ends (curl exits, its output closes).
    loop {
        match push.lines.recv_timeout(wait) {
            Ok(_) => continue,
            Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {
                panic!("the push connection of a signed-out session is still open")
            }
        }
    }
}

/// An open push connection is not a use of the session: with changes streaming to it, a session
/// left alone past the idle timeout (2 s here) still ends, and the stream with it.
#[test]
fn al_4_1_a_push_connection_does_not_keep_a_session_from_going_idle() {
    use std::sync::mpsc::RecvTimeoutError;
    let s = start_jmap_with(Options {
        top: "[webmail]\nidle_timeout_secs = 2\n".into(),
        ..Default::default()
    });
    let b = Browser::sign_in(&s, ALICE);
    let begun = std::time::Instant::now();
    let push = open_push(&s, &b.session);
    let mut n = 0;
    let mut states = 0;
    while begun.elapsed() < std::time::Duration::from_millis(2600) {
        n += 1;
        deliver(&s, &format!("idle{n}"));
        s.wait_mailbox(ALICE, n);
        while let Ok(l) = push.lines.try_recv() {
            states += usize::from(l.starts_with("event: state"));
        }
    }
    assert_eq!(
        b.session_status(),
        401,
        "the push connection kept the session"
    );
    deliver(&s, "last");
    loop {
        match push.lines.recv_timeout(std::time::Duration::from_secs(20)) {
            Ok(l) => states += usize::from(l.starts_with("event: state")),
            Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => panic!("the push connection is still open"),
        }
    }
    assert!(states > 0, "changes reached the push connection meanwhile");
}
