//! The file integrity checker (NC-2.2): `rampart integrity init|check|rebaseline` on a real
//! configuration with its certificate, a DKIM key and a copy of the binary run from a
//! directory of the test's own; and `rampart serve` reporting a change at start.

use crate::common;

use common::{cli, make_pki, Options, Server, TempDir, BIN};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A configuration, its certificate and key, one DKIM key, and the binary copied beside them.
struct Setup {
    dir: TempDir,
    config: PathBuf,
    cert: PathBuf,
    bin: PathBuf,
    key: PathBuf,
}

impl Setup {
    fn new() -> Setup {
        let dir = TempDir::new("integrity");
        let pki = make_pki(&dir.0);
        let config = dir.0.join("rampart.toml");
        std::fs::write(
            &config,
            "hostname = \"mail.example.test\"\ndata_dir = \"data\"\n\
             [tls]\ncert = \"cert.pem\"\nkey = \"key.pem\"\n\
             [integrity]\nbaseline = \"integrity.baseline\"\npublic_key = \"integrity.pub\"\n",
        )
        .unwrap();
        std::fs::create_dir_all(dir.0.join("data/dkim")).unwrap();
        std::fs::write(
            dir.0.join("data/dkim/example.test.s1.ed25519.der"),
            b"first key",
        )
        .unwrap();
        // The binary as it would be installed: a file of its own, run from where it lies.
        std::fs::create_dir_all(dir.0.join("bin")).unwrap();
        let bin = dir.0.join("bin/rampart");
        std::fs::copy(BIN, &bin).unwrap();
        // The private key lives apart from the baseline (its own directory).
        std::fs::create_dir_all(dir.0.join("keys")).unwrap();
        let key = dir.0.join("keys/integrity.key");
        Setup {
            config,
            cert: pki.cert,
            bin,
            key,
            dir,
        }
    }

    /// Runs the copied binary. Executing a file just written can fail with ETXTBSY ("text file
    /// busy") while a child that another test thread forked has not yet reached exec: it holds a
    /// copy of the descriptor `copy` wrote with until then. That lasts microseconds, so the
    /// attempt is repeated, a bounded number of times.
    fn run(&self, args: &[&str]) -> Output {
        let mut attempts = 0;
        loop {
            match Command::new(&self.bin)
                .arg("--config")
                .arg(&self.config)
                .args(args)
                .output()
            {
                Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy && attempts < 200 => {
                    attempts += 1;
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                other => return other.unwrap(),
            }
        }
    }

    fn init(&self) {
        let out = self.run(&["integrity", "init", "--key", self.key.to_str().unwrap()]);
        assert!(out.status.success(), "{}", text(&out));
    }

    fn rebaseline(&self) {
        let out = self.run(&[
            "integrity",
            "rebaseline",
            "--key",
            self.key.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", text(&out));
    }

    /// `check`'s output, asserting that it failed.
    fn check_fails(&self) -> String {
        let out = self.run(&["integrity", "check"]);
        assert!(!out.status.success(), "check passed:\n{}", text(&out));
        text(&out)
    }

    fn check_passes(&self) {
        let out = self.run(&["integrity", "check"]);
        assert!(out.status.success(), "check failed:\n{}", text(&out));
        assert!(
            text(&out).contains("files match the baseline"),
            "{}",
            text(&out)
        );
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn append(path: &Path, bytes: &[u8]) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    f.write_all(bytes).unwrap();
}

#[test]
fn nc_2_2_each_changed_critical_file_is_found() {
    let s = Setup::new();
    s.init();
    let mode = std::fs::metadata(&s.key).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the private key must be mode 0600");
    s.check_passes();

    // A certificate replaced.
    append(&s.cert, b"\n");
    let out = s.check_fails();
    assert!(
        out.contains(&format!("changed: {}", s.cert.display())),
        "{out}"
    );
    assert!(out.contains("1 difference(s)"), "{out}");
    s.rebaseline();
    s.check_passes();

    // A DKIM key changed, one added.
    let dkim = s.dir.0.join("data/dkim/example.test.s1.ed25519.der");
    std::fs::write(&dkim, b"another key").unwrap();
    let added = s.dir.0.join("data/dkim/example.test.s2.ed25519.der");
    std::fs::write(&added, b"new key").unwrap();
    let out = s.check_fails();
    assert!(
        out.contains(&format!("changed: {}", dkim.display())),
        "{out}"
    );
    assert!(
        out.contains(&format!("added: {}", added.display())),
        "{out}"
    );
    s.rebaseline();

    // A DKIM key removed.
    std::fs::remove_file(&added).unwrap();
    let out = s.check_fails();
    assert!(
        out.contains(&format!("removed: {}", added.display())),
        "{out}"
    );
    s.rebaseline();

    // The configuration's mode.
    std::fs::set_permissions(&s.config, std::fs::Permissions::from_mode(0o666)).unwrap();
    let out = s.check_fails();
    assert!(
        out.contains(&format!("permissions changed: {}", s.config.display())),
        "{out}"
    );
    assert!(out.contains("-> mode 666"), "{out}");
    s.rebaseline();

    // The binary itself (the copy that runs the check).
    append(&s.bin, b"\0tampered");
    let out = s.check_fails();
    assert!(
        out.contains(&format!("changed: {}", s.bin.display())),
        "{out}"
    );
}

#[test]
fn nc_2_2_a_baseline_cannot_be_re_signed_without_its_key() {
    let s = Setup::new();
    s.init();
    append(&s.cert, b"\n");
    // Another key, made the same way on another configuration.
    let other = Setup::new();
    other.init();
    let out = s.run(&[
        "integrity",
        "rebaseline",
        "--key",
        other.key.to_str().unwrap(),
    ]);
    assert!(
        !out.status.success(),
        "re-signed with a foreign key:\n{}",
        text(&out)
    );
    assert!(
        text(&out).contains("re-signed only with the key that made it"),
        "{}",
        text(&out)
    );
    // No key at all.
    let missing = s.dir.0.join("keys/none.key");
    let out = s.run(&[
        "integrity",
        "rebaseline",
        "--key",
        missing.to_str().unwrap(),
    ]);
    assert!(!out.status.success(), "{}", text(&out));
    // The change is still reported.
    let out = s.check_fails();
    assert!(
        out.contains(&format!("changed: {}", s.cert.display())),
        "{out}"
    );

    // An intruder who swaps in their own public key and baseline is caught by the copy of the
    // real public key kept apart (`--public-key`).
    let kept = s.dir.0.join("keys/integrity.pub.copy");
    std::fs::copy(s.dir.0.join("integrity.pub"), &kept).unwrap();
    std::fs::copy(
        other.dir.0.join("integrity.baseline"),
        s.dir.0.join("integrity.baseline"),
    )
    .unwrap();
    std::fs::copy(
        other.dir.0.join("integrity.pub"),
        s.dir.0.join("integrity.pub"),
    )
    .unwrap();
    let out = s.run(&["integrity", "check", "--public-key", kept.to_str().unwrap()]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("does not verify"), "{}", text(&out));
}

#[test]
fn nc_2_2_a_tampered_baseline_is_detected() {
    let s = Setup::new();
    s.init();
    s.check_passes();
    // The intruder changes the certificate and writes its new hash into the baseline.
    append(&s.cert, b"\n");
    let baseline = s.dir.0.join("integrity.baseline");
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&baseline).unwrap()).unwrap();
    let mut body: serde_json::Value = serde_json::from_str(doc["body"].as_str().unwrap()).unwrap();
    let cert = s.cert.to_str().unwrap();
    let now = Command::new("sha256sum").arg(cert).output().unwrap();
    let hash = String::from_utf8_lossy(&now.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let size = std::fs::metadata(&s.cert).unwrap().len();
    assert!(body["files"][cert].is_object(), "{body}");
    body["files"][cert]["sha256"] = serde_json::json!(hash);
    body["files"][cert]["size"] = serde_json::json!(size);
    doc["body"] = serde_json::json!(serde_json::to_string_pretty(&body).unwrap());
    std::fs::write(&baseline, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
    let out = s.check_fails();
    assert!(out.contains("does not verify"), "{out}");
}

#[test]
fn nc_2_2_serve_reports_a_change_to_the_postmaster() {
    let dir = TempDir::new("integrity-keys");
    let key = dir.0.join("integrity.key");
    let mut s = Server::start_with(Options {
        top: "[integrity]\nbaseline = \"integrity.baseline\"\npublic_key = \"integrity.pub\"\n"
            .to_string(),
        ..Options::default()
    });
    cli(
        &s.config,
        &[
            "alias",
            "add",
            "postmaster@example.test",
            "alice@example.test",
        ],
        None,
    );
    cli(
        &s.config,
        &["integrity", "init", "--key", key.to_str().unwrap()],
        None,
    );
    assert!(s.mailbox("alice@example.test").is_empty());
    // Re-permissioned while the server runs; found at the next start.
    std::fs::set_permissions(&s.pki.key, std::fs::Permissions::from_mode(0o600)).unwrap();
    s.terminate();
    s.spawn();
    let ids = s.wait_mailbox("alice@example.test", 1);
    let id = ids[0].split_whitespace().next().unwrap();
    let mail = s.show("alice@example.test", id);
    assert!(mail.contains("NC-2.2"), "{mail}");
    assert!(
        mail.contains(&format!("permissions changed: {}", s.pki.key.display())),
        "{mail}"
    );
    common::wait_trace(&s, &["trace", "--since", "1h"], "permissions changed");
}
