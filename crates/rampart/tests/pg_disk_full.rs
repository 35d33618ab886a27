//! The PostgreSQL store meets a full disk, for real: the database lives in a tablespace on a
//! small tmpfs of the database server's own (`Cluster::start_with_small_disk`), which the test
//! fills with a file of its own and empties again. The write-ahead log stays on the cluster's
//! own disk, as on a production server with its WAL on a separate volume. What must hold, as on
//! SQLite (disk_full.rs; docs/OPERATIONS.md, "A full disk"):
//! - a message whose rows find the database's disk full gets `452 4.3.1` at the end of its
//!   data (PostgreSQL's `disk_full`, SQLSTATE 53100), so its sender keeps it, and nothing of it
//!   is stored; a JMAP upload gets `507`;
//! - what was stored before is still there;
//! - once there is room again, mail flows without a restart of the node or the database.

use crate::common;

use common::pg::*;
use std::io::Write;
use std::path::{Path, PathBuf};

const MIB: u64 = 1024 * 1024;
/// The database's disk: room for a new database (a copy of `template1`, about 8 MB) and the
/// store's tables, and little more.
const DISK: u64 = 40 * MIB;

/// About `bytes` of text that does not compress (message bodies are stored uncompressed,
/// `STORAGE EXTERNAL`, but the test does not rely on it): lines of hex of random bytes.
fn incompressible(bytes: usize) -> String {
    let mut text = String::with_capacity(bytes + 80);
    while text.len() < bytes {
        let line: [u8; 38] = rampart_store::random_bytes();
        for b in line {
            text.push_str(&format!("{b:02x}"));
        }
        text.push_str("\r\n");
    }
    text
}

/// Fills the disk at `dir` with one file until a write finds no room; the file's path.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).expect("the filler file on the small disk");
    let chunk = vec![0xa5u8; 64 * 1024];
    loop {
        match f.write(&chunk) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::StorageFull => break,
            Err(e) => panic!("filling the small disk: {e}"),
        }
    }
    path
}

fn stored(db: &Db, id: &str) -> i64 {
    db.count(&format!(
        "SELECT count(*) FROM messages WHERE message_id LIKE '%{id}@remote.test%'"
    ))
}

#[test]
fn a_full_database_disk_gets_452_and_loses_nothing_and_mail_flows_once_there_is_room() {
    let db = Db::start_on_small_disk(DISK);
    let dns = dns();
    let node = node(&db, &dns, 1, "");
    let alice = "SELECT count(*) FROM mail_emails WHERE account = 'alice@example.test'";

    let (code, text) = send_to_alice(&node, "before", "Stored while there is room.");
    assert_eq!(code, 250, "{text}");
    wait_until("the first message is in alice's mailbox", || {
        db.count(alice) == 1
    });

    let jmap = node.jmap("alice@example.test");
    let account = jmap.account_id();
    let upload = || {
        jmap.http(
            "POST",
            &format!("/jmap/upload/{account}"),
            &[("Content-Type", "application/octet-stream")],
            Some(incompressible(300 * 1024).as_bytes()),
        )
    };

    let filler = fill(&db.cluster.small_disk());
    // 300 KiB: new pages for its body, which the full disk cannot give.
    let (code, text) = send_to_alice(&node, "full", &incompressible(300 * 1024));
    assert_eq!(
        code,
        452,
        "a message the database has no room for: {text}\n{}",
        db.cluster.log()
    );
    assert!(text.starts_with("4.3.1"), "{code} {text}");
    assert!(
        db.cluster.log().contains("No space left on device"),
        "the database server met the full disk:\n{}",
        db.cluster.log()
    );
    assert_eq!(
        stored(&db, "full"),
        0,
        "nothing of the refused message is kept"
    );
    assert_eq!(stored(&db, "before"), 1);
    assert_eq!(db.count(alice), 1, "what was stored before is still there");
    // Over JMAP a blob the database has no room for is 507 (RFC 4918: insufficient storage).
    let r = upload();
    assert_eq!(r.status, 507, "an upload to a full database: {}", r.text());

    std::fs::remove_file(&filler).expect("the filler file removed");
    // The same message again, as its sender would retry it, and one more: both stored.
    let (code, text) = send_to_alice(&node, "full", &incompressible(300 * 1024));
    assert_eq!(code, 250, "once there is room: {text}");
    let (code, text) = send_to_alice(&node, "after", "Stored once there is room again.");
    assert_eq!(code, 250, "{text}");
    wait_until("every accepted message is in alice's mailbox", || {
        db.count(alice) == 3
    });
    assert_eq!(stored(&db, "full"), 1);
    let r = upload();
    assert_eq!(r.status, 201, "an upload once there is room: {}", r.text());
    assert_eq!(db.count("SELECT count(*) FROM queue"), 0);
}
