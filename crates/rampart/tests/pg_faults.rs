//! A running node meets faults of its PostgreSQL store (issue 20), each one real: the server
//! paused under SMTP load, a table renamed away under the node or between two starts.
//! - PostgreSQL stopped under SMTP load: 451 while it is down, never a 250 without a commit,
//!   service back once it returns, every 250'd message delivered;
//! - the local domains unreadable: a message is refused for now (451), and a start stops with
//!   the reason.

use crate::common;

use common::pg::{dns, node, send_to_alice, send_to_alice_with, wait_until, Db, WITHIN};
use common::Client;
use std::time::{Duration, Instant};

#[test]
fn postgresql_stopped_under_load_gives_451_then_service_resumes_and_nothing_is_lost() {
    let db = Db::start();
    let dns = dns();
    let a = node(&db, &dns, 1, "");
    let mut accepted = 0;
    let mut refused = 0;
    let send = |n: &str| -> u16 {
        // One session per message; any reply counts, and the session never hangs (the client's
        // read timeout would fail the test).
        let mut c = Client::connect(a.addr);
        let code = match c.reply() {
            Some((code, _)) if code != 220 => return code,
            None => return 0,
            _ => 220,
        };
        assert_eq!(code, 220);
        c.send("EHLO client.test");
        c.expect(250);
        c.send("MAIL FROM:<carol@remote.test>");
        let (code, _) = c.reply().unwrap();
        if code != 250 {
            return code;
        }
        c.send("RCPT TO:<alice@example.test>");
        let (code, text) = c.reply().unwrap();
        if code != 250 {
            assert!(text.starts_with("4."), "{code} {text}");
            return code;
        }
        c.send("DATA");
        let (code, _) = c.reply().unwrap();
        if code != 354 {
            return code;
        }
        c.send_raw(common::message(n, "Under load.").as_bytes());
        c.send_raw(b".\r\n");
        let (code, text) = c.reply().unwrap();
        if code != 250 {
            assert!(code / 100 == 4 && text.starts_with("4."), "{code} {text}");
        }
        code
    };
    for i in 0..5 {
        assert_eq!(send(&format!("up{i}")), 250);
        accepted += 1;
    }
    db.cluster.pause();
    // While the database is down: temporary failures, never a 250.
    for i in 0..3 {
        let code = send(&format!("down{i}"));
        assert!(
            code / 100 == 4,
            "while PostgreSQL is down the answer is 4xx, got {code}"
        );
        refused += 1;
    }
    db.cluster.resume();
    // Service resumes by itself once the database is back.
    let start = Instant::now();
    let mut i = 0;
    loop {
        let code = send(&format!("back{i}"));
        i += 1;
        if code == 250 {
            accepted += 1;
            break;
        }
        assert!(code / 100 == 4, "{code}");
        assert!(start.elapsed() < WITHIN, "service did not resume");
        std::thread::sleep(Duration::from_millis(200));
    }
    for j in 0..3 {
        assert_eq!(send(&format!("after{j}")), 250);
        accepted += 1;
    }
    assert_eq!(refused, 3);
    // Every 250 is a message in alice's mailbox; nothing refused is there.
    wait_until("every accepted message is delivered", || {
        db.count("SELECT count(*) FROM mail_emails WHERE account = 'alice@example.test'")
            == accepted
    });
    assert_eq!(db.count("SELECT count(*) FROM queue"), 0);
    let down = db.count("SELECT count(*) FROM messages WHERE message_id LIKE '%down%'");
    assert_eq!(down, 0, "a refused message was stored");
}

/// NC-2.1.7, AL-1.6: the checks need the list of our domains (a spoof of them, the External
/// tag). When it cannot be read, the message is refused for now (`451 4.3.0`), not checked as
/// if the server had no domains; once it can, the same message is accepted. The fault is real:
/// the table renamed away between RCPT and the end of the data.
#[test]
fn nc_2_1_7_a_message_is_refused_for_now_when_the_local_domains_cannot_be_read() {
    let db = Db::start();
    let dns = dns();
    let a = node(&db, &dns, 1, "");
    let (code, text) = send_to_alice_with(&a, "unchecked", "Checked later.", || {
        db.execute("ALTER TABLE domains RENAME TO domains_away")
    });
    assert_eq!(
        (code, text.as_str()),
        (
            451,
            "4.3.0 The message could not be checked just now; try again later"
        )
    );
    db.execute("ALTER TABLE domains_away RENAME TO domains");
    let (code, text) = send_to_alice(&a, "unchecked", "Checked later.");
    assert_eq!(code, 250, "{text}");
    wait_until("the message accepted is in alice's mailbox", || {
        db.count("SELECT count(*) FROM mail_emails WHERE account = 'alice@example.test'") == 1
    });
    let traced = db.count(
        "SELECT count(*) FROM trace WHERE event = 'checks' \
         AND detail LIKE 'not checked: the local domains could not be read%'",
    );
    assert_eq!(traced, 1, "the refusal is in the trace");
}

/// The same list at start: `serve` checks that no `[[relay_domain]]` is also a local domain.
/// When the list cannot be read, the start stops with one line saying so (it went on with an
/// empty list, the check skipped); once the list can be read, the node starts.
#[test]
fn a_start_that_cannot_read_the_local_domains_stops_and_says_why() {
    let db = Db::start();
    let dns = dns();
    let mut a = node(&db, &dns, 1, "");
    a.terminate();
    db.execute("ALTER TABLE domains RENAME TO domains_away");
    let mut child = std::process::Command::new(common::BIN)
        .arg("--config")
        .arg(&a.config)
        .arg("serve")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("serve started without the local domains");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(!status.success(), "{err}");
    assert!(
        err.contains("the local domains could not be read to check [[relay_domain]] against them"),
        "{err}"
    );
    db.execute("ALTER TABLE domains_away RENAME TO domains");
    a.spawn();
    let (code, text) = send_to_alice(&a, "after-start", "Started.");
    assert_eq!(code, 250, "{text}");
}
