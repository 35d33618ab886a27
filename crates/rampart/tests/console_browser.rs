//! The admin console in headless Chromium (tests/scripts/console_browser.py): an administrator
//! signs in with password and a TOTP code from oathtool, releases a held message (which then
//! arrives in the mailbox), finds it in the trace, bans and unbans an address; screenshots of
//! the dashboard and the quarantine in target/test-artefacts/webmail.

use crate::common;

use common::browser::{artefacts, require_browser};
use common::jmap::start_jmap_with;
use common::{cli, Options};
use std::process::Command;

#[test]
fn al_3_1_administrator_releases_finds_bans_and_unbans_in_the_browser() {
    require_browser();
    let s = start_jmap_with(Options {
        listener: common::console::ADMIN_LISTENER.into(),
        checks: Some(
            "disabled = [\"antivirus\"]\n[checks.attachments]\non_executable = \"quarantine\"\n"
                .into(),
        ),
        ..Default::default()
    });
    let out = cli(
        &s.config,
        &[
            "admin",
            "add",
            "root",
            "--role",
            "administrator",
            "--password-stdin",
        ],
        Some("a console passphrase"),
    );
    let secret = out
        .lines()
        .find_map(|l| l.strip_prefix("TOTP secret (base32): "))
        .unwrap()
        .trim()
        .to_string();
    let code = Command::new("oathtool")
        .args(["--totp", "-b", &secret])
        .output()
        .expect("oathtool (scripts/test.sh)");
    let code = String::from_utf8(code.stdout).unwrap().trim().to_string();

    let mut c = s.connect();
    c.expect(220);
    c.send("EHLO client.remote.test");
    c.expect(250);
    let body = "From: <sender@remote.test>\r\nTo: <alice@example.test>\r\nSubject: tool\r\n\
        Message-ID: <held@remote.test>\r\nDate: Thu, 1 Jan 2026 00:00:00 +0000\r\n\
        MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
        --b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n\
        --b\r\nContent-Type: application/octet-stream\r\n\
        Content-Disposition: attachment; filename=\"setup.exe\"\r\n\
        Content-Transfer-Encoding: base64\r\n\r\nTVqQAAMAAAAEAAAA//8AALgAAAAAAAAAQAAAAAAAAAAA\r\n--b--\r\n";
    let (code250, reply) = c.send_mail("sender@remote.test", &["alice@example.test"], body);
    assert_eq!(code250, 250, "{reply}");
    c.send("QUIT");
    let list = cli(&s.config, &["quarantine", "list", "--json"], None);
    let v: serde_json::Value = serde_json::from_str(list.lines().next().unwrap()).unwrap();
    let held = v["queue_id"].as_str().unwrap().to_string();

    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts/console_browser.py");
    let base = format!("https://mail.example.test:{}", s.listener("admin").port());
    let out = Command::new("python3")
        .arg(&script)
        .args([
            "--base",
            &base,
            "--name",
            "root",
            "--password",
            "a console passphrase",
        ])
        .args(["--code", &code, "--held", &held])
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
    // Released: delivered to alice's mailbox.
    assert_eq!(s.wait_mailbox("alice@example.test", 1).len(), 1);
    assert!(artefacts().join("console-dashboard.png").exists());
    assert!(artefacts().join("console-quarantine.png").exists());
}
