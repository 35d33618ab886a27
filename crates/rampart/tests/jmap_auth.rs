//! Logins over JMAP and SMTP AUTH against a real `rampart serve`: the shared login guard
//! (NC-2.1.4), disabled accounts, bearer tokens, delegation, and the mailbox audit of logins,
//! tokens, grants and administrators' reads (AL-3.1), with the location of logins from a
//! MaxMind-format database the test writes itself.

use crate::common;

use common::jmap::*;
use common::{b64, cli, cli_raw, Client, Options, Server, TempDir, PASSWORD};
use serde_json::Value;
use std::path::Path;

const ALICE: &str = "alice@example.test";
const BOB: &str = "bob@example.test";

/// Small delays and a block after three failures, so the guard shows within a test.
fn server(extra_top: &str) -> Server {
    server_blocking_after(3, extra_top)
}

fn server_blocking_after(failures: u32, extra_top: &str) -> Server {
    start_jmap_with(Options {
        top: format!(
            "[auth]\nfailure_delay_ms = 10\nmax_failure_delay_ms = 40\n\
             block_after_failures = {failures}\nblock_secs = 60\n{extra_top}"
        ),
        ..Default::default()
    })
}

/// A session on the submission listener after STARTTLS and EHLO; None when the server turned
/// the connection away (its greeting code is returned instead).
fn submission(s: &Server) -> Result<Client, u16> {
    let mut c = Client::connect(s.listener("submission"));
    let (code, _) = c.reply().expect("a greeting");
    if code != 220 {
        return Err(code);
    }
    c.send("EHLO client.test");
    c.expect(250);
    c.starttls(s.tls_config(&[&rustls::version::TLS13]))
        .expect("STARTTLS");
    c.send("EHLO client.test");
    c.expect(250);
    Ok(c)
}

/// AUTH PLAIN on a fresh submission session: the reply code (or the greeting's, if refused).
fn smtp_auth(s: &Server, user: &str, password: &str) -> u16 {
    let mut c = match submission(s) {
        Ok(c) => c,
        Err(code) => return code,
    };
    c.send(&format!(
        "AUTH PLAIN {}",
        b64(format!("\0{user}\0{password}").as_bytes())
    ));
    c.reply().expect("a reply to AUTH").0
}

fn status(s: &Server, auth: Auth) -> u16 {
    s.jmap_with(auth)
        .http("GET", "/jmap/session", &[], None)
        .status
}

fn basic(user: &str, password: &str) -> Auth {
    Auth::Basic(user.into(), password.into())
}

/// `rampart mailbox audit --user U --json ARGS...`, polled until an event matches `pred`
/// (events share the next group commit; the wait is bounded).
fn wait_audit(s: &Server, user: &str, pred: impl Fn(&Value) -> bool) -> Vec<Value> {
    let mut events = Vec::new();
    for _ in 0..200 {
        let out = cli(
            &s.config,
            &["mailbox", "audit", "--user", user, "--json"],
            None,
        );
        events = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        if events.iter().any(&pred) {
            return events;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    panic!("no matching audit event for {user}: {events:#?}");
}

fn op_is(e: &Value, op: &str) -> bool {
    e["operation"] == op
}

#[test]
fn nc_2_1_4_jmap_failures_block_smtp_auth_from_the_same_address() {
    let s = server("");
    // Three different wrong passwords (the same one again would count once, NC-2.4.1).
    for i in 0..3 {
        assert_eq!(
            status(&s, basic(ALICE, &format!("wrong password {i}"))),
            401
        );
    }
    // NC-2.1.4: the address is blocked for SMTP too: the submission listener turns it away at
    // once, and JMAP refuses even the right password.
    assert_eq!(smtp_auth(&s, ALICE, PASSWORD), 421);
    assert_eq!(status(&s, basic(ALICE, PASSWORD)), 401);
}

#[test]
fn nc_2_1_4_smtp_auth_failures_block_jmap_from_the_same_address() {
    let s = server("");
    // Before any failure both work.
    assert_eq!(status(&s, basic(BOB, PASSWORD)), 200);
    assert_eq!(smtp_auth(&s, BOB, PASSWORD), 235);
    for i in 0..3 {
        assert_eq!(smtp_auth(&s, ALICE, &format!("wrong password {i}")), 535);
    }
    assert_eq!(status(&s, basic(ALICE, PASSWORD)), 401);
    assert_eq!(status(&s, basic(BOB, PASSWORD)), 401);
    // AL-3.1: the failures are in alice's audit, service submission.
    let ev = wait_audit(&s, ALICE, |e| op_is(e, "login-failed"));
    let failed: Vec<&Value> = ev.iter().filter(|e| op_is(e, "login-failed")).collect();
    assert_eq!(failed.len(), 3, "{ev:#?}");
    assert!(failed
        .iter()
        .all(|e| e["service"] == "submission" && e["client"] == "127.0.0.1"));
}

#[test]
fn a_disabled_account_logs_in_nowhere_and_still_receives_mail() {
    let s = server_blocking_after(10, "");
    let token = cli(&s.config, &["user", "token", "add", ALICE], None);
    let token = token.trim().to_owned();
    assert_eq!(status(&s, Auth::Bearer(token.clone())), 200);
    let out = cli(&s.config, &["user", "disable", ALICE], None);
    assert!(out.contains("still received"), "{out}");
    assert_eq!(smtp_auth(&s, ALICE, PASSWORD), 535);
    assert_eq!(status(&s, basic(ALICE, PASSWORD)), 401);
    assert_eq!(status(&s, Auth::Bearer(token.clone())), 401);
    // AL-3.1: each refusal is a failed login in alice's audit.
    let ev = wait_audit(&s, ALICE, |e| {
        op_is(e, "login-failed") && e["detail"].as_str().unwrap_or("").contains("Bearer")
    });
    for service in ["submission", "jmap"] {
        assert!(
            ev.iter().any(|e| op_is(e, "login-failed")
                && e["service"] == service
                && e["detail"]
                    .as_str()
                    .unwrap()
                    .contains("the account is disabled")),
            "{service}: {ev:#?}"
        );
    }
    // Mail for the disabled account is still delivered.
    let mut c = s.connect();
    c.expect(220);
    c.send("EHLO client.test");
    c.expect(250);
    let (code, text) = c.send_mail(
        "sender@remote.test",
        &[ALICE],
        &common::message("disabled", "still delivered"),
    );
    assert_eq!(code, 250, "{text}");
    s.wait_mailbox(ALICE, 1);
    // Enabled again, every way in works.
    cli(&s.config, &["user", "enable", ALICE], None);
    assert_eq!(status(&s, basic(ALICE, PASSWORD)), 200);
    assert_eq!(status(&s, Auth::Bearer(token)), 200);
    assert_eq!(smtp_auth(&s, ALICE, PASSWORD), 235);
}

/// Sets a token's expiry in the past, through SQLite (the CLI refuses a lifetime of zero).
fn expire_token(data_dir: &Path, id: &str) {
    common::python(
        "import sqlite3,sys\n\
         c=sqlite3.connect(sys.argv[1])\n\
         n=c.execute('UPDATE access_tokens SET expires=1 WHERE id=?',(sys.argv[2],)).rowcount\n\
         c.commit()\n\
         assert n==1\n",
        &[data_dir.join("rampart.db").to_str().unwrap(), id],
    );
}

fn token_list(s: &Server, user: &str) -> Vec<Value> {
    cli(&s.config, &["user", "token", "list", user, "--json"], None)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn bearer_tokens_are_scoped_expiring_revocable_and_never_listed() {
    let s = server_blocking_after(10, "");
    let token = cli(
        &s.config,
        &[
            "user", "token", "add", ALICE, "--name", "phone", "--scope", "jmap",
        ],
        None,
    )
    .trim()
    .to_owned();
    assert!(token.starts_with("rpt_"), "{token}");
    let c = s.jmap_with(Auth::Bearer(token.clone()));
    assert_eq!(c.session()["username"], ALICE);
    assert_eq!(c.session()["username"], ALICE);
    let list = token_list(&s, ALICE);
    assert_eq!(list.len(), 1);
    let id = list[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(list[0]["name"], "phone");
    assert_eq!(list[0]["scopes"], serde_json::json!(["jmap"]));
    assert!(list[0]["expires"].is_i64(), "90 days by default");
    assert!(list[0]["last_used"].is_i64(), "the use was recorded");
    let text = cli(&s.config, &["user", "token", "list", ALICE], None);
    assert!(text.contains(&id) && text.contains("phone"), "{text}");
    let mut stored = Vec::new();
    for f in ["rampart.db", "rampart.db-wal"] {
        stored.extend(std::fs::read(s.data_dir().join(f)).unwrap_or_default());
    }
    for shown in [text.as_bytes(), &stored[..]] {
        assert!(
            !shown.windows(token.len()).any(|w| w == token.as_bytes()),
            "the token itself is never listed or stored"
        );
    }

    // A token of another scope is refused over JMAP.
    let smtp_only = cli(
        &s.config,
        &["user", "token", "add", BOB, "--scope", "submission"],
        None,
    )
    .trim()
    .to_owned();
    assert_eq!(status(&s, Auth::Bearer(smtp_only.clone())), 401);
    // ... and taken by SMTP AUTH in place of the password, for its own account only; a jmap
    // token is not.
    assert_eq!(smtp_auth(&s, BOB, &smtp_only), 235);
    assert_eq!(smtp_auth(&s, ALICE, &smtp_only), 535);
    assert_eq!(smtp_auth(&s, ALICE, &token), 535);

    // Expired: 401.
    let old = cli(
        &s.config,
        &["user", "token", "add", BOB, "--name", "old"],
        None,
    )
    .trim()
    .to_owned();
    assert_eq!(status(&s, Auth::Bearer(old.clone())), 200);
    let old_id = token_list(&s, BOB)
        .iter()
        .find(|t| t["name"] == "old")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    expire_token(&s.data_dir(), &old_id);
    assert_eq!(status(&s, Auth::Bearer(old)), 401);

    // Revoked: 401; the audit has the token's creation, one use, and revocation.
    cli(&s.config, &["user", "token", "revoke", ALICE, &id], None);
    assert_eq!(status(&s, Auth::Bearer(token)), 401);
    assert!(token_list(&s, ALICE).is_empty());
    let ev = wait_audit(&s, ALICE, |e| op_is(e, "token-use"));
    let ops: Vec<&str> = ev
        .iter()
        .map(|e| e["operation"].as_str().unwrap())
        .collect();
    assert_eq!(
        ops.iter().filter(|o| **o == "token-use").count(),
        1,
        "one use recorded per hour: {ops:?}"
    );
    assert!(
        ops.contains(&"token-create") && ops.contains(&"token-revoke"),
        "{ops:?}"
    );
    let create = ev.iter().find(|e| op_is(e, "token-create")).unwrap();
    assert_eq!(create["actor_kind"], "administrator");
    assert_eq!(create["service"], "admin-cli");
    assert!(create["actor"].as_str().unwrap().starts_with("admin:"));
    // Unknown scope: one line naming the valid ones.
    let out = cli_raw(
        &s.config,
        &["user", "token", "add", ALICE, "--scope", "imap"],
        None,
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("use jmap or submission"));
}

#[test]
fn a_delegate_sees_the_owners_mailbox_as_a_second_account() {
    let s = server("");
    let out = cli(
        &s.config,
        &["mailbox", "grant", ALICE, BOB, "--rights", "read"],
        None,
    );
    assert!(out.contains("may now reach"), "{out}");
    let bob = s.jmap(BOB);
    let alice_id = s.jmap(ALICE).account_id();
    let session = bob.session();
    let own = bob.account_id();
    assert_ne!(own, alice_id);
    let delegated = &session["accounts"][&alice_id];
    assert_eq!(delegated["name"], ALICE, "{session:#}");
    assert_eq!(delegated["isPersonal"], false);
    assert_eq!(delegated["isReadOnly"], true);
    assert!(delegated["accountCapabilities"]
        .get("urn:ietf:params:jmap:submission")
        .is_none());
    assert_eq!(session["accounts"][&own]["isPersonal"], true);
    // The primary account stays bob's own.
    assert_eq!(session["primaryAccounts"]["urn:ietf:params:jmap:mail"], own);

    // send-as: not read-only, may submit.
    cli(
        &s.config,
        &["mailbox", "grant", ALICE, BOB, "--rights", "send-as"],
        None,
    );
    let session = bob.session();
    let delegated = &session["accounts"][&alice_id];
    assert_eq!(delegated["isReadOnly"], false);
    assert!(delegated["accountCapabilities"]
        .get("urn:ietf:params:jmap:submission")
        .is_some());
    let grants = cli(&s.config, &["mailbox", "grants", ALICE], None);
    assert!(
        grants.contains(BOB) && grants.contains("send-as"),
        "{grants}"
    );

    // AL-3.1: the grant and the delegate's access are in alice's audit.
    let ev = wait_audit(&s, ALICE, |e| op_is(e, "delegate-access"));
    let access = ev.iter().find(|e| op_is(e, "delegate-access")).unwrap();
    assert_eq!(access["actor"], BOB);
    assert_eq!(access["actor_kind"], "delegate");
    assert_eq!(access["service"], "jmap");
    assert_eq!(access["user_agent"], "rampart-tests/1");
    assert_eq!(ev.iter().filter(|e| op_is(e, "grant")).count(), 2);

    cli(&s.config, &["mailbox", "revoke", ALICE, BOB], None);
    assert!(bob.session()["accounts"].get(&alice_id).is_none());
    assert!(cli(&s.config, &["mailbox", "grants"], None).is_empty());
    let bad = cli_raw(
        &s.config,
        &["mailbox", "grant", ALICE, BOB, "--rights", "owner"],
        None,
    );
    assert!(String::from_utf8_lossy(&bad.stderr).contains("read, send-as or full"));
}

#[test]
fn al_3_1_admin_read_requires_a_reason_and_is_audited() {
    let s = server("");
    let mut c = s.connect();
    c.expect(220);
    c.send("EHLO client.test");
    c.expect(250);
    let (code, _) = c.send_mail(
        "sender@remote.test",
        &[ALICE],
        &common::message("adminread", "hello"),
    );
    assert_eq!(code, 250);
    let id = s.wait_mailbox(ALICE, 1)[0]
        .split('\t')
        .next()
        .unwrap()
        .to_owned();
    let without = cli_raw(&s.config, &["mailbox", "show", ALICE, &id], None);
    assert!(!without.status.success());
    assert!(String::from_utf8_lossy(&without.stderr).contains("--reason"));
    let shown = cli(
        &s.config,
        &["mailbox", "show", ALICE, &id, "--reason", "legal hold 42"],
        None,
    );
    assert!(shown.contains("hello"));
    let ev = wait_audit(&s, ALICE, |e| op_is(e, "admin-read"));
    let read = ev.iter().find(|e| op_is(e, "admin-read")).unwrap();
    assert_eq!(read["actor_kind"], "administrator");
    assert_eq!(read["service"], "admin-cli");
    assert!(read["detail"].as_str().unwrap().contains("legal hold 42"));
    assert_eq!(ev.iter().filter(|e| op_is(e, "admin-read")).count(), 1);
}

#[test]
fn al_3_1_audit_cli_table_json_and_operation_filter() {
    let s = server("");
    assert_eq!(status(&s, basic(ALICE, PASSWORD)), 200);
    assert_eq!(status(&s, basic(ALICE, "wrong password")), 401);
    wait_audit(&s, ALICE, |e| op_is(e, "login-failed"));
    let table = cli(&s.config, &["mailbox", "audit", "--user", ALICE], None);
    let lines: Vec<&str> = table.lines().collect();
    // Without a location database the audit says so, once, at the top.
    assert!(lines[0].starts_with("location: not configured"), "{table}");
    assert_eq!(table.matches("not configured").count(), 1);
    assert!(
        lines[1].starts_with("TIME") && lines[1].contains("USER AGENT"),
        "{table}"
    );
    let login = lines.iter().find(|l| l.contains(" login ")).expect(&table);
    for part in [
        ALICE,
        "(owner)",
        "jmap",
        "127.0.0.1",
        "rampart-tests/1",
        "basic",
    ] {
        assert!(login.contains(part), "{part} in {login}");
    }
    // --operation selects; `delete` is a known word (soft and hard deletes; none here).
    let only = cli(
        &s.config,
        &[
            "mailbox",
            "audit",
            "--user",
            ALICE,
            "--operation",
            "login-failed",
            "--json",
        ],
        None,
    );
    let ev: Vec<Value> = only
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(ev.len(), 1, "{only}");
    assert_eq!(ev[0]["service"], "jmap");
    assert!(ev[0]["time"].is_string());
    let deletes = cli(
        &s.config,
        &[
            "mailbox",
            "audit",
            "--user",
            ALICE,
            "--operation",
            "delete",
            "--since",
            "1h",
            "--json",
        ],
        None,
    );
    assert!(deletes.is_empty(), "{deletes}");
    let bad = cli_raw(
        &s.config,
        &["mailbox", "audit", "--user", ALICE, "--operation", "peek"],
        None,
    );
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("peek") && err.contains("hard-delete") && err.contains("delete,"));
}

/// A MaxMind DB (format 2.0) with two IPv4 networks, each mapped to a city record, written by
/// hand: the search tree (24-bit records), the 16-byte separator, the data section, then the
/// metadata after its marker. No downloaded database.
mod mmdb {
    /// A value of the format's data section.
    pub enum V {
        Str(&'static str),
        U16(u16),
        U32(u32),
        U64(u64),
        Map(Vec<(&'static str, V)>),
        Array(Vec<V>),
    }

    fn control(out: &mut Vec<u8>, ty: u8, size: usize) {
        let (first, extra): (u8, Vec<u8>) = match size {
            0..=28 => (size as u8, vec![]),
            29..=284 => (29, vec![(size - 29) as u8]),
            _ => {
                let n = size - 285;
                (30, vec![(n >> 8) as u8, n as u8])
            }
        };
        if ty <= 7 {
            out.push((ty << 5) | first);
        } else {
            // Extended types: type 0 in the control byte, the type minus 7 in the next.
            out.push(first);
            out.push(ty - 7);
        }
        out.extend(extra);
    }

    fn uint(out: &mut Vec<u8>, ty: u8, v: u64) {
        let bytes: Vec<u8> = v
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        control(out, ty, bytes.len());
        out.extend(bytes);
    }

    pub fn encode(out: &mut Vec<u8>, v: &V) {
        match v {
            V::Str(s) => {
                control(out, 2, s.len());
                out.extend(s.as_bytes());
            }
            V::U16(n) => uint(out, 5, u64::from(*n)),
            V::U32(n) => uint(out, 6, u64::from(*n)),
            V::U64(n) => uint(out, 9, *n),
            V::Map(m) => {
                control(out, 7, m.len());
                for (k, v) in m {
                    encode(out, &V::Str(k));
                    encode(out, v);
                }
            }
            V::Array(a) => {
                control(out, 11, a.len());
                for v in a {
                    encode(out, v);
                }
            }
        }
    }

    pub fn city(country: &'static str, city: &'static str) -> V {
        let names = |n| V::Map(vec![("names", V::Map(vec![("en", V::Str(n))]))]);
        V::Map(vec![("country", names(country)), ("city", names(city))])
    }

    #[derive(Clone, Copy)]
    enum Rec {
        Empty,
        Node(usize),
        Data(usize),
    }

    /// The database for `(network, prefix length, record)`.
    pub fn build(networks: &[([u8; 4], u32, V)]) -> Vec<u8> {
        let mut data = Vec::new();
        let mut nodes: Vec<[Rec; 2]> = vec![[Rec::Empty; 2]];
        for (net, len, rec) in networks {
            let offset = data.len();
            encode(&mut data, rec);
            let addr = u32::from_be_bytes(*net);
            let mut node = 0;
            for depth in 0..*len {
                let bit = ((addr >> (31 - depth)) & 1) as usize;
                if depth + 1 == *len {
                    nodes[node][bit] = Rec::Data(offset);
                } else {
                    node = match nodes[node][bit] {
                        Rec::Node(n) => n,
                        _ => {
                            nodes.push([Rec::Empty; 2]);
                            let n = nodes.len() - 1;
                            nodes[node][bit] = Rec::Node(n);
                            n
                        }
                    };
                }
            }
        }
        let count = nodes.len();
        let mut out = Vec::new();
        for n in &nodes {
            for r in n {
                let v = match *r {
                    Rec::Empty => count,
                    Rec::Node(i) => i,
                    Rec::Data(off) => count + 16 + off,
                };
                out.extend(&(v as u32).to_be_bytes()[1..]);
            }
        }
        out.extend([0u8; 16]);
        out.extend(data);
        out.extend(b"\xab\xcd\xefMaxMind.com");
        let meta = V::Map(vec![
            ("binary_format_major_version", V::U16(2)),
            ("binary_format_minor_version", V::U16(0)),
            ("build_epoch", V::U64(1_700_000_000)),
            ("database_type", V::Str("Rampart-Test-City")),
            ("description", V::Map(vec![("en", V::Str("test"))])),
            ("ip_version", V::U16(4)),
            ("languages", V::Array(vec![V::Str("en")])),
            ("node_count", V::U32(count as u32)),
            ("record_size", V::U16(24)),
        ]);
        encode(&mut out, &meta);
        out
    }
}

fn test_database(dir: &Path) -> std::path::PathBuf {
    let db = mmdb::build(&[
        ([127, 0, 0, 0], 8, mmdb::city("Loopland", "Localhost City")),
        ([203, 0, 113, 0], 24, mmdb::city("Exampleland", "Doc Town")),
    ]);
    let path = dir.join("test-city.mmdb");
    std::fs::write(&path, db).unwrap();
    path
}

#[test]
fn al_3_1_the_test_database_locates_addresses() {
    let dir = TempDir::new("mmdb");
    let locator = rampart_smtp::geoip::Locator::open(&test_database(&dir.0)).unwrap();
    let at = |ip: &str| locator.locate(ip.parse().unwrap());
    assert_eq!(at("203.0.113.7").as_deref(), Some("Exampleland, Doc Town"));
    assert_eq!(at("127.0.0.1").as_deref(), Some("Loopland, Localhost City"));
    assert_eq!(at("192.0.2.1"), None);
    assert_eq!(at("203.0.114.1"), None);
    // As a dual-stack listener sees an IPv4 client.
    assert_eq!(
        at("::ffff:203.0.113.7").as_deref(),
        Some("Exampleland, Doc Town")
    );
}

#[test]
fn al_3_1_logins_carry_their_location_from_the_configured_database() {
    let dir = TempDir::new("geo");
    let path = test_database(&dir.0);
    let s = server(&format!(
        "[audit]\ngeoip_database = \"{}\"\n",
        path.display()
    ));
    assert_eq!(status(&s, basic(ALICE, PASSWORD)), 200);
    assert_eq!(smtp_auth(&s, ALICE, PASSWORD), 235);
    assert_eq!(status(&s, basic(ALICE, "wrong password")), 401);
    let ev = wait_audit(&s, ALICE, |e| {
        op_is(e, "login-failed") && e["service"] == "jmap"
    });
    for (op, service) in [
        ("login", "jmap"),
        ("login", "submission"),
        ("login-failed", "jmap"),
    ] {
        let e = ev
            .iter()
            .find(|e| op_is(e, op) && e["service"] == service)
            .unwrap_or_else(|| panic!("{op} {service}: {ev:#?}"));
        assert_eq!(e["location"], "Loopland, Localhost City", "{e}");
    }
    let table = cli(&s.config, &["mailbox", "audit", "--user", ALICE], None);
    assert!(!table.contains("not configured"), "{table}");
    assert!(table.contains("Loopland, Localhost City"), "{table}");
    // A path that is not a file is refused when the configuration is checked.
    let bad = dir.0.join("bad.toml");
    std::fs::write(
        &bad,
        "hostname = \"mail.example.test\"\n[audit]\ngeoip_database = \"/nonexistent.mmdb\"\n",
    )
    .unwrap();
    let out = std::process::Command::new(common::BIN)
        .args(["config", "check"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("audit.geoip_database"));
}

#[test]
fn nc_2_4_3_the_mailbox_audit_is_pruned_with_the_trace_retention() {
    let mut s = server("[trace]\nretention_days = 90\n");
    // One event past the trace's retention, one within it, written as an older server would
    // have; the queue manager prunes when it starts.
    common::python(
        "import sqlite3,sys,time\n\
         c=sqlite3.connect(sys.argv[1])\n\
         now=int(time.time()*1e6)\n\
         for days,what in ((100,'ancient'),(80,'recent')):\n\
         \x20   c.execute(\"INSERT INTO mailbox_audit(ts,account,actor,actor_kind,service,operation,detail) VALUES (?,'alice@example.test','alice@example.test','owner','jmap','login',?)\",(now-days*86400*10**6,what))\n\
         c.commit()\n",
        &[s.data_dir().join("rampart.db").to_str().unwrap()],
    );
    let audit = |s: &Server| {
        cli(
            &s.config,
            &["mailbox", "audit", "--user", ALICE, "--json"],
            None,
        )
    };
    assert!(audit(&s).contains("ancient"));
    s.terminate();
    s.spawn();
    let mut out = audit(&s);
    for _ in 0..200 {
        if !out.contains("ancient") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
        out = audit(&s);
    }
    assert!(
        !out.contains("ancient"),
        "NC-2.4.3: pruned after 90 days: {out}"
    );
    assert!(out.contains("recent"), "kept within 90 days: {out}");
}

/// A JMAP session request with Basic credentials from source address `from` (any 127/8
/// address reaches the loopback listener); the status and how long the answer took.
fn jmap_from(s: &Server, from: &str, user: &str, password: &str) -> (u16, std::time::Duration) {
    let port = s.listener("https").port();
    let started = std::time::Instant::now();
    let out = std::process::Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "30",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
        ])
        .args(["--interface", from, "--cacert"])
        .arg(s.ca_file())
        .arg("--resolve")
        .arg(format!("mail.example.test:{port}:127.0.0.1"))
        .arg("-u")
        .arg(format!("{user}:{password}"))
        .arg(format!("https://mail.example.test:{port}/jmap/session"))
        .output()
        .unwrap();
    let elapsed = started.elapsed();
    let code = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    (code, elapsed)
}

#[test]
fn nc_2_1_4_failures_for_an_account_grow_its_delay_across_services() {
    let s = start_jmap_with(Options {
        top: "[auth]\nfailure_delay_ms = 300\nmax_failure_delay_ms = 5000\n\
              block_after_failures = 10\nblock_secs = 60\n"
            .into(),
        ..Default::default()
    });
    // Two failures for alice over SMTP AUTH from 127.0.0.1 ...
    for i in 0..2 {
        assert_eq!(smtp_auth(&s, ALICE, &format!("wrong password {i}")), 535);
    }
    // ... make the third, over JMAP from another address, wait as the third failure for the
    // account: 300 ms doubled twice. A guard of JMAP's own would answer after 300 ms.
    let (code, took) = jmap_from(&s, "127.0.0.2", ALICE, "wrong password 2");
    assert_eq!(code, 401);
    assert!(
        took >= std::time::Duration::from_millis(1200),
        "answered after {took:?}"
    );
    // The right password from that address still works: accounts are delayed, not locked.
    assert_eq!(jmap_from(&s, "127.0.0.2", ALICE, PASSWORD).0, 200);
}

/// NC-2.1.8 without refusing a real client: a valid token is one hash and one lookup, so a
/// client's parallel requests are not counted as a password-guessing burst (with blocking after
/// 3 failures, 12 requests at once from one address all succeed), while a blocked address is
/// still refused with its token.
#[test]
fn nc_2_1_8_parallel_requests_with_a_valid_token_are_not_a_burst() {
    let s = server("");
    let token = cli(&s.config, &["user", "token", "add", ALICE], None)
        .trim()
        .to_owned();
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..12)
            .map(|_| {
                let s = &s;
                let token = token.clone();
                scope.spawn(move || {
                    s.jmap_with(Auth::Bearer(token))
                        .http("GET", "/jmap/session", &[], None)
                        .status
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(statuses.iter().all(|st| *st == 200), "{statuses:?}");
    // Three wrong passwords block the address; then the valid token is refused too.
    for i in 0..3 {
        assert_eq!(
            status(&s, basic(ALICE, &format!("wrong password {i}"))),
            401
        );
    }
    let r = s
        .jmap_with(Auth::Bearer(token))
        .http("GET", "/jmap/session", &[], None);
    assert_eq!(r.status, 401);
}
