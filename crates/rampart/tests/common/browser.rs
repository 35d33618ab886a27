//! Running the webmail's browser scripts (tests/scripts/*.py: Selenium with Debian's chromium
//! and chromium-driver) against a server, with their screenshots in target/test-artefacts/webmail.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{Server, BIN, PASSWORD};

/// target/test-artefacts/webmail (the binary is target/<profile>/rampart).
pub fn artefacts() -> PathBuf {
    let target = Path::new(BIN)
        .parent()
        .and_then(Path::parent)
        .expect("the target directory");
    let dir = target.join("test-artefacts").join("webmail");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Fails, never skips, when the browser is missing.
pub fn require_browser() {
    for p in ["/usr/bin/chromium", "/usr/bin/chromedriver"] {
        assert!(
            Path::new(p).exists(),
            "{p} is missing: the webmail's browser tests need chromium and chromium-driver; \
             run scripts/test.sh to install them"
        );
    }
}

/// Runs tests/scripts/`script` with `args`, then the server's address, certificate, CA,
/// password and the artefact directory; panics with its output unless it exits 0 having
/// printed its last line, `ok`. Returns what it printed.
pub fn run_script(s: &Server, script: &str, args: &[&str]) -> String {
    require_browser();
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/scripts")
        .join(script);
    let out = Command::new("python3")
        .arg(&path)
        .args(args)
        .arg("--base")
        .arg(s.https_base())
        .arg("--cert")
        .arg(&s.pki.cert)
        .arg("--ca")
        .arg(s.ca_file())
        .arg("--artefacts")
        .arg(artefacts())
        .args(["--password", PASSWORD])
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3 ({e}); run scripts/test.sh"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{script} {args:?} failed:\n{text}");
    assert!(text.contains("\nok"), "{script} did not finish:\n{text}");
    text
}

/// One message submitted by bob@example.test on the submission listener (STARTTLS, AUTH PLAIN)
/// and accepted, so that replies go to local mailboxes the tests can look into.
pub fn bob_submits(s: &Server, rcpts: &[&str], msg: &str) {
    let mut c = super::Client::connect(s.listener("submission"));
    c.expect(220);
    c.send("EHLO client.test");
    c.expect(250);
    c.starttls(s.tls_config(&[&rustls::version::TLS13]))
        .expect("STARTTLS");
    c.send("EHLO client.test");
    c.expect(250);
    // "\0bob@example.test\0correct horse battery staple"
    c.send("AUTH PLAIN AGJvYkBleGFtcGxlLnRlc3QAY29ycmVjdCBob3JzZSBiYXR0ZXJ5IHN0YXBsZQ==");
    c.expect(235);
    let (code, text) = c.send_mail("bob@example.test", rcpts, msg);
    assert_eq!(code, 250, "{text}");
}
