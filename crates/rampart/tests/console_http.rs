//! The admin console over HTTPS against a real `rampart serve`, spoken with curl: login needs the
//! password AND a TOTP code from an independent implementation (oathtool, RFC 6238), a code is
//! accepted once, every POST needs the session's CSRF token and a role that may do it, and a
//! client outside the listener's allow-list is closed at accept.

use crate::common;

use common::jmap::start_jmap_with;
use common::{cli, Options, Server};
use std::process::Command;

const ADMIN_PASSWORD: &str = "a console passphrase";

/// A server with an admin listener and executables quarantined (antivirus off: no clamd).
fn start() -> Server {
    start_jmap_with(Options {
        listener: common::console::ADMIN_LISTENER.into(),
        checks: Some(
            "disabled = [\"antivirus\"]\n[checks.attachments]\non_executable = \"quarantine\"\n"
                .into(),
        ),
        ..Default::default()
    })
}

/// `rampart admin add NAME --role ROLE`; the TOTP secret it printed.
fn add_admin(s: &Server, name: &str, role: &str) -> String {
    let out = cli(
        &s.config,
        &["admin", "add", name, "--role", role, "--password-stdin"],
        Some(ADMIN_PASSWORD),
    );
    assert!(out.contains("otpauth://totp/Rampart:"), "{out}");
    out.lines()
        .find_map(|l| l.strip_prefix("TOTP secret (base32): "))
        .unwrap_or_else(|| panic!("no secret in {out}"))
        .trim()
        .to_string()
}

/// The code oathtool computes for `secret`, `offset` seconds from now.
fn oathtool(secret: &str, offset: i64) -> String {
    let out = Command::new("oathtool")
        .args([
            "--totp",
            "-b",
            secret,
            "-N",
            &format!("now + {offset} seconds"),
        ])
        .output()
        .expect("oathtool is installed (scripts/test.sh)");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A browser-like curl client with a cookie jar, on the admin listener.
struct Browser<'a> {
    s: &'a Server,
    jar: std::path::PathBuf,
    host: String,
    connect_to: String,
}

struct Reply {
    status: u16,
    body: String,
}

impl<'a> Browser<'a> {
    fn new(s: &'a Server, tag: &str) -> Browser<'a> {
        let port = s.listener("admin").port();
        Browser {
            s,
            jar: s.dir.0.join(format!("jar-{tag}")),
            host: format!("mail.example.test:{port}"),
            connect_to: "127.0.0.1".into(),
        }
    }

    fn origin(&self) -> String {
        format!("https://{}", self.host)
    }

    fn request(&self, method: &str, path: &str, form: Option<&[(&str, &str)]>) -> Option<Reply> {
        let port = self.s.listener("admin").port();
        let mut cmd = Command::new("curl");
        cmd.args([
            "-sS",
            "--max-time",
            "20",
            "-o",
            "-",
            "-w",
            "\n%{http_code}",
            "-X",
            method,
        ])
        .arg("--cacert")
        .arg(self.s.ca_file())
        .arg("--resolve")
        .arg(format!("mail.example.test:{port}:{}", self.connect_to))
        .arg("-c")
        .arg(&self.jar)
        .arg("-b")
        .arg(&self.jar);
        if let Some(fields) = form {
            let body: String = url_encode(fields);
            cmd.arg("-H")
                .arg(format!("Origin: {}", self.origin()))
                .arg("--data-raw")
                .arg(body);
        }
        cmd.arg(format!("{}{path}", self.origin()));
        let out = cmd.output().unwrap();
        if !out.status.success() {
            return None;
        }
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap();
        Some(Reply {
            status: code.trim().parse().unwrap(),
            body: body.to_string(),
        })
    }

    fn get(&self, path: &str) -> Reply {
        self.request("GET", path, None).expect("curl GET")
    }

    fn post(&self, path: &str, form: &[(&str, &str)]) -> Reply {
        self.request("POST", path, Some(form)).expect("curl POST")
    }

    /// Signs in; the status of the POST /login.
    fn login(&self, name: &str, password: &str, code: &str) -> u16 {
        let page = self.get("/login");
        let token = field(&page.body, "login_token");
        self.post(
            "/login",
            &[
                ("login_token", &token),
                ("name", name),
                ("password", password),
                ("code", code),
            ],
        )
        .status
    }

    /// The CSRF token of a page of the signed-in session.
    fn csrf(&self) -> String {
        field(&self.get("/").body, "csrf")
    }
}

fn url_encode(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| {
            let enc = |s: &str| -> String {
                s.bytes()
                    .map(|b| {
                        if b.is_ascii_alphanumeric() {
                            char::from(b).to_string()
                        } else {
                            format!("%{b:02X}")
                        }
                    })
                    .collect()
            };
            format!("{}={}", enc(k), enc(v))
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// The value of the first input named `name` in `html`.
fn field(html: &str, name: &str) -> String {
    let at = html
        .find(&format!("name=\"{name}\" value=\""))
        .unwrap_or_else(|| panic!("no field {name} in {html}"));
    let rest = &html[at + name.len() + 15..];
    rest[..rest.find('"').unwrap()].to_string()
}

/// Sends a message with an executable attachment to alice; it is held. Its queue id.
fn quarantine_one(s: &Server) -> String {
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
    let (code, reply) = c.send_mail("sender@remote.test", &["alice@example.test"], body);
    assert_eq!(code, 250, "{reply}");
    c.send("QUIT");
    let list = cli(&s.config, &["quarantine", "list", "--json"], None);
    let v: serde_json::Value =
        serde_json::from_str(list.lines().next().expect("one held")).unwrap();
    v["queue_id"].as_str().unwrap().to_string()
}

#[test]
fn al_3_1_login_needs_password_and_a_fresh_totp_code() {
    let s = start();
    let secret = add_admin(&s, "root", "administrator");
    let b = Browser::new(&s, "root");
    // No code, a wrong code, a wrong password: each refused, nothing signed in.
    assert_eq!(b.login("root", ADMIN_PASSWORD, ""), 401);
    assert_eq!(b.login("root", ADMIN_PASSWORD, "000000"), 401);
    let code = oathtool(&secret, 0);
    assert_eq!(b.login("root", "wrong password", &code), 401);
    assert!(b.get("/").status == 303, "not signed in");
    // A mail user's password opens nothing here.
    assert_eq!(b.login("alice@example.test", common::PASSWORD, &code), 401);
    // Password and code: signed in.
    assert_eq!(b.login("root", ADMIN_PASSWORD, &code), 303);
    let dash = b.get("/");
    assert_eq!(dash.status, 200);
    assert!(
        dash.body.contains("id=\"who\">root (administrator)"),
        "{}",
        dash.body
    );
    // The same code again, from another browser: refused (RFC 6238 section 5.2).
    let other = Browser::new(&s, "replay");
    assert_eq!(other.login("root", ADMIN_PASSWORD, &code), 401);
    assert_eq!(other.get("/").status, 303);
    // The failures are in the trace.
    let t = common::wait_trace(
        &s,
        &["trace", "--client", "127.0.0.1"],
        "TOTP code already used",
    );
    assert!(
        t.contains("failed for root (console): password right, TOTP code missing or wrong"),
        "{t}"
    );
}

#[test]
fn al_3_1_posts_need_csrf_and_the_right_role_and_releases_are_traced() {
    let s = start();
    let root = add_admin(&s, "root", "administrator");
    let op = add_admin(&s, "op", "operator");
    let aud = add_admin(&s, "aud", "auditor");
    let held = quarantine_one(&s);

    let auditor = Browser::new(&s, "aud");
    assert_eq!(
        auditor.login("aud", ADMIN_PASSWORD, &oathtool(&aud, 0)),
        303
    );
    let operator = Browser::new(&s, "op");
    assert_eq!(operator.login("op", ADMIN_PASSWORD, &oathtool(&op, 0)), 303);
    let admin = Browser::new(&s, "root");
    assert_eq!(
        admin.login("root", ADMIN_PASSWORD, &oathtool(&root, 0)),
        303
    );

    // The auditor reads the quarantine but may change nothing: every POST route refused.
    assert!(auditor.get("/quarantine").body.contains(&held));
    let csrf = auditor.csrf();
    for (path, form) in [
        (
            format!("/quarantine/{held}/release"),
            vec![("csrf", csrf.as_str())],
        ),
        (
            format!("/quarantine/{held}/delete"),
            vec![("csrf", csrf.as_str()), ("confirm", "yes")],
        ),
        (
            "/bans/add".to_string(),
            vec![("csrf", csrf.as_str()), ("network", "198.51.100.7")],
        ),
        (
            "/bans/remove".to_string(),
            vec![
                ("csrf", csrf.as_str()),
                ("network", "198.51.100.7"),
                ("confirm", "yes"),
            ],
        ),
    ] {
        let r = auditor.post(&path, &form);
        assert_eq!(r.status, 403, "{path}: {}", r.body);
    }
    // The auditor searches the trace (AL-3.1): the held message's timeline; a search that
    // matches nothing says so; a malformed "hours back" is refused in words, not ignored.
    let found = auditor.get(&format!("/trace?queue_id={held}")).body;
    assert!(
        found.contains("id=\"timeline\"") && found.contains("quarantined"),
        "{found}"
    );
    let none = auditor.get("/trace?client=192.0.2.99").body;
    assert!(none.contains("<p id=\"count\">0 event(s)</p>"), "{none}");
    let bad = auditor.get(&format!("/trace?queue_id={held}&hours=a+day"));
    assert_eq!(bad.status, 400);
    let bad = bad.body;
    assert!(
        bad.contains("“a day” is not a number of hours; give a whole number, such as 24"),
        "{bad}"
    );
    assert!(!bad.contains("id=\"timeline\""), "{bad}");
    // The operator may not ban (administrator only).
    let r = operator.post(
        "/bans/add",
        &[("csrf", &operator.csrf()), ("network", "198.51.100.7")],
    );
    assert_eq!(r.status, 403, "{}", r.body);
    // Without the CSRF token, or with another session's, even the administrator is refused.
    let r = admin.post(&format!("/quarantine/{held}/release"), &[]);
    assert_eq!(r.status, 403);
    let r = admin.post(&format!("/quarantine/{held}/release"), &[("csrf", &csrf)]);
    assert_eq!(r.status, 403);
    assert!(cli(&s.config, &["quarantine", "list"], None).contains(&held));

    // The operator releases it: it arrives in alice's mailbox, and the trace names who.
    let r = operator.post(
        &format!("/quarantine/{held}/release"),
        &[("csrf", &operator.csrf())],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(s.wait_mailbox("alice@example.test", 1).len() == 1);
    let t = common::wait_trace(
        &s,
        &["trace", "--queue-id", &held],
        "released from quarantine by op",
    );
    assert!(t.contains("op (operator): released held message"), "{t}");
    let page = admin.get("/quarantine");
    assert!(
        page.body.contains("released from quarantine by op"),
        "{}",
        page.body
    );

    // Ban and unban (unban asks for confirmation first).
    let r = admin.post(
        "/bans/add",
        &[
            ("csrf", &admin.csrf()),
            ("network", "198.51.100.7"),
            ("reason", "test"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(cli(&s.config, &["ban", "list"], None).contains("198.51.100.7/32"));
    let r = admin.post(
        "/bans/remove",
        &[("csrf", &admin.csrf()), ("network", "198.51.100.7")],
    );
    assert_eq!(r.status, 200);
    assert!(
        r.body.contains("Lift the ban of 198.51.100.7/32?"),
        "{}",
        r.body
    );
    assert!(cli(&s.config, &["ban", "list"], None).contains("198.51.100.7/32"));
    let r = admin.post(
        "/bans/remove",
        &[
            ("csrf", &admin.csrf()),
            ("network", "198.51.100.7"),
            ("confirm", "yes"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(!cli(&s.config, &["ban", "list"], None).contains("198.51.100.7/32"));

    // Signing out ends the session on the server.
    let r = admin.post("/logout", &[("csrf", &admin.csrf())]);
    assert_eq!(r.status, 303);
    assert_eq!(admin.get("/").status, 303);
}

/// The first IPv4 address of this host that is not loopback.
fn non_loopback_address() -> Option<String> {
    let out = Command::new("hostname").arg("-I").output().ok()?;
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .find(|a| {
            a.parse::<std::net::Ipv4Addr>()
                .is_ok_and(|ip| !ip.is_loopback())
        })
        .map(str::to_owned)
}

#[test]
fn al_3_1_a_client_outside_the_allow_list_is_closed_at_accept() {
    let Some(ip) = non_loopback_address() else {
        panic!("this test needs a non-loopback IPv4 address on the host");
    };
    let s = start_jmap_with(Options {
        listener: "\n[[listener]]\nrole = \"admin\"\naddress = \"0.0.0.0:0\"\n\
                   allow_remote = true\nallow = [\"203.0.113.0/24\"]\n"
            .into(),
        ..Default::default()
    });
    // Loopback is served.
    let b = Browser::new(&s, "lo");
    assert_eq!(b.get("/login").status, 200);
    // From the host's own public address (not in the list): no TLS, no HTTP, a close.
    let mut remote = Browser::new(&s, "remote");
    remote.connect_to = ip.clone();
    assert!(
        remote.request("GET", "/login", None).is_none(),
        "{ip} outside the allow-list was served"
    );
}

/// A server whose deliveries to remote.test are deferred (its MX points at a closed port), with
/// an admin and a submissions listener; the DNS server it asks, and that closed port.
fn start_deferring() -> (Server, rampart_testdns::TestDns, common::ClosedPort) {
    let dns = rampart_testdns::TestDns::builder()
        .mx("remote.test", 10, "mx.remote.test")
        .a("mx.remote.test", "127.0.0.1".parse().unwrap())
        .start();
    let closed = common::ClosedPort::new();
    let port = closed.port();
    let s = Server::start_with(Options {
        top: format!(
            "[dns]\nservers = [\"{}\"]\ntimeout_secs = 2\n\
             [delivery]\nport = {port}\nretry_secs = [3600]\ntimeout_secs = 10\n\
             [[listener]]\nrole = \"submissions\"\naddress = \"127.0.0.1:0\"\n",
            dns.addr()
        ),
        listener: common::console::ADMIN_LISTENER.into(),
        ..Default::default()
    });
    (s, dns, closed)
}

/// alice sends `subject` to carol@remote.test; its queue id, once its first attempt is deferred.
fn deferred(s: &Server, subject: &str) -> String {
    let mut c = s.login_alice();
    let body = format!(
        "From: <alice@example.test>\r\nTo: <carol@remote.test>\r\nSubject: {subject}\r\n\
         Message-ID: <{subject}@example.test>\r\n\r\nHello Carol.\r\n"
    );
    let (code, text) = c.send_mail("alice@example.test", &["carol@remote.test"], &body);
    assert_eq!(code, 250, "{text}");
    c.send("QUIT");
    let id = text.rsplit(' ').next().unwrap().to_string();
    common::wait_trace(s, &["trace", "--queue-id", &id], "deferred");
    id
}

#[test]
fn al_3_1_queue_actions_need_csrf_an_operator_and_confirmation_and_bounce_tells_the_sender() {
    let (s, _dns, _closed) = start_deferring();
    let root = add_admin(&s, "root", "administrator");
    let op = add_admin(&s, "op", "operator");
    let aud = add_admin(&s, "aud", "auditor");
    let kept = deferred(&s, "kept");
    let bounced = deferred(&s, "bounced");
    let admin = Browser::new(&s, "root");
    assert_eq!(
        admin.login("root", ADMIN_PASSWORD, &oathtool(&root, 0)),
        303
    );
    let operator = Browser::new(&s, "op");
    assert_eq!(operator.login("op", ADMIN_PASSWORD, &oathtool(&op, 0)), 303);
    let auditor = Browser::new(&s, "aud");
    assert_eq!(
        auditor.login("aud", ADMIN_PASSWORD, &oathtool(&aud, 0)),
        303
    );

    // Every role reads a message's page with its attempts; only an operator gets the buttons.
    let page = auditor.get(&format!("/queue/{kept}"));
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Connection refused"), "{}", page.body);
    assert!(!page.body.contains("id=\"retry\""), "{}", page.body);
    assert!(operator
        .get(&format!("/queue/{kept}"))
        .body
        .contains("id=\"retry\""));

    // The auditor may not act; nobody acts without this session's CSRF token.
    for action in ["retry", "hold", "release", "delete", "bounce"] {
        let path = format!("/queue/{kept}/{action}");
        let r = auditor.post(&path, &[("csrf", &auditor.csrf()), ("confirm", "yes")]);
        assert_eq!(r.status, 403, "{path}: {}", r.body);
        assert!(r.body.contains("needs operator"), "{}", r.body);
        let r = operator.post(&path, &[("confirm", "yes")]);
        assert_eq!(r.status, 403, "{path} without a token");
        let r = operator.post(&path, &[("csrf", &auditor.csrf()), ("confirm", "yes")]);
        assert_eq!(r.status, 403, "{path} with another session's token");
    }
    let q = cli(&s.config, &["queue", "list"], None);
    assert!(
        q.contains(&format!("{kept}\tcarol@remote.test\tqueued")),
        "{q}"
    );

    // Hold, a refused retry while held (a clear sentence), release.
    let post = |b: &Browser, path: &str, extra: &[(&str, &str)]| {
        let csrf = b.csrf();
        let mut form = vec![("csrf", csrf.as_str())];
        form.extend_from_slice(extra);
        b.post(path, &form)
    };
    assert_eq!(
        post(&operator, &format!("/queue/{kept}/hold"), &[]).status,
        303
    );
    let q = cli(&s.config, &["queue", "list"], None);
    assert!(
        q.contains(&format!("{kept}\tcarol@remote.test\theld")),
        "{q}"
    );
    // The page offers what applies now: release, not retry or hold.
    let page = operator.get(&format!("/queue/{kept}")).body;
    assert!(
        page.contains("id=\"release\"")
            && !page.contains("id=\"retry\"")
            && !page.contains("id=\"hold\""),
        "{page}"
    );
    let r = post(&operator, &format!("/queue/{kept}/retry"), &[]);
    assert_eq!(r.status, 409);
    assert!(r.body.contains("is held; release it first"), "{}", r.body);
    assert_eq!(
        post(&operator, &format!("/queue/{kept}/release"), &[]).status,
        303
    );
    assert_eq!(
        post(&operator, &format!("/queue/{kept}/retry"), &[]).status,
        303
    );

    // Delete asks first; only the confirmed POST deletes.
    let r = post(&operator, &format!("/queue/{kept}/delete"), &[]);
    assert_eq!(r.status, 200);
    assert!(
        r.body.contains(&format!("Delete {kept} from the queue?")),
        "{}",
        r.body
    );
    assert!(cli(&s.config, &["queue", "list"], None).contains(&kept));
    let r = post(
        &operator,
        &format!("/queue/{kept}/delete"),
        &[("confirm", "yes")],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(!cli(&s.config, &["queue", "list"], None).contains(&kept));
    assert_eq!(admin.get(&format!("/queue/{kept}")).status, 404);
    assert_eq!(
        post(&operator, &format!("/queue/{kept}/retry"), &[]).status,
        404
    );

    // Bounce: confirmed, the sender (alice, a local user) gets a DSN saying why.
    let r = post(&admin, &format!("/queue/{bounced}/bounce"), &[]);
    assert_eq!(r.status, 200);
    assert!(r.body.contains(&format!("Bounce {bounced}?")), "{}", r.body);
    let r = post(
        &admin,
        &format!("/queue/{bounced}/bounce"),
        &[("confirm", "yes")],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(!cli(&s.config, &["queue", "list"], None).contains(&bounced));
    let inbox = s.wait_mailbox("alice@example.test", 1);
    let dsn = s.show(
        "alice@example.test",
        inbox[0].split_whitespace().next().unwrap(),
    );
    assert!(
        dsn.contains("Undelivered Mail Returned to Sender")
            && dsn.contains("delivery cancelled by the administrator")
            && dsn.contains("Final-Recipient: rfc822; carol@remote.test")
            && dsn.contains("Status: 5.0.0"),
        "{dsn}"
    );
    let t = common::wait_trace(
        &s,
        &["trace", "--queue-id", &bounced],
        "root (administrator): queue bounce of",
    );
    assert!(t.contains("bounced by the administrator"), "{t}");
    let t = cli(&s.config, &["trace", "--queue-id", &kept], None);
    for who in [
        "op (operator): queue hold of",
        "op (operator): queue release of",
        "op (operator): queue delete of",
    ] {
        assert!(t.contains(who), "{who} in {t}");
    }
}

#[test]
fn al_3_1_directory_changes_need_csrf_and_an_administrator_and_show_no_secret() {
    let s = start();
    let root = add_admin(&s, "root", "administrator");
    let op = add_admin(&s, "op", "operator");
    let admin = Browser::new(&s, "root");
    assert_eq!(
        admin.login("root", ADMIN_PASSWORD, &oathtool(&root, 0)),
        303
    );
    let operator = Browser::new(&s, "op");
    assert_eq!(operator.login("op", ADMIN_PASSWORD, &oathtool(&op, 0)), 303);

    // Every form of the directory: refused without the token, with another session's, from
    // another origin, and for an operator.
    let forms: Vec<(String, Vec<(&str, &str)>)> = vec![
        (
            "/users/add".into(),
            vec![
                ("address", "eve@example.test"),
                ("password", "plinth meadow saffron quay"),
            ],
        ),
        (
            "/users/alice%40example.test/password".into(),
            vec![("password", "plinth meadow saffron quay")],
        ),
        ("/users/alice%40example.test/disable".into(), vec![]),
        ("/users/alice%40example.test/enable".into(), vec![]),
        (
            "/users/alice%40example.test/delete".into(),
            vec![("confirm", "yes")],
        ),
        (
            "/users/alice%40example.test/send-as-add".into(),
            vec![("address", "team@example.test")],
        ),
        (
            "/users/alice%40example.test/token-revoke".into(),
            vec![("token", "x"), ("confirm", "yes")],
        ),
        (
            "/users/alice%40example.test/token-add".into(),
            vec![("name", "x"), ("scope_submission", "yes")],
        ),
        ("/domains/add".into(), vec![("name", "new.test")]),
        (
            "/domains/remove".into(),
            vec![
                ("name", "example.test"),
                ("confirm", "yes"),
                ("force", "yes"),
            ],
        ),
        (
            "/aliases/add".into(),
            vec![
                ("alias", "x@example.test"),
                ("target", "alice@example.test"),
            ],
        ),
        (
            "/aliases/remove".into(),
            vec![("alias", "team@example.test"), ("confirm", "yes")],
        ),
    ];
    let op_csrf = operator.csrf();
    for (path, fields) in &forms {
        let r = admin.post(path, fields);
        assert_eq!(r.status, 403, "{path} without a token: {}", r.body);
        let mut with = fields.clone();
        with.push(("csrf", &op_csrf));
        let r = admin.post(path, &with);
        assert_eq!(r.status, 403, "{path} with another session's token");
        let r = operator.post(path, &with);
        assert_eq!(r.status, 403, "{path} by an operator");
        assert!(r.body.contains("it needs administrator"), "{}", r.body);
    }
    // From another origin, even with the right token.
    let mut evil = Browser::new(&s, "root");
    evil.host = format!("evil.test:{}", s.listener("admin").port());
    let csrf = admin.csrf();
    let r = admin.request(
        "POST",
        "/domains/add",
        Some(&[("csrf", csrf.as_str()), ("name", "new.test")]),
    );
    assert_eq!(
        r.unwrap().status,
        303,
        "the same request from this origin passes"
    );
    let out = Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg("--cacert")
        .arg(s.ca_file())
        .arg("--resolve")
        .arg(format!(
            "mail.example.test:{}:127.0.0.1",
            s.listener("admin").port()
        ))
        .arg("-b")
        .arg(&admin.jar)
        .args(["-H", &format!("Origin: {}", evil.origin())])
        .args(["--data-raw", &format!("csrf={csrf}&name=other.test")])
        .arg(format!(
            "https://mail.example.test:{}/domains/add",
            s.listener("admin").port()
        ))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "403");
    let domains = cli(&s.config, &["domain", "list"], None);
    assert!(
        domains.contains("new.test") && !domains.contains("other.test"),
        "{domains}"
    );
    // Nothing else changed.
    assert!(cli(&s.config, &["user", "list"], None).contains("alice@example.test"));
    assert!(cli(&s.config, &["alias", "list"], None).contains("team@example.test"));

    // The password policy, with its sentence.
    let post = |path: &str, extra: &[(&str, &str)]| {
        let csrf = admin.csrf();
        let mut form = vec![("csrf", csrf.as_str())];
        form.extend_from_slice(extra);
        admin.post(path, &form)
    };
    let r = post(
        "/users/add",
        &[
            ("address", "dora@example.test"),
            ("password", "qwerty123456"),
        ],
    );
    assert_eq!(r.status, 400);
    assert!(
        r.body.contains("most commonly used passwords"),
        "{}",
        r.body
    );
    let r = post(
        "/users/add",
        &[("address", "dora@example.test"), ("password", "short one")],
    );
    assert_eq!(r.status, 400);
    assert!(r.body.contains("shorter than 12 characters"), "{}", r.body);
    let r = post(
        "/users/add",
        &[
            ("address", "dora@example.test"),
            ("password", "plinth meadow saffron quay"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(cli(&s.config, &["user", "list"], None).contains("dora@example.test"));

    // A token: its id on the page, never the token; no password hash anywhere.
    let token = cli(
        &s.config,
        &[
            "user",
            "token",
            "add",
            "dora@example.test",
            "--name",
            "phone",
        ],
        None,
    )
    .trim()
    .to_string();
    let list = cli(
        &s.config,
        &["user", "token", "list", "dora@example.test", "--json"],
        None,
    );
    let id = serde_json::from_str::<serde_json::Value>(list.lines().next().unwrap()).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let page = operator.get("/users/dora%40example.test");
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains(&id) && page.body.contains("phone"),
        "{}",
        page.body
    );
    assert!(!page.body.contains(&token), "the token is on the page");
    assert!(
        !page.body.contains("id=\"delete-user\""),
        "an operator's page has no buttons"
    );
    for p in ["/users", "/users/dora%40example.test", "/domains"] {
        assert!(!admin.get(p).body.contains("$argon2"), "{p}");
    }

    // Disable, send-as, token revoke (confirmed), alias and domain changes, user delete.
    assert_eq!(post("/users/dora%40example.test/disable", &[]).status, 303);
    assert!(admin
        .get("/users/dora%40example.test")
        .body
        .contains("id=\"state\">disabled"));
    assert_eq!(
        post(
            "/users/dora%40example.test/send-as-add",
            &[("address", "team@example.test")]
        )
        .status,
        303
    );
    assert!(admin.get("/users").body.contains("team@example.test"));
    let r = post("/users/dora%40example.test/token-revoke", &[("token", &id)]);
    assert_eq!(r.status, 200);
    assert!(r.body.contains(&format!("Revoke token {id}")), "{}", r.body);
    let r = post(
        "/users/dora%40example.test/token-revoke",
        &[("token", &id), ("confirm", "yes")],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(
        cli(
            &s.config,
            &["user", "token", "list", "dora@example.test"],
            None
        ),
        ""
    );
    let audit = cli(
        &s.config,
        &["mailbox", "audit", "--user", "dora@example.test"],
        None,
    );
    assert!(
        audit.contains("admin:root") && audit.contains("token-revoke"),
        "{audit}"
    );
    // A token made in the console: shown once on the page that answers, usable at once (here
    // for submission), in the user's mailbox audit as the administrator's and in the trace.
    let r = post(
        "/users/alice%40example.test/token-add",
        &[("name", "printer"), ("expires", "30d")],
    );
    assert_eq!(r.status, 400, "no scope ticked: {}", r.body);
    assert!(
        r.body.contains("tick what it may be used for"),
        "{}",
        r.body
    );
    let r = post(
        "/users/alice%40example.test/token-add",
        &[
            ("name", "printer"),
            ("scope_submission", "yes"),
            ("expires", "30d"),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let made = r
        .body
        .split("<code id=\"new-token\">")
        .nth(1)
        .and_then(|t| t.split('<').next())
        .unwrap_or_else(|| panic!("no token on the page: {}", r.body))
        .to_string();
    assert_eq!(
        common::smtp_auth(&s, "alice@example.test", &made),
        235,
        "the token opens submission"
    );
    let listed = cli(
        &s.config,
        &["user", "token", "list", "alice@example.test", "--json"],
        None,
    );
    let t: serde_json::Value = serde_json::from_str(listed.lines().next().unwrap()).unwrap();
    assert_eq!(
        (t["name"].as_str(), t["scopes"].to_string()),
        (Some("printer"), "[\"submission\"]".to_string()),
        "{listed}"
    );
    assert!(t["expires"].is_i64(), "30 days, not never: {listed}");
    let page = admin.get("/users/alice%40example.test");
    assert!(!page.body.contains(&made), "shown only once");
    let audit = cli(
        &s.config,
        &["mailbox", "audit", "--user", "alice@example.test"],
        None,
    );
    assert!(
        audit.contains("admin:root") && audit.contains("token-create") && audit.contains("printer"),
        "{audit}"
    );
    let t = common::wait_trace(&s, &["trace", "--client", "127.0.0.1"], "created token");
    assert!(t.contains("root (administrator): created token"), "{t}");
    assert_eq!(
        post(
            "/aliases/add",
            &[
                ("alias", "help@example.test"),
                ("target", "dora@example.test")
            ]
        )
        .status,
        303
    );
    assert!(
        cli(&s.config, &["alias", "list"], None).contains("help@example.test -> dora@example.test")
    );
    // A domain with users is not removed unless the box is ticked: the refusal names them.
    let r = post(
        "/domains/remove",
        &[("name", "example.test"), ("confirm", "yes")],
    );
    assert_eq!(r.status, 400);
    assert!(r.body.contains("still has users"), "{}", r.body);
    let r = post("/users/dora%40example.test/delete", &[]);
    assert_eq!(r.status, 200);
    assert!(
        r.body.contains("Delete user dora@example.test"),
        "{}",
        r.body
    );
    let r = post("/users/dora%40example.test/delete", &[("confirm", "yes")]);
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(!cli(&s.config, &["user", "list"], None).contains("dora@example.test"));
    // Its alias went with it.
    assert!(!cli(&s.config, &["alias", "list"], None).contains("help@example.test"));
    let t = common::wait_trace(
        &s,
        &["trace", "--client", "127.0.0.1"],
        "root (administrator): deleted user dora@example.test",
    );
    for done in [
        "added user dora@example.test",
        "disabled user dora@example.test",
        "let dora@example.test send as team@example.test",
        &format!("revoked token {id} of dora@example.test"),
        "added domain new.test",
        "added alias help@example.test -> dora@example.test",
        "op (operator): refused: add users needs the administrator role",
    ] {
        assert!(t.contains(done), "{done} in {t}");
    }
}
