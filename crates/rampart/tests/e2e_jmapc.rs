//! End to end with jmapc (PyPI), a JMAP client we did not write, and swaks: mail that arrived
//! over SMTP is listed, read, moved, flagged and replied to over JMAP, the reply reaches its
//! recipient, and new mail is pushed (AL-4.1: mail is read over HTTPS, not IMAP or POP3).
//! The client's steps are in tests/scripts/jmapc_e2e.py.

use crate::common;

use common::jmap::start_jmap;
use common::*;

#[test]
fn jmapc_reads_moves_flags_replies_and_hears_new_mail() {
    let s = start_jmap();
    let https = s.listener("https").port().to_string();
    let mx = s.listener("mx").port().to_string();
    let submission = s.listener("submission").port().to_string();
    let ca = s.ca_file();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/scripts/jmapc_e2e.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .args([&https, &mx, &submission])
        .arg(&ca)
        .arg(PASSWORD)
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "jmapc script failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for step in [
        "mailboxes",
        "read Lunch on Friday?",
        "moved-and-flagged",
        "submitted",
        "bob-received Re: Lunch on Friday?",
        "push",
    ] {
        assert!(stdout.contains(step), "no `{step}` in:\n{stdout}");
    }
    // The reply went through the submission pipeline: the trace shows it queued for bob.
    wait_trace(&s, &["trace", "--recipient", "bob@example.test"], "queued");
}
