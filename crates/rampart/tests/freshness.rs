//! Signature freshness (NC-2.4.4, AL-1.2): a real clamd started by the test, with a database
//! of the test's own signatures. clamd's `VERSION` then carries no date, so the signatures are
//! dated by the database files: one older than 7 days is reported at start (log, trace, a mail
//! to the postmaster); a fresh one is not.

use crate::clamd;
use crate::common;

use common::{cli, Options, Server};
use std::time::{Duration, SystemTime};

const DAY: u64 = 86_400;

/// clamd with the EICAR signature, its database file dated `days` ago, and a server using it
/// whose postmaster is alice.
fn start(days: u64) -> (clamd::Clamd, Server) {
    let av = clamd::Clamd::start(&[(
        "rampart.hdb",
        clamd::hdb_line(&clamd::eicar(), "Eicar-Test-Signature"),
    )]);
    let db = av.dir.join("db/rampart.hdb");
    let f = std::fs::File::options().write(true).open(&db).unwrap();
    f.set_modified(SystemTime::now() - Duration::from_secs(days * DAY))
        .unwrap();
    let s = Server::start_with(Options {
        top: format!(
            "[freshness]\nclamav_database_dir = \"{}\"\n",
            av.dir.join("db").display()
        ),
        checks: Some(format!(
            "disabled = []\n[checks.antivirus]\nclamd = \"{}\"\n",
            av.socket.display()
        )),
        ..Options::default()
    });
    (av, s)
}

/// Restarts the server once alice is the postmaster, so the check at start has someone to
/// mail.
fn with_postmaster(s: &mut Server) {
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
    s.terminate();
    s.spawn();
}

#[test]
fn nc_2_4_4_old_signature_database_is_reported() {
    let (_av, mut s) = start(30);
    with_postmaster(&mut s);
    let ids = s.wait_mailbox("alice@example.test", 1);
    let id = ids[0].split_whitespace().next().unwrap();
    let mail = s.show("alice@example.test", id);
    assert!(mail.contains("NC-2.4.4"), "{mail}");
    assert!(mail.contains("clamav signatures"), "{mail}");
    assert!(mail.contains("rampart.hdb"), "{mail}");
    assert!(mail.contains("30 days old"), "{mail}");
    common::wait_trace(&s, &["trace", "--since", "1h"], "30 days old");
}

#[test]
fn nc_2_4_4_fresh_signature_database_is_not_reported() {
    let (_av, mut s) = start(1);
    with_postmaster(&mut s);
    // Every check leaves a summary in the trace: wait for it, then nothing may have been found.
    let trace = common::wait_trace(&s, &["trace", "--since", "1h"], "source(s) checked");
    assert!(
        trace.contains("1 source(s) checked, 0 finding(s)"),
        "{trace}"
    );
    assert!(!trace.contains("days old"), "{trace}");
    assert!(s.mailbox("alice@example.test").is_empty());
}
