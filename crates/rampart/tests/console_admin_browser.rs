//! The admin console's roles, queue and directory in headless Chromium
//! (tests/scripts/console_admin_browser.py), against a real `rampart serve` with a real clamd:
//! an auditor sees no action button and a forged release is refused; an operator cannot release
//! from virus quarantine, an administrator can (and the message arrives); an administrator
//! retries a deferred message once its receiver is up (it leaves the queue and arrives); an
//! administrator adds a user, who then logs in over SMTP AUTH, with the password and with a
//! token the administrator made. Screenshots in
//! target/test-artefacts/console.

use crate::common;

use crate::clamd;

use base64::Engine;
use common::browser::require_browser;
use common::*;
use rampart_testdns::TestDns;
use std::path::{Path, PathBuf};
use std::process::Command;

const ADMIN_PASSWORD: &str = "a console passphrase";
const NEW_USER: &str = "dora@example.test";
const NEW_PASSWORD: &str = "plinth meadow saffron quay";

/// target/test-artefacts/console (the binary is target/<profile>/rampart).
fn artefacts() -> PathBuf {
    let target = Path::new(BIN)
        .parent()
        .and_then(Path::parent)
        .expect("the target directory");
    let dir = target.join("test-artefacts").join("console");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `rampart admin add NAME --role ROLE`; the TOTP secret it printed.
fn add_admin(s: &Server, name: &str, role: &str) -> String {
    let out = cli(
        &s.config,
        &["admin", "add", name, "--role", role, "--password-stdin"],
        Some(ADMIN_PASSWORD),
    );
    out.lines()
        .find_map(|l| l.strip_prefix("TOTP secret (base32): "))
        .unwrap_or_else(|| panic!("no secret in {out}"))
        .trim()
        .to_string()
}

/// One message over the MX listener from sender@remote.test to alice with `attachment`
/// (name, bytes); its queue id from the quarantine, where it is held.
fn held(s: &Server, name: &str, data: &[u8], subject: &str) -> String {
    let before = cli(&s.config, &["quarantine", "list", "--json"], None);
    let mut c = s.connect();
    c.expect(220);
    c.send("EHLO client.remote.test");
    c.expect(250);
    let body = format!(
        "From: <sender@remote.test>\r\nTo: <alice@example.test>\r\nSubject: {subject}\r\n\
         Message-ID: <{subject}@remote.test>\r\nDate: Thu, 1 Jan 2026 00:00:00 +0000\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n\
         --b\r\nContent-Type: application/octet-stream\r\n\
         Content-Disposition: attachment; filename=\"{name}\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--b--\r\n",
        base64::engine::general_purpose::STANDARD.encode(data)
    );
    let (code, reply) = c.send_mail("sender@remote.test", &["alice@example.test"], &body);
    assert_eq!(code, 250, "{reply}");
    c.send("QUIT");
    let list = cli(&s.config, &["quarantine", "list", "--json"], None);
    list.lines()
        .filter(|l| !before.contains(*l))
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find_map(|v| v["queue_id"].as_str().map(str::to_owned))
        .unwrap_or_else(|| panic!("{subject} was not held: {list}"))
}

/// alice submits a message to carol@remote.test; its queue id.
fn submit(s: &Server) -> String {
    let mut c = s.login_alice();
    let body = "From: <alice@example.test>\r\nTo: <carol@remote.test>\r\nSubject: deferred\r\n\
                Message-ID: <deferred@example.test>\r\n\r\nHello Carol.\r\n";
    let (code, text) = c.send_mail("alice@example.test", &["carol@remote.test"], body);
    assert_eq!(code, 250, "{text}");
    c.send("QUIT");
    text.rsplit(' ').next().unwrap().to_string()
}

/// SMTP AUTH PLAIN of `user` on the submissions listener: the reply code.
fn auth(s: &Server, user: &str, password: &str) -> u16 {
    let mut c = Client::connect(s.listener("submissions"));
    c.start_tls_now(s.tls_config(&[&rustls::version::TLS13]));
    c.expect(220);
    c.send("EHLO client.test");
    c.expect(250);
    let plain = base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"));
    c.send(&format!("AUTH PLAIN {plain}"));
    c.reply().expect("a reply to AUTH").0
}

#[test]
fn al_3_1_roles_queue_retry_and_new_user_in_the_browser() {
    require_browser();
    let av = clamd::Clamd::start(&[(
        "test.hdb",
        clamd::hdb_line(&clamd::eicar(), "Eicar-Test-Signature"),
    )]);
    let dns = TestDns::builder()
        .mx("remote.test", 10, "mx.remote.test")
        .a("mx.remote.test", "127.0.0.1".parse().unwrap())
        .txt("example.test", "v=spf1 ip4:127.0.0.1 -all")
        .start();
    // Deliveries to remote.test go to `port`, where nothing listens yet: deferred for an hour.
    // Held until the receiver below listens on it.
    let reserved = ClosedPort::for_rampart();
    let port = reserved.port();
    let s = Server::start_with(Options {
        top: format!(
            "[dns]\nservers = [\"{}\"]\ntimeout_secs = 2\n\
             [delivery]\nport = {port}\nretry_secs = [3600]\ntimeout_secs = 10\n\
             [[listener]]\nrole = \"submissions\"\naddress = \"127.0.0.1:0\"\n",
            dns.addr()
        ),
        listener: common::console::ADMIN_LISTENER.into(),
        checks: Some(format!(
            "disabled = [\"external\"]\n[checks.antivirus]\nclamd = \"{}\"\ntimeout_ms = 20000\n\
             on_infected = \"quarantine\"\n[checks.authentication]\ndns_timeout_ms = 500\n\
             [checks.attachments]\non_executable = \"quarantine\"\n",
            av.socket.display()
        )),
        ..Default::default()
    });
    let root = add_admin(&s, "root", "administrator");
    let op = add_admin(&s, "op", "operator");
    let aud = add_admin(&s, "aud", "auditor");

    let exe = held(
        &s,
        "setup.exe",
        &base64::engine::general_purpose::STANDARD
            .decode("TVqQAAMAAAAEAAAA//8AALgAAAAAAAAAQAAAAAAAAAAA")
            .unwrap(),
        "tool",
    );
    let virus = held(&s, "eicar.txt", &clamd::eicar(), "invoice");
    let deferred = submit(&s);
    wait_trace(&s, &["trace", "--queue-id", &deferred], "deferred");
    // The user to be added cannot log in yet.
    assert_eq!(auth(&s, NEW_USER, NEW_PASSWORD), 535);

    // The receiver comes up on that port: a retry now delivers at once, not in an hour.
    let r = Server::start_with(Options {
        mx_address: Some(format!("127.0.0.1:{port}")),
        top: format!("[dns]\nservers = [\"{}\"]\n", dns.addr()),
        checks: Some("disabled = [\"antivirus\", \"external\"]".into()),
        ..Default::default()
    });
    cli(&r.config, &["domain", "add", "remote.test"], None);
    cli(
        &r.config,
        &["user", "add", "carol@remote.test", "--password-stdin"],
        Some(PASSWORD),
    );

    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts/console_admin_browser.py");
    let base = format!("https://mail.example.test:{}", s.listener("admin").port());
    let out = Command::new("python3")
        .arg(&script)
        .args(["--base", &base, "--password", ADMIN_PASSWORD])
        .args([
            "--root-secret",
            &root,
            "--op-secret",
            &op,
            "--aud-secret",
            &aud,
        ])
        .args(["--held", &exe, "--virus", &virus, "--deferred", &deferred])
        .args(["--new-user", NEW_USER, "--new-password", NEW_PASSWORD])
        .arg("--cert")
        .arg(&s.pki.cert)
        .arg("--artefacts")
        .arg(artefacts())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success() && text.contains("\nok"), "{text}");

    // The auditor's and the operator's refused attempts are in the trace, naming them.
    let t = wait_trace(
        &s,
        &["trace", "--client", "127.0.0.1"],
        "op (operator): refused: release virus messages from quarantine needs the administrator role",
    );
    assert!(
        t.contains(
            "aud (auditor): refused: release messages from quarantine needs the operator role"
        ),
        "{t}"
    );
    // The message held for its executable stays held; the virus one was released by root and
    // arrived in alice's mailbox.
    let q = cli(&s.config, &["quarantine", "list"], None);
    assert!(q.contains(&exe) && !q.contains(&virus), "{q}");
    assert_eq!(s.wait_mailbox("alice@example.test", 1).len(), 1);
    wait_trace(
        &s,
        &["trace", "--queue-id", &virus],
        "released from quarantine by root",
    );
    // Retried: delivered to carol at the receiver, out of the queue, and the trace says who.
    r.wait_mailbox("carol@remote.test", 1);
    let t = wait_trace(&s, &["trace", "--queue-id", &deferred], "relayed");
    assert!(t.contains("root (administrator): queue retry of"), "{t}");
    assert!(!cli(&s.config, &["queue", "list"], None).contains(&deferred));
    // The new user logs in over SMTP AUTH with the password the administrator chose, and with
    // the token the administrator made for submission.
    assert_eq!(auth(&s, NEW_USER, NEW_PASSWORD), 235);
    let token = text
        .lines()
        .find_map(|l| l.strip_prefix("token: "))
        .unwrap_or_else(|| panic!("no token printed: {text}"));
    assert_eq!(auth(&s, NEW_USER, token.trim()), 235);
    wait_trace(
        &s,
        &["trace", "--client", "127.0.0.1"],
        &format!("root (administrator): added user {NEW_USER}"),
    );
    for shot in [
        "console-queue-message.png",
        "console-users.png",
        "console-domains.png",
        "console-token.png",
    ] {
        assert!(artefacts().join(shot).exists(), "{shot}");
    }
}
