//! The console's DKIM and audit pages in headless Chromium (tests/scripts/console_pages.py): an
//! administrator signs in with password and a TOTP code from oathtool, opens the DKIM page (one
//! record served by the test's DNS server, others missing) and runs the audit, whose report is
//! framed in the page; screenshots in target/test-artefacts/console.

use crate::common;

use common::browser::require_browser;
use common::console::{add_admin, oathtool, ADMIN_PASSWORD};
use common::jmap::start_jmap_with;
use common::{cli, Options, BIN};
use std::path::Path;
use std::process::Command;

/// target/test-artefacts/console (the binary is target/<profile>/rampart).
fn artefacts() -> std::path::PathBuf {
    let dir = Path::new(BIN)
        .parent()
        .and_then(Path::parent)
        .expect("the target directory")
        .join("test-artefacts")
        .join("console");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn al_2_2_al_3_2_dkim_and_audit_pages_in_the_browser() {
    require_browser();
    let s = start_jmap_with(Options {
        listener: common::console::ADMIN_LISTENER.into(),
        ..Default::default()
    });
    cli(
        &s.config,
        &[
            "dkim",
            "generate",
            "--domain",
            "example.test",
            "--selector",
            "s1",
            "--algorithm",
            "ed25519",
        ],
        None,
    );
    let records = cli(
        &s.config,
        &["dns-records", "--domain", "example.test"],
        None,
    );
    let value = records
        .lines()
        .find(|l| l.starts_with("s1._domainkey.example.test. IN TXT"))
        .and_then(|l| l.split('"').nth(1))
        .unwrap_or_else(|| panic!("no DKIM record in {records}"))
        .to_string();
    s.dns
        .as_ref()
        .unwrap()
        .set_txt("s1._domainkey.example.test", value.as_str());
    let secret = add_admin(&s, "root", "administrator");
    let dir = artefacts();
    for f in ["console-dkim.png", "console-audit.png"] {
        let _ = std::fs::remove_file(dir.join(f));
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts/console_pages.py");
    let base = format!("https://mail.example.test:{}", s.listener("admin").port());
    let out = Command::new("python3")
        .arg(&script)
        .args([
            "--base",
            &base,
            "--name",
            "root",
            "--password",
            ADMIN_PASSWORD,
        ])
        .args(["--code", &oathtool(&secret)])
        .arg("--cert")
        .arg(&s.pki.cert)
        .arg("--artefacts")
        .arg(&dir)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success() && text.contains("\nok"), "{text}");
    assert!(dir.join("console-dkim.png").exists());
    assert!(dir.join("console-audit.png").exists());
}
