//! Intrusion prevention on the HTTPS logins (NC-2.4.1, NC-2.4.2): failed webmail sign-ins and
//! bad JMAP Basic or Bearer credentials feed the brute-force detector and are trace events, so
//! they end in a ban refused at the next HTTPS accept; and the login guard shared with SMTP AUTH
//! counts a repeated stale password once. A real `rampart serve`, curl over HTTPS, the harness's
//! SMTP client; clients from 127.0.0.1.

use crate::common;
use crate::session_support;

use common::jmap::{start_jmap_with, Auth, HttpReply};
use common::{cli, smtp_auth, Options, Server, PASSWORD};
use session_support::*;
use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Longest wait for a ban to take effect (detection runs on a task of its own).
const WITHIN: Duration = Duration::from_secs(15);

/// A server whose login guard never blocks (so only the IDS acts) unless `auth` says otherwise,
/// with `ids` appended.
fn server(auth: &str, ids: &str) -> Server {
    start_jmap_with(Options {
        top: format!(
            "[auth]\nfailure_delay_ms = 1\nmax_failure_delay_ms = 2\n{}\n{ids}",
            if auth.is_empty() {
                "block_after_failures = 1000"
            } else {
                auth
            }
        ),
        ..Default::default()
    })
}

/// True when the HTTPS listener closes a new connection at once, before any TLS (a banned
/// address); false when it waits for the client's handshake.
fn https_closed(addr: SocketAddr) -> bool {
    let mut t = TcpStream::connect(addr).unwrap();
    t.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut b = [0u8; 1];
    match t.read(&mut b) {
        Ok(0) => true,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
        Ok(_) => false,
    }
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < WITHIN, "not within {WITHIN:?}: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A failed sign-in through the webmail's form.
fn bad_sign_in(s: &Server, user: &str, password: &str) -> HttpReply {
    let r = post_login(s, user, password, &[]);
    assert!(set_cookie(&r, SESSION_COOKIE).is_none(), "a session began");
    r
}

/// The `auth` trace events of the last hour whose detail has `needle`.
fn auth_events(s: &Server, needle: &str) -> usize {
    cli(&s.config, &["trace", "--since", "1h"], None)
        .lines()
        .filter(|l| l.contains("auth") && l.contains(needle))
        .count()
}

/// The bans in force, as `rampart ban list --json` gives them: (network, detector).
fn bans(s: &Server) -> Vec<(String, String)> {
    let out = cli(&s.config, &["ban", "list", "--json"], None);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    v["bans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["network"].as_str().unwrap_or("").to_owned(),
                b["detector"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

/// NC-2.4.1, NC-2.4.2: bad webmail sign-ins from one address (four accounts or passwords, the
/// threshold) end in a ban, and the next HTTPS connection from it is closed before TLS. Each
/// failure is a trace event `auth` naming the webmail.
#[test]
fn nc_2_4_1_bad_webmail_sign_ins_end_in_a_ban() {
    let s = server("", "[ids.auth]\ncount = 4\nwindow_secs = 600\n");
    let https = s.listener("https");
    for (user, password) in [
        (ALICE, "wrong 1"),
        (ALICE, "wrong 2"),
        ("carol@example.test", "wrong 1"),
    ] {
        assert_eq!(bad_sign_in(&s, user, password).status, 401);
    }
    assert!(!https_closed(https), "under the threshold: served");
    assert!(bans(&s).is_empty());
    assert_eq!(bad_sign_in(&s, BOB, "123456").status, 401);
    wait_until("the webmail brute force is banned", || https_closed(https));
    assert_eq!(
        bans(&s),
        vec![("127.0.0.1/32".to_owned(), "auth".to_owned())]
    );
    // Each failure is in the trace (and so the log's rampart::mail lines).
    common::wait_trace(
        &s,
        &["trace", "--since", "1h"],
        "failed for bob@example.test (webmail)",
    );
    assert_eq!(auth_events(&s, "(webmail)"), 4);
}

/// NC-2.4.1: bad bearer tokens are failed logins too: four different ones end in a ban; each is
/// a trace event naming JMAP Bearer. (Before, a token refused was counted only by the guard.)
#[test]
fn nc_2_4_1_bad_bearer_tokens_end_in_a_ban() {
    let s = server("", "[ids.auth]\ncount = 4\nwindow_secs = 600\n");
    let https = s.listener("https");
    let get = |t: &str| {
        s.jmap_with(Auth::Bearer(t.into()))
            .http("GET", "/jmap/session", &[], None)
            .status
    };
    for n in 0..3 {
        assert_eq!(get(&format!("rmp_guess{n}")), 401);
    }
    // One token, repeated: a client with an expired token counts once.
    for _ in 0..5 {
        assert_eq!(get("rmp_guess0"), 401);
    }
    assert!(
        !https_closed(https),
        "three distinct tokens: under the threshold"
    );
    assert_eq!(get("rmp_guess3"), 401);
    wait_until("the token guesser is banned", || https_closed(https));
    assert_eq!(bans(&s)[0].1, "auth");
    common::wait_trace(&s, &["trace", "--since", "1h"], "(JMAP Bearer)");
    assert_eq!(auth_events(&s, "(JMAP Bearer)"), 9);
}

/// NC-2.4.1: bad JMAP Basic credentials are trace events naming JMAP Basic, one per failure.
#[test]
fn nc_2_4_1_bad_jmap_basic_is_traced() {
    let s = server("", "");
    let j = s.jmap_with(Auth::Basic(ALICE.into(), "wrong".into()));
    for _ in 0..2 {
        assert_eq!(j.http("GET", "/jmap/session", &[], None).status, 401);
    }
    common::wait_trace(&s, &["trace", "--since", "1h"], "(JMAP Basic)");
    let wait = Instant::now();
    while auth_events(&s, "failed for alice@example.test (JMAP Basic)") < 2 {
        assert!(wait.elapsed() < WITHIN, "two failures traced");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// NC-2.4.1 in the login guard shared by SMTP AUTH, JMAP and the webmail (blocking after 3
/// failures): a phone repeating one stale password ten times over SMTP AUTH and JMAP is never
/// blocked, and the right password still works; three different wrong passwords block.
#[test]
fn nc_2_4_1_stale_password_does_not_trip_the_auth_guard() {
    let s = server(
        "block_after_failures = 3\nblock_secs = 600",
        "[ids]\nenabled = false\n",
    );
    let stale = s.jmap_with(Auth::Basic(ALICE.into(), "old password".into()));
    for _ in 0..5 {
        assert_eq!(smtp_auth(&s, ALICE, "old password"), 535);
        assert_eq!(stale.http("GET", "/jmap/session", &[], None).status, 401);
    }
    assert_eq!(smtp_auth(&s, ALICE, PASSWORD), 235, "not blocked");
    assert_eq!(
        s.jmap(ALICE).http("GET", "/jmap/session", &[], None).status,
        200
    );
    // A success cleared the address; three different passwords block it (the fourth attempt,
    // even with the right password, is turned away).
    for p in ["guess 1", "guess 2", "guess 3"] {
        assert_eq!(smtp_auth(&s, BOB, p), 535);
    }
    assert_eq!(smtp_auth(&s, BOB, PASSWORD), 421, "blocked");
}
