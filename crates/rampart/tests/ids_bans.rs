//! Intrusion prevention end to end (NC-2.4.1, NC-2.4.2): a real `rampart serve` with MX,
//! submission and HTTPS listeners, clients from 127.0.0.1 (a real peer), bans by detectors and
//! by `rampart ban`, refused at accept on every listener, kept across a restart.

use crate::common;

use common::jmap::{start_jmap_with, Auth};
use common::{cli, Client, Options, Server};
use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Longest wait for a ban to take effect (detection runs on a task; a CLI ban is noticed at the
/// next poll of the ban generation, every second).
const WITHIN: Duration = Duration::from_secs(15);

fn server(ids: &str) -> Server {
    start_jmap_with(Options {
        top: format!(
            "[auth]\nfailure_delay_ms = 1\nmax_failure_delay_ms = 2\nblock_after_failures = 1000\n{ids}"
        ),
        ..Default::default()
    })
}

/// What an SMTP listener says first: the greeting's code, or 554 for a banned address.
fn first_code(addr: SocketAddr) -> u16 {
    let mut c = Client::connect(addr);
    c.reply().map_or(0, |(code, _)| code)
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

fn banned_everywhere(s: &Server) -> bool {
    first_code(s.listener("mx")) == 554
        && first_code(s.listener("submission")) == 554
        && https_closed(s.listener("https"))
}

#[test]
fn nc_2_4_2_a_cli_ban_is_refused_on_every_listener_and_survives_a_restart() {
    let mut s = server("");
    assert_eq!(first_code(s.addr), 220, "not banned to begin with");
    assert!(!https_closed(s.listener("https")));
    let out = cli(
        &s.config,
        &[
            "ban",
            "add",
            "127.0.0.1",
            "--secs",
            "3600",
            "--reason",
            "test",
        ],
        None,
    );
    assert!(out.contains("banned 127.0.0.1/32"), "{out}");
    wait_until("the running server notices the CLI's ban", || {
        banned_everywhere(&s)
    });
    // SMTP: 554 5.7.1 in place of the greeting.
    let mut c = Client::connect(s.addr);
    let (code, text) = c.reply().unwrap();
    assert_eq!(code, 554);
    assert!(text.contains("5.7.1"), "{text}");
    let list = cli(&s.config, &["ban", "list", "--json"], None);
    let v: serde_json::Value = serde_json::from_str(list.trim()).unwrap();
    assert_eq!(v["bans"][0]["network"], "127.0.0.1/32");
    assert_eq!(v["bans"][0]["reason"], "test");
    assert!(v["bans"][0]["expires"].as_i64().is_some());
    // A restart: the ban is in force from the first accept.
    s.terminate();
    s.spawn();
    assert_eq!(first_code(s.addr), 554, "the ban survived the restart");
    assert!(https_closed(s.listener("https")));
    // Lifted: served again, and both ends are in the trace.
    cli(&s.config, &["ban", "remove", "127.0.0.1"], None);
    wait_until("the running server notices the unban", || {
        first_code(s.addr) == 220
    });
    assert!(!https_closed(s.listener("https")));
    let trace = cli(&s.config, &["trace", "--since", "1h"], None);
    assert!(trace.contains("ban") && trace.contains("unban"), "{trace}");
}

#[test]
fn nc_2_4_1_a_directory_harvest_ends_in_a_ban() {
    let s = server("[ids.harvest]\ncount = 4\nwindow_secs = 600\n");
    let mut c = s.connect();
    c.expect(220);
    c.send("EHLO harvester.example");
    c.expect(250);
    c.send("MAIL FROM:<x@harvester.example>");
    c.expect(250);
    // Three unknown recipients: under the threshold.
    for u in ["ann", "bert", "carl"] {
        c.send(&format!("RCPT TO:<{u}@example.test>"));
        c.expect(550);
    }
    assert_eq!(first_code(s.addr), 220, "under the threshold: served");
    c.send("RCPT TO:<dora@example.test>");
    c.expect(550);
    wait_until("the harvester is banned", || banned_everywhere(&s));
    let list = cli(&s.config, &["ban", "list"], None);
    assert!(
        list.contains("[harvest]") && list.contains("unknown recipient"),
        "{list}"
    );
}

#[test]
fn nc_2_4_1_an_http_scan_ends_in_a_ban() {
    let s = server("[ids.http_scan]\ncount = 3\nwindow_secs = 600\n");
    let j = s.jmap_with(Auth::None);
    // 404s on pages that are not ours but not scanners' either do not count.
    for p in ["/nothing-here", "/no/such/page", "/x"] {
        assert_eq!(j.http("GET", p, &[], None).status, 404);
    }
    for p in ["/wp-login.php", "/.env"] {
        assert_eq!(j.http("GET", p, &[], None).status, 404);
    }
    assert_eq!(first_code(s.addr), 220, "under the threshold");
    assert_eq!(
        j.http("GET", "/phpmyadmin/index.php", &[], None).status,
        404
    );
    wait_until("the scanner is banned", || banned_everywhere(&s));
}

#[test]
fn nc_2_4_1_a_stale_password_is_not_banned_while_brute_force_is() {
    let s = server("[ids.auth]\ncount = 4\nwindow_secs = 600\n");
    // A phone with an old password, retrying: one distinct failure however often.
    let stale = s.jmap_with(Auth::Basic(
        "alice@example.test".into(),
        "old password".into(),
    ));
    for _ in 0..12 {
        assert_eq!(stale.http("GET", "/jmap/session", &[], None).status, 401);
    }
    assert_eq!(first_code(s.addr), 220, "the stale password banned nobody");
    assert!(!https_closed(s.listener("https")));
    // Three more accounts from the same address: with the stale one, four distinct failures,
    // a brute force.
    for u in ["bob", "carol", "dave"] {
        let j = s.jmap_with(Auth::Basic(format!("{u}@example.test"), "123456".into()));
        assert_eq!(j.http("GET", "/jmap/session", &[], None).status, 401);
    }
    wait_until("the brute force is banned", || banned_everywhere(&s));
    let list = cli(&s.config, &["ban", "list"], None);
    assert!(
        list.contains("[auth]") && !list.contains("123456"),
        "{list}"
    );
}

#[test]
fn nc_2_4_2_the_allow_list_prevents_a_ban() {
    let s =
        server("[ids]\nallow = [\"127.0.0.0/8\"]\n[ids.harvest]\ncount = 2\nwindow_secs = 600\n");
    let mut c = s.connect();
    c.expect(220);
    c.send("EHLO harvester.example");
    c.expect(250);
    c.send("MAIL FROM:<x@harvester.example>");
    c.expect(250);
    for u in ["ann", "bert", "carl", "dora", "emil"] {
        c.send(&format!("RCPT TO:<{u}@example.test>"));
        c.expect(550);
    }
    // The detection is traced (so this waits for it), but no ban follows.
    common::wait_trace(&s, &["trace", "--since", "1h"], "allow-listed, not banned");
    assert_eq!(first_code(s.addr), 220);
    let out = common::cli_raw(&s.config, &["ban", "add", "127.0.0.1"], None);
    assert!(
        !out.status.success(),
        "an allowed address cannot be banned by hand either"
    );
}
