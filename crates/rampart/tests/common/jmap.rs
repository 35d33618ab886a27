//! A JMAP client for the tests, over curl (a client we did not write) against the https listener
//! of a real `rampart serve`.

use super::{Options, Server, PASSWORD};
use serde_json::{json, Value};
use std::io::Write;
use std::process::{Command, Stdio};

/// Every capability the mail layer offers, for `using`.
pub const USING: [&str; 6] = [
    "urn:ietf:params:jmap:core",
    "urn:ietf:params:jmap:mail",
    "urn:ietf:params:jmap:submission",
    "urn:ietf:params:jmap:vacationresponse",
    "urn:ietf:params:jmap:quota",
    "urn:rampart:params:jmap:trustedsenders",
];

/// A server with an mx, a submission and an https listener.
pub fn start_jmap() -> Server {
    start_jmap_with(Options::default())
}

pub fn start_jmap_with(mut opts: Options) -> Server {
    opts.listener = format!(
        "{}\n[[listener]]\nrole = \"submission\"\naddress = \"127.0.0.1:0\"\n\
         \n[[listener]]\nrole = \"https\"\naddress = \"127.0.0.1:0\"\n",
        opts.listener
    );
    Server::start_with(opts)
}

/// What an HTTP exchange gave: status, headers (lower-case names), body.
#[derive(Debug)]
pub struct HttpReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpReply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {} {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// How a client authenticates.
#[derive(Clone)]
pub enum Auth {
    Basic(String, String),
    Bearer(String),
    None,
}

/// A JMAP client for one user.
pub struct Jmap<'a> {
    pub server: &'a Server,
    pub auth: Auth,
    /// Sent as User-Agent (the mailbox audit records it).
    pub user_agent: String,
    /// More curl arguments, e.g. `--http1.1`.
    pub curl_args: Vec<&'static str>,
}

impl Server {
    /// A client logged in as `user` (alice@example.test, bob@example.test) with the test password.
    pub fn jmap(&self, user: &str) -> Jmap<'_> {
        Jmap {
            server: self,
            auth: Auth::Basic(user.into(), PASSWORD.into()),
            user_agent: "rampart-tests/1".into(),
            curl_args: Vec::new(),
        }
    }

    pub fn jmap_with(&self, auth: Auth) -> Jmap<'_> {
        Jmap {
            server: self,
            auth,
            user_agent: "rampart-tests/1".into(),
            curl_args: Vec::new(),
        }
    }

    /// The https base URL, as https://mail.example.test:PORT.
    pub fn https_base(&self) -> String {
        format!(
            "https://mail.example.test:{}",
            self.listener("https").port()
        )
    }
}

impl Jmap<'_> {
    /// Any HTTP request: method, path (with query), extra headers, body.
    pub fn http(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> HttpReply {
        let s = self.server;
        let port = s.listener("https").port();
        let mut cmd = Command::new("curl");
        cmd.args([
            "-sS",
            "--max-time",
            "30",
            "-X",
            method,
            "-D",
            "-",
            "-o",
            "-",
            "--cacert",
        ])
        .arg(s.ca_file())
        .arg("--resolve")
        .arg(format!("mail.example.test:{port}:127.0.0.1"))
        .arg("-A")
        .arg(&self.user_agent)
        .args(&self.curl_args);
        match &self.auth {
            Auth::Basic(u, p) => {
                cmd.arg("-u").arg(format!("{u}:{p}"));
            }
            Auth::Bearer(t) => {
                cmd.arg("-H").arg(format!("Authorization: Bearer {t}"));
            }
            Auth::None => {}
        }
        for (n, v) in headers {
            cmd.arg("-H").arg(format!("{n}: {v}"));
        }
        if body.is_some() {
            cmd.args(["--data-binary", "@-"]);
        }
        cmd.arg(format!("https://mail.example.test:{port}{path}"));
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run curl ({e}); these tests need curl on PATH"));
        {
            let mut stdin = child.stdin.take().unwrap();
            if let Some(b) = body {
                stdin.write_all(b).unwrap();
            }
        }
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "curl failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        parse_http(&out.stdout)
    }

    /// A raw API request body; the reply as it came.
    pub fn post_api(&self, body: &[u8]) -> HttpReply {
        self.http(
            "POST",
            "/jmap/api",
            &[("Content-Type", "application/json")],
            Some(body),
        )
    }

    /// Runs method calls (`[[name, args, id], ...]`) with every capability in `using`; the
    /// methodResponses. Panics unless the answer is 200.
    pub fn call(&self, calls: Value) -> Vec<Value> {
        let r = self.post_api(
            json!({"using": USING, "methodCalls": calls})
                .to_string()
                .as_bytes(),
        );
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()["methodResponses"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// One method call; its response's arguments, after checking its name.
    pub fn call1(&self, name: &str, args: Value) -> Value {
        let r = self.call(json!([[name, args, "c0"]]));
        assert_eq!(r.len(), 1, "{r:?}");
        assert_eq!(r[0][0], name, "{}", r[0]);
        r[0][1].clone()
    }

    /// The session object.
    pub fn session(&self) -> Value {
        let r = self.http("GET", "/jmap/session", &[], None);
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()
    }

    /// The id of the mailbox with `role` (inbox, junk, trash …) in account `acc`.
    pub fn role_id(&self, acc: &str, role: &str) -> String {
        let r = self.call1("Mailbox/get", json!({"accountId": acc, "ids": null}));
        r["list"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["role"] == role)
            .unwrap_or_else(|| panic!("no {role} mailbox: {r}"))["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// The id of the email whose Message-ID contains `message_id` once it is in mailbox
    /// `mailbox` of account `acc` (delivery runs after the 250: polled, with a bound).
    pub fn wait_email_in(&self, acc: &str, mailbox: &str, message_id: &str) -> String {
        for _ in 0..400 {
            let q = self.call1(
                "Email/query",
                json!({"accountId": acc, "filter": {"inMailbox": mailbox}}),
            );
            let got = self.call1(
                "Email/get",
                json!({"accountId": acc, "ids": q["ids"], "properties": ["id", "messageId"]}),
            );
            if let Some(e) = got["list"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["messageId"].to_string().contains(message_id))
            {
                return e["id"].as_str().unwrap().to_owned();
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        panic!("{message_id} did not reach mailbox {mailbox} of {acc}");
    }

    /// The user's primary mail account id.
    pub fn account_id(&self) -> String {
        self.session()["primaryAccounts"]["urn:ietf:params:jmap:mail"]
            .as_str()
            .expect("a primary mail account")
            .to_owned()
    }
}

/// Splits curl's `-D - -o -` output: the last response head (after any 100 Continue), then the
/// body.
fn parse_http(raw: &[u8]) -> HttpReply {
    let mut rest = raw;
    loop {
        let end = rest
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a response head");
        let head = String::from_utf8_lossy(&rest[..end]).into_owned();
        let body = &rest[end + 4..];
        let mut lines = head.lines();
        let status: u16 = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|c| c.parse().ok())
            .expect("a status line");
        if status == 100 {
            rest = body;
            continue;
        }
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        return HttpReply {
            status,
            headers,
            body: body.to_vec(),
        };
    }
}
