//! The admin console spoken with curl, as a browser would: a cookie jar, the `Origin` header on
//! every POST, the session's CSRF token read from the pages; administrators made with `rampart
//! admin add` and TOTP codes from oathtool (an independent RFC 6238 implementation).

use std::path::PathBuf;
use std::process::Command;

use super::{cli, Server};

pub const ADMIN_PASSWORD: &str = "a console passphrase";

/// An admin listener (the console, /metrics) on a port of the system's choosing, as a test
/// server's configuration adds it.
pub const ADMIN_LISTENER: &str = "\n[[listener]]\nrole = \"admin\"\naddress = \"127.0.0.1:0\"\n";

/// `rampart admin add NAME --role ROLE`; the TOTP secret it printed.
pub fn add_admin(s: &Server, name: &str, role: &str) -> String {
    let out = cli(
        &s.config,
        &["admin", "add", name, "--role", role, "--password-stdin"],
        Some(ADMIN_PASSWORD),
    );
    out.lines()
        .find_map(|l| l.strip_prefix("TOTP secret (base32): "))
        .unwrap_or_else(|| panic!("no secret in {out}"))
        .trim()
        .to_string()
}

/// The code oathtool computes for `secret` now.
pub fn oathtool(secret: &str) -> String {
    let out = Command::new("oathtool")
        .args(["--totp", "-b", secret])
        .output()
        .expect("oathtool is installed (scripts/test.sh)");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

pub struct Reply {
    pub status: u16,
    /// Response headers, names lower case.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A browser-like curl client with a cookie jar, on the admin listener.
pub struct Browser<'a> {
    s: &'a Server,
    jar: PathBuf,
    tag: String,
    host: String,
    /// Seconds curl waits for an answer.
    pub max_time: u32,
}

impl<'a> Browser<'a> {
    pub fn new(s: &'a Server, tag: &str) -> Browser<'a> {
        let port = s.listener("admin").port();
        Browser {
            s,
            jar: s.dir.0.join(format!("jar-{tag}")),
            tag: tag.to_string(),
            host: format!("mail.example.test:{port}"),
            max_time: 30,
        }
    }

    /// Signs in as `name` (made with [`add_admin`]) with a fresh code; panics unless it works.
    pub fn signed_in(s: &'a Server, name: &str, secret: &str) -> Browser<'a> {
        let b = Browser::new(s, name);
        assert_eq!(b.login(name, ADMIN_PASSWORD, &oathtool(secret)), 303);
        b
    }

    pub fn origin(&self) -> String {
        format!("https://{}", self.host)
    }

    pub fn request(&self, method: &str, path: &str, form: Option<&[(&str, &str)]>) -> Reply {
        let port = self.s.listener("admin").port();
        let head = self.s.dir.0.join(format!("head-{}", self.tag));
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "--max-time", &self.max_time.to_string()])
            .args(["-o", "-", "-w", "\n%{http_code}", "-X", method])
            .arg("-D")
            .arg(&head)
            .arg("--cacert")
            .arg(self.s.ca_file())
            .arg("--resolve")
            .arg(format!("mail.example.test:{port}:127.0.0.1"))
            .arg("-c")
            .arg(&self.jar)
            .arg("-b")
            .arg(&self.jar);
        if let Some(fields) = form {
            cmd.arg("-H")
                .arg(format!("Origin: {}", self.origin()))
                .arg("--data-raw")
                .arg(url_encode(fields));
        }
        cmd.arg(format!("{}{path}", self.origin()));
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "curl {method} {path}: {out:?}");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap();
        let headers = std::fs::read_to_string(&head)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        Reply {
            status: code.trim().parse().unwrap(),
            headers,
            body: body.to_string(),
        }
    }

    pub fn get(&self, path: &str) -> Reply {
        self.request("GET", path, None)
    }

    pub fn post(&self, path: &str, form: &[(&str, &str)]) -> Reply {
        self.request("POST", path, Some(form))
    }

    /// Signs in; the status of the POST /login.
    pub fn login(&self, name: &str, password: &str, code: &str) -> u16 {
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

    /// The CSRF token of the signed-in session.
    pub fn csrf(&self) -> String {
        field(&self.get("/bans").body, "csrf")
    }
}

pub fn url_encode(fields: &[(&str, &str)]) -> String {
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
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The value of the first input named `name` in `html`.
pub fn field(html: &str, name: &str) -> String {
    let needle = format!("name=\"{name}\" value=\"");
    let at = html
        .find(&needle)
        .unwrap_or_else(|| panic!("no field {name} in {html}"));
    let rest = &html[at + needle.len()..];
    rest[..rest.find('"').unwrap()].to_string()
}

/// The text of the element with `id` in `html` (up to its first tag end).
pub fn by_id(html: &str, id: &str) -> String {
    let needle = format!("id=\"{id}\">");
    let at = html
        .find(&needle)
        .unwrap_or_else(|| panic!("no element {id} in {html}"));
    let rest = &html[at + needle.len()..];
    rest[..rest.find('<').unwrap()].to_string()
}
