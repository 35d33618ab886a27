//! `rampart config show` and `rampart config check`, and the `--data-dir` that does not exist:
//! the spawned binary, as an administrator would run it.

use crate::common;

use common::*;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn rampart(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run rampart")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn write(dir: &Path, name: &str, body: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p.to_str().unwrap().to_string()
}

#[test]
fn config_check_says_ok_and_prints_the_warnings() {
    let dir = TempDir::new("cfgcheck");
    let file = write(
        &dir.0,
        "rampart.toml",
        "hostname = \"mx.a.example\"\ndata_dir = \"data\"\n[checks.antivirus]\nfail_open = true\n",
    );
    let out = rampart(&["config", "check", &file]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert_eq!(stdout.lines().next(), Some("ok"), "{stdout}");
    // NC-2.3.2: fail_open is said out loud, with its line.
    assert!(
        stdout.contains(&format!("{file}:4: key `checks.antivirus.fail_open`")),
        "{stdout}"
    );
    assert!(!dir.0.join("data").exists(), "check starts nothing");
}

#[test]
fn config_check_reports_every_error_one_per_line_and_exits_2() {
    let dir = TempDir::new("cfgbad");
    let file = write(
        &dir.0,
        "rampart.toml",
        "hostname = \"mx.a.example\"\n\
         [delivery]\nport = 0\n\
         [checks]\ndisabled = [\"spam\", \"spam\"]\n\
         [[checks.dlp.patterns]]\nname = \"ids\"\npattern = \"(unclosed\"\n",
    );
    let out = rampart(&["config", "check", &file]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 3, "{stderr}");
    for (line, key) in [
        (3, "delivery.port"),
        (5, "checks.disabled[1]"),
        (8, "checks.dlp.patterns[0].pattern"),
    ] {
        let want = format!("configuration error: {file}:{line}: key `{key}`: ");
        assert!(
            lines.iter().any(|l| l.starts_with(&want)),
            "{want}\n{stderr}"
        );
    }
    assert!(text(&out.stdout).is_empty());
}

#[test]
fn config_check_without_a_file_checks_the_embedded_default() {
    let out = rampart(&["config", "check"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert_eq!(stdout.lines().next(), Some("ok"));
    // The demo has no clamd: antivirus is off, and said so.
    assert!(
        stdout.contains("the antivirus check is switched off"),
        "{stdout}"
    );
}

#[test]
fn config_show_prints_the_effective_configuration_which_checks_ok() {
    let dir = TempDir::new("cfgshow");
    let secret = "pw-never-printed-7431";
    let pw = write(&dir.0, "relay-password", secret);
    let file = write(
        &dir.0,
        "rampart.toml",
        &format!(
            "hostname = \"mx.a.example\"\ndata_dir = \"data\"\n\
             [[rate_limit]]\nscope = \"ip\"\nwhat = \"messages\"\nlimit = 7\nwindow_secs = 60\n\
             [delivery.smarthost]\nhost = \"relay.a.example\"\nport = 587\n\
             username = \"gw\"\npassword_file = \"{pw}\"\n"
        ),
    );
    let out = rampart(&["--config", &file, "config", "show"]);
    let shown = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Defaults filled in, the rate limits merged, the secret not there.
    for want in [
        "hostname = \"mx.a.example\"",
        "max_message_size = 26214400",
        "limit = 7",
        "limit = 200000",
        "tls = \"starttls\"",
        "[checks.dlp]",
    ] {
        assert!(shown.contains(want), "{want} missing:\n{shown}");
    }
    assert_eq!(shown.matches("[[rate_limit]]").count(), 6, "{shown}");
    assert!(!shown.contains(secret), "{shown}");
    // What show prints is itself a valid configuration.
    let again = write(&dir.0, "shown.toml", &shown);
    let out = rampart(&["config", "check", &again]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    let out = rampart(&["config", "show"]);
    assert!(text(&out.stdout).contains("address = \"127.0.0.1:2525\""));
}

#[test]
fn a_data_dir_that_does_not_exist_is_refused_unless_asked_for() {
    let dir = TempDir::new("datadir");
    let config = write(&dir.0, "rampart.toml", "hostname = \"mx.a.example\"\n");
    let missing = dir.0.join("typo/data");
    let missing_s = missing.to_str().unwrap();
    let out = rampart(&[
        "--config",
        &config,
        "--data-dir",
        missing_s,
        "domain",
        "list",
    ]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(missing_s)
            && stderr.contains("mkdir -p")
            && stderr.contains("--create-data-dir"),
        "{stderr}"
    );
    assert!(!missing.exists(), "created despite the error");

    let out = rampart(&[
        "--config",
        &config,
        "--data-dir",
        missing_s,
        "--create-data-dir",
        "domain",
        "list",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(missing.is_dir());
}

#[test]
fn serve_prints_the_warnings_before_starting() {
    let dir = TempDir::new("servewarn");
    // A run_as that cannot work makes serve stop right after the warnings, before binding.
    let file = write(
        &dir.0,
        "rampart.toml",
        "hostname = \"mx.a.example\"\ndata_dir = \"data\"\nrun_as = \"no-such-user-rampart-test\"\n\
         [[listener]]\nrole = \"mx\"\naddress = \"127.0.0.1:0\"\n\
         [checks.antivirus]\nfail_open = true\n[checks.dlp]\nenabled = false\n",
    );
    let out = rampart(&["--config", &file, "serve"]);
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    for want in [
        format!("configuration warning: {file}:8: key `checks.antivirus.fail_open`"),
        format!("configuration warning: {file}:10: key `checks.dlp.enabled`"),
    ] {
        assert!(stderr.contains(&want), "{want}\n{stderr}");
    }
}
