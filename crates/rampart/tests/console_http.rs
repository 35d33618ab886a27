//! The admin console over HTTPS against a real `rampart serve`, spoken with curl: login needs the
//! password AND a TOTP code from an independent implementation (oathtool, RFC 6238), a code is
//! accepted once, every POST needs the session's CSRF token and a role that may do it, and a
//! client outside the listener's allow-list is closed at accept.

mod common;

use common::jmap::start_jmap_with;
use common::{cli, Options, Server};
use std::process::Command;

const ADMIN_PASSWORD: &str = "a console passphrase";

/// A server with an admin listener and executables quarantined (antivirus off: no clamd).
fn start() -> Server {
    start_jmap_with(Options {
        listener: "\n[[listener]]\nrole = \"admin\"\naddress = \"127.0.0.1:0\"\n".into(),
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
