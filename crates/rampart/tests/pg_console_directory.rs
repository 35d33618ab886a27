//! The console's directory pages on PostgreSQL (issue 20): an administrator changes users,
//! send-as grants (NC-2.1.7), tokens, domains and aliases from either node's console, and each
//! change is in the one database every node reads, with its trace event and, for tokens, the
//! user's mailbox audit (AL-3.1). Two `rampart serve` nodes on one database the test starts,
//! spoken to over HTTPS with curl (tests/common/console.rs).

use crate::common;

use common::console::{add_admin, Browser};
use common::pg::{dns, node, submit, wait_until, Db};
use common::{cli, ClosedPort};

const CAROL: &str = "carol@example.test";
/// Long enough for the password policy, and not a common password.
const CAROL_PASSWORD: &str = "lantern-orchard-47-quietly";

#[test]
fn nc_2_1_7_the_directory_is_changed_from_either_nodes_console() {
    let db = Db::start();
    let dns = dns();
    let console = common::console::ADMIN_LISTENER;
    let a = node(&db, &dns, 1, console);
    let b = node(&db, &dns, 1, console);
    let secret = add_admin(&a, "root", "administrator");
    let on_a = Browser::signed_in(&a, "root", &secret);
    // The same session on node B (one cookie, the shared database's sessions).
    std::fs::copy(a.dir.0.join("jar-root"), b.dir.0.join("jar-root")).unwrap();
    let on_b = Browser::new(&b, "root");
    let csrf = on_a.csrf();
    let users_page = "/users/carol%40example.test";

    // Added on node A, listed by node B with the users the database had.
    let r = on_a.post(
        "/users/add",
        &[
            ("csrf", &csrf),
            ("address", CAROL),
            ("password", CAROL_PASSWORD),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let users = on_b.get("/users");
    assert_eq!(users.status, 200, "{}", users.body);
    for u in ["alice@example.test", "bob@example.test", CAROL] {
        assert!(
            users.body.contains(&format!(">{u}</a>")),
            "{u}: {}",
            users.body
        );
    }
    assert_eq!(
        db.count("SELECT count(*) FROM users WHERE address = 'carol@example.test'"),
        1
    );

    // Disabled on node B: the database says so, node A's page too; enabled again.
    assert_eq!(
        on_b.post(&format!("{users_page}/disable"), &[("csrf", &csrf)])
            .status,
        303
    );
    assert_eq!(
        db.count("SELECT count(*) FROM users WHERE address = 'carol@example.test' AND disabled"),
        1
    );
    let page = on_a.get(users_page);
    assert!(
        page.body.contains("<td id=\"state\">disabled</td>"),
        "{}",
        page.body
    );
    assert_eq!(
        on_a.post(&format!("{users_page}/enable"), &[("csrf", &csrf)])
            .status,
        303
    );
    assert!(on_b
        .get(users_page)
        .body
        .contains("<td id=\"state\">enabled</td>"));

    // A new password, set on node B: the stored hash changes.
    let hash =
        "SELECT count(*) FROM users WHERE address = 'carol@example.test' AND password_hash = ";
    let before: String =
        db.text("SELECT password_hash FROM users WHERE address = 'carol@example.test'");
    let r = on_b.post(
        &format!("{users_page}/password"),
        &[("csrf", &csrf), ("password", "another-lantern-58-slowly")],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(
        db.count(&format!("{hash}'{before}'")),
        0,
        "the hash changed"
    );

    // NC-2.1.7: a send-as grant made on node A, shown on B's users page, withdrawn on B, with
    // its trace event.
    let r = on_a.post(
        &format!("{users_page}/send-as-add"),
        &[("csrf", &csrf), ("address", "sales@example.test")],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(on_b.get("/users").body.contains("sales@example.test"));
    assert_eq!(
        db.count("SELECT count(*) FROM send_as WHERE \"user\" = 'carol@example.test'"),
        1
    );
    let r = on_b.post(
        &format!("{users_page}/send-as-remove"),
        &[("csrf", &csrf), ("address", "sales@example.test")],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(db.count("SELECT count(*) FROM send_as"), 0);
    assert_eq!(
        db.count("SELECT count(*) FROM trace WHERE event = 'send-as-removed' AND sender = 'sales@example.test'"),
        1
    );
    // Withdrawing it again names what is missing.
    let r = on_a.post(
        &format!("{users_page}/send-as-remove"),
        &[("csrf", &csrf), ("address", "sales@example.test")],
    );
    assert!(
        r.body
            .contains("carol@example.test has no grant to send as sales@example.test"),
        "{}",
        r.body
    );

    // The same with the command line: granted with node A's, listed and withdrawn with B's.
    let out = cli(
        &a.config,
        &["user", "send-as", CAROL, "sales@example.test"],
        None,
    );
    assert_eq!(
        out.trim(),
        "carol@example.test may now send as sales@example.test"
    );
    let listed = cli(&b.config, &["user", "send-as-list"], None);
    assert_eq!(listed.trim(), "carol@example.test -> sales@example.test");
    let out = cli(
        &b.config,
        &["user", "send-as", CAROL, "sales@example.test", "--remove"],
        None,
    );
    assert_eq!(
        out.trim(),
        "carol@example.test may no longer send as sales@example.test"
    );
    assert_eq!(
        cli(&a.config, &["user", "send-as-list", "--json"], None),
        ""
    );

    // A token made on node A is shown once, stored as its hash, in the mailbox audit; revoked
    // from node B, it is gone and the audit says who revoked it.
    let r = on_a.post(
        &format!("{users_page}/token-add"),
        &[
            ("csrf", &csrf),
            ("name", "phone"),
            ("scope_jmap", "yes"),
            ("expires", "30d"),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("id=\"new-token\""), "{}", r.body);
    let id = common::console::by_id(&r.body, "token-id");
    assert_eq!(
        db.count("SELECT count(*) FROM access_tokens WHERE account = 'carol@example.test'"),
        1
    );
    assert!(on_b.get(users_page).body.contains(&id));
    let r = on_b.post(
        &format!("{users_page}/token-revoke"),
        &[("csrf", &csrf), ("token", &id), ("confirm", "yes")],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(
        db.count("SELECT count(*) FROM access_tokens WHERE account = 'carol@example.test'"),
        0
    );
    assert_eq!(
        db.count(
            "SELECT count(*) FROM mailbox_audit WHERE account = 'carol@example.test' \
             AND actor = 'admin:root' AND service = 'console'"
        ),
        2,
        "the token's creation and its revocation"
    );

    // Domains and aliases: added on node A, removed (after the confirmation) on node B.
    let r = on_a.post("/domains/add", &[("csrf", &csrf), ("name", "other.test")]);
    assert_eq!(r.status, 303, "{}", r.body);
    let r = on_a.post(
        "/aliases/add",
        &[
            ("csrf", &csrf),
            ("alias", "info@other.test"),
            ("target", CAROL),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let r = on_b.post(
        "/aliases/remove",
        &[
            ("csrf", &csrf),
            ("alias", "info@other.test"),
            ("target", CAROL),
            ("confirm", "yes"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(
        db.count("SELECT count(*) FROM aliases WHERE alias = 'info@other.test'"),
        0
    );
    let r = on_b.post(
        "/domains/remove",
        &[("csrf", &csrf), ("name", "other.test"), ("confirm", "yes")],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(
        db.count("SELECT count(*) FROM domains WHERE name = 'other.test'"),
        0
    );
    assert!(!on_a.get("/domains").body.contains("other.test"));

    // Deleted on node B, after the confirmation; gone from node A's list.
    let r = on_b.post(&format!("{users_page}/delete"), &[("csrf", &csrf)]);
    assert_eq!(r.status, 200, "the confirmation first: {}", r.body);
    assert_eq!(
        db.count("SELECT count(*) FROM users WHERE address = 'carol@example.test'"),
        1
    );
    let r = on_b.post(
        &format!("{users_page}/delete"),
        &[("csrf", &csrf), ("confirm", "yes")],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(
        db.count("SELECT count(*) FROM users WHERE address = 'carol@example.test'"),
        0
    );
    assert!(!on_a.get("/users").body.contains(CAROL));
    // Every change is a console event naming the administrator (AL-3.1): thirteen above.
    wait_until("the console's thirteen changes are in the trace", || {
        db.count(
            "SELECT count(*) FROM trace WHERE event = 'console' \
             AND detail LIKE 'root (administrator): %' AND detail NOT LIKE '%signed%'",
        ) >= 13
    });
}

/// A message node A queued, bounced from node B's console on the shared queue: its sender gets one
/// notification (queued in the commit that fails the recipient, as `rampart queue bounce`
/// does), and a second bounce finds nothing waiting. Before, the console refused a bounce on
/// PostgreSQL.
#[test]
fn a_bounce_from_node_bs_console_notifies_the_sender_once() {
    let db = Db::start();
    let dns = dns();
    let console = common::console::ADMIN_LISTENER;
    // remote.test's MX refuses connections: what node A queues waits there.
    let closed = ClosedPort::for_rampart();
    let a = node(&db, &dns, closed.port(), console);
    let b = node(&db, &dns, closed.port(), console);
    let secret = add_admin(&b, "ops", "operator");
    let on_b = Browser::signed_in(&b, "ops", &secret);
    let qid = submit(
        &a,
        "From: Alice <alice@example.test>\r\nTo: <carol@remote.test>\r\nSubject: stuck\r\n\
         Message-ID: <stuck@example.test>\r\nDate: Mon, 23 Nov 2026 08:00:00 +0000\r\n\r\n\
         Nobody takes it.\r\n",
    );
    // Held first, so that no delivery attempt is under way when it is bounced.
    let hold = on_b.post(&format!("/queue/{qid}/hold"), &[("csrf", &on_b.csrf())]);
    assert_eq!(hold.status, 303, "{}", hold.body);
    assert!(on_b.get(&format!("/queue/{qid}")).body.contains("held"));

    let path = format!("/queue/{qid}/bounce");
    let r = on_b.post(&path, &[("csrf", &on_b.csrf())]);
    assert_eq!(r.status, 200, "the confirmation first: {}", r.body);
    let r = on_b.post(&path, &[("csrf", &on_b.csrf()), ("confirm", "yes")]);
    assert_eq!(r.status, 303, "{}", r.body);
    let list = a.wait_mailbox("alice@example.test", 1);
    let dsn = a.show("alice@example.test", list[0].split('\t').next().unwrap());
    assert!(
        dsn.contains("delivery cancelled by the administrator"),
        "{dsn}"
    );
    assert!(dsn.contains("carol@remote.test"), "{dsn}");
    // Once: nothing is left to bounce, and alice has the one notification.
    let again = on_b.post(&path, &[("csrf", &on_b.csrf()), ("confirm", "yes")]);
    assert_eq!(again.status, 404, "{}", again.body);
    assert_eq!(a.mailbox("alice@example.test").len(), 1);
    let t = common::wait_trace(&a, &["trace", "--queue-id", &qid], "queue bounce of");
    assert!(t.contains("ops (operator): queue bounce of"), "{t}");
}
