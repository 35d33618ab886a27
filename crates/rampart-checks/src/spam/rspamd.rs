//! Rspamd as an optional second engine (AL-1.2): the message is posted to its `/checkv2`
//! (Rspamd's HTTP protocol, with the envelope in the `IP`, `Helo`, `From` and `Rcpt` headers so
//! its rules see what we saw), and its score and symbols join the spam verdict.
//!
//! One HTTP/1.1 request per message over a fresh connection (hyper's client), bounded by the
//! configured timeout and a response size limit: Rspamd on loopback or a private network speaks
//! plain HTTP. When it cannot answer, `fail = "closed"` turns the message away with `451 4.7.1`
//! and `fail = "open"` lets it continue with a note in the reason. [`ping`] asks its `/ping`,
//! which `rampart audit` reports under AL-1.2.

use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::header::{HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};

/// The largest answer read from Rspamd.
const MAX_RESPONSE: usize = 1 << 20;

/// What happens to mail when Rspamd cannot answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FailMode {
    /// `451 4.7.1`: the sender tries again later.
    #[default]
    Closed,
    /// The message continues, scored by Rampart alone; the reason says so.
    Open,
}

/// `[checks.spam.rspamd]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RspamdConfig {
    /// Rspamd's normal worker, e.g. `http://127.0.0.1:11333` (plain HTTP only).
    pub url: String,
    /// Seconds to wait for the whole answer. Default 10.
    pub timeout: u64,
    /// `closed` (default) or `open`.
    pub fail: FailMode,
    /// Rspamd's score is multiplied by this before it joins ours. Default 1.
    pub weight: f32,
    /// Rspamd's controller worker, e.g. `http://127.0.0.1:11334`. When set, users' moves to and
    /// out of Junk also teach Rspamd's Bayes (`/learnspam`, `/learnham`), as they teach
    /// Rampart's classifier. Unset (the default): nothing is sent.
    pub controller: Option<String>,
    /// A file holding the controller's password (its `password`/`enable_password`), sent in
    /// the `Password` header; unset when the controller trusts this host (`secure_ip`).
    pub controller_password_file: Option<std::path::PathBuf>,
}

impl Default for RspamdConfig {
    fn default() -> Self {
        RspamdConfig {
            url: "http://127.0.0.1:11333".into(),
            timeout: 10,
            fail: FailMode::Closed,
            weight: 1.0,
            controller: None,
            controller_password_file: None,
        }
    }
}

impl RspamdConfig {
    /// Settings that cannot work, as (key, message) for the configuration report.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Err(e) = authority(&self.url, NORMAL_PORT) {
            out.push(("url".into(), e));
        }
        if let Some(c) = &self.controller {
            if let Err(e) = authority(c, CONTROLLER_PORT) {
                out.push(("controller".into(), e));
            }
        }
        match (&self.controller, &self.controller_password_file) {
            (None, Some(_)) => out.push((
                "controller_password_file".into(),
                "is set without `controller`: set the controller's URL too, or remove it".into(),
            )),
            (Some(_), Some(f)) if !f.is_file() => out.push((
                "controller_password_file".into(),
                format!("{} is not a readable file", f.display()),
            )),
            _ => {}
        }
        out
    }
}

/// Rspamd's default ports: the normal worker's and the controller's.
const NORMAL_PORT: u16 = 11333;
const CONTROLLER_PORT: u16 = 11334;

/// What Rspamd's controller said to a lesson.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Learned {
    /// Learned now (a message learned the other way before is relearned by Rspamd itself).
    Now,
    /// Rspamd had learned it this way already (HTTP 208).
    Already,
}

/// Rspamd's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub score: f64,
    pub action: String,
    /// (symbol, score), highest score first.
    pub symbols: Vec<(String, f64)>,
}

/// The envelope as Rspamd's headers carry it.
pub struct Request<'a> {
    pub ip: std::net::IpAddr,
    pub helo: &'a str,
    pub mail_from: &'a str,
    pub rcpts: &'a [String],
}

/// `host:port` of an `http://` URL (`port` when it names none).
fn authority(url: &str, port: u16) -> Result<String, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url}: only http:// URLs are supported"))?;
    let host = rest.split('/').next().unwrap_or("");
    if host.is_empty() {
        return Err(format!("{url}: no host"));
    }
    Ok(if host.contains(':') && !host.ends_with(']') {
        host.to_string()
    } else {
        format!("{host}:{port}")
    })
}

/// A header value with no line breaks (an envelope field cannot smuggle a header).
fn clean(v: &str) -> String {
    v.chars().filter(|c| !c.is_control()).collect()
}

/// Asks Rspamd about `raw`.
pub async fn check(cfg: &RspamdConfig, req: &Request<'_>, raw: &[u8]) -> Result<Report, String> {
    let mut headers = vec![
        ("ip", req.ip.to_string()),
        ("helo", clean(req.helo)),
        ("from", clean(req.mail_from)),
    ];
    for r in req.rcpts {
        headers.push(("rcpt", clean(r)));
    }
    let body = exchange(
        cfg,
        hyper::Method::POST,
        "/checkv2",
        &headers,
        Bytes::copy_from_slice(raw),
    )
    .await?;
    parse_report(&body)
}

/// Asks Rspamd's `/ping` (the audit's evidence that the configured engine answers).
pub async fn ping(cfg: &RspamdConfig) -> Result<(), String> {
    let body = exchange(cfg, hyper::Method::GET, "/ping", &[], Bytes::new()).await?;
    if body.trim_ascii().eq_ignore_ascii_case(b"pong") {
        Ok(())
    } else {
        Err(format!(
            "Rspamd at {} answered /ping with {:?}, not pong",
            cfg.url,
            String::from_utf8_lossy(&body[..body.len().min(60)])
        ))
    }
}

/// Teaches Rspamd's Bayes, through its controller, that `raw` is spam or ham (AL-1.2: users'
/// corrections reach both engines). `Ok(None)` when no controller is configured.
pub async fn learn(cfg: &RspamdConfig, spam: bool, raw: &[u8]) -> Result<Option<Learned>, String> {
    let Some(controller) = &cfg.controller else {
        return Ok(None);
    };
    let mut headers = Vec::new();
    if let Some(f) = &cfg.controller_password_file {
        let pw = std::fs::read_to_string(f)
            .map_err(|e| format!("Rspamd controller password file {}: {e}", f.display()))?;
        headers.push(("password", clean(pw.trim())));
    }
    let path = if spam { "/learnspam" } else { "/learnham" };
    let addr = authority(controller, CONTROLLER_PORT)?;
    let (status, body) = timed(
        cfg,
        request(
            &addr,
            hyper::Method::POST,
            path,
            &headers,
            Bytes::copy_from_slice(raw),
        ),
    )
    .await?;
    let said = || {
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let text = v["error"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(200)]).into());
        crate::mime::printable(&text, 200)
    };
    match status.as_u16() {
        200 => Ok(Some(Learned::Now)),
        208 => Ok(Some(Learned::Already)),
        code => Err(format!(
            "Rspamd's controller at {addr} answered {path} with HTTP {code}: {}",
            said()
        )),
    }
}

/// One request to the normal worker within the configured timeout; the body of a 200 answer,
/// at most [`MAX_RESPONSE`] bytes.
async fn exchange(
    cfg: &RspamdConfig,
    method: hyper::Method,
    path: &str,
    headers: &[(&'static str, String)],
    body: Bytes,
) -> Result<Bytes, String> {
    let addr = authority(&cfg.url, NORMAL_PORT)?;
    let (status, body) = timed(cfg, request(&addr, method, path, headers, body)).await?;
    if status != hyper::StatusCode::OK {
        return Err(format!("Rspamd answered HTTP {}", status.as_u16()));
    }
    Ok(body)
}

/// `work` within the configured timeout.
async fn timed<T>(
    cfg: &RspamdConfig,
    work: impl std::future::Future<Output = Result<T, String>>,
) -> Result<T, String> {
    let timeout = Duration::from_secs(cfg.timeout.max(1));
    match tokio::time::timeout(timeout, work).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "Rspamd did not answer within {}s",
            timeout.as_secs()
        )),
    }
}

/// The status and body (at most [`MAX_RESPONSE`] bytes) of one request to `addr`.
async fn request(
    addr: &str,
    method: hyper::Method,
    path: &str,
    headers: &[(&'static str, String)],
    body: Bytes,
) -> Result<(hyper::StatusCode, Bytes), String> {
    let err = |e: &dyn std::fmt::Display| format!("Rspamd at {addr}: {e}");
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| err(&e))?;
    // Rspamd reads header names without regard to case; title case is what its own clients
    // (rspamc) send.
    let (mut sender, conn) = hyper::client::conn::http1::Builder::new()
        .title_case_headers(true)
        .handshake(hyper_util::rt::TokioIo::new(tcp))
        .await
        .map_err(|e| err(&e))?;
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    let result = async {
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, addr)
            .body(Full::new(body))
            .map_err(|e| err(&e))?;
        for (name, value) in headers {
            let value = HeaderValue::from_bytes(value.as_bytes()).map_err(|e| err(&e))?;
            request
                .headers_mut()
                .append(HeaderName::from_static(name), value);
        }
        let response = sender.send_request(request).await.map_err(|e| err(&e))?;
        let status = response.status();
        Limited::new(response.into_body(), MAX_RESPONSE)
            .collect()
            .await
            .map(|b| (status, b.to_bytes()))
            .map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    format!("Rspamd's answer is larger than {MAX_RESPONSE} bytes")
                } else {
                    err(&e)
                }
            })
    }
    .await;
    driver.abort();
    result
}

/// Rspamd's `/checkv2` JSON: `score`, `action`, `symbols: {NAME: {score, ...}}`.
pub fn parse_report(body: &[u8]) -> Result<Report, String> {
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("Rspamd's answer is not JSON: {e}"))?;
    let score = v["score"].as_f64().ok_or("Rspamd's answer has no score")?;
    let action = v["action"].as_str().unwrap_or("").to_string();
    let mut symbols: Vec<(String, f64)> = v["symbols"]
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, s)| (k.clone(), s["score"].as_f64().unwrap_or(0.0)))
                .collect()
        })
        .unwrap_or_default();
    symbols.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    Ok(Report {
        score,
        action,
        symbols,
    })
}

impl Report {
    /// The symbols for the reason: `GTUBE(0.0), R_SPF_NA(0.0)`, the first 20.
    pub fn symbols_text(&self) -> String {
        let mut t = self
            .symbols
            .iter()
            .take(20)
            .map(|(n, s)| format!("{}({s:.1})", crate::mime::printable(n, 60)))
            .collect::<Vec<_>>()
            .join(", ");
        if self.symbols.len() > 20 {
            t.push_str(&format!(", and {} more", self.symbols.len() - 20));
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A one-shot server (a fake standing in for Rspamd's faults: wrong status, chunking,
    /// silence) that reads the whole request and gives `answer`.
    async fn fake(answer: &'static [u8]) -> (String, tokio::task::JoinHandle<Vec<u8>>) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        let h = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                let n = s.read(&mut buf).await.unwrap();
                got.extend_from_slice(&buf[..n]);
                let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") else {
                    assert!(n > 0, "request ended early");
                    continue;
                };
                let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map_or(0, |v| v.trim().parse().unwrap());
                if got.len() >= end + 4 + len || n == 0 {
                    break;
                }
            }
            s.write_all(answer).await.unwrap();
            got
        });
        (url, h)
    }

    const RCPTS: &[String] = &[];

    fn req() -> Request<'static> {
        Request {
            ip: "192.0.2.7".parse().unwrap(),
            helo: "mx.remote.test",
            mail_from: "a@remote.test\r\nX-Evil: 1",
            rcpts: RCPTS,
        }
    }

    #[tokio::test]
    async fn al_1_2_rspamd_report_read_and_envelope_sent() {
        let (url, h) = fake(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"score\": 1001.5, \"action\": \"reject\", \"symbols\": {\"GTUBE\": {\"score\": 0.0}, \"R_X\": {\"score\": 1.5}}}",
        )
        .await;
        let cfg = RspamdConfig {
            url,
            ..RspamdConfig::default()
        };
        let rcpts = vec!["u@local.test".to_string()];
        let with_rcpt = Request {
            rcpts: &rcpts,
            ..req()
        };
        let r = check(&cfg, &with_rcpt, b"Subject: x\r\n\r\nbody\r\n")
            .await
            .unwrap();
        assert_eq!(r.score, 1001.5);
        assert_eq!(r.action, "reject");
        assert_eq!(r.symbols_text(), "R_X(1.5), GTUBE(0.0)");
        let sent = String::from_utf8(h.await.unwrap()).unwrap();
        assert!(sent.starts_with("POST /checkv2 HTTP/1.1\r\n"), "{sent}");
        assert!(sent.contains("\r\nIp: 192.0.2.7\r\n"), "{sent}");
        assert!(sent.contains("\r\nHelo: mx.remote.test\r\n"), "{sent}");
        assert!(sent.contains("\r\nRcpt: u@local.test\r\n"), "{sent}");
        assert!(
            sent.ends_with("\r\n\r\nSubject: x\r\n\r\nbody\r\n"),
            "{sent}"
        );
        assert!(!sent.contains("\r\nX-Evil"), "no header smuggled: {sent}");
        assert!(!sent.to_ascii_lowercase().contains("\r\npass:"), "{sent}");
    }

    /// A fake controller (the real one: tests/spam_rspamd_learn.rs) for the answers the real
    /// one gives only in states a test cannot easily reach: "already learned" (HTTP 208).
    #[tokio::test]
    async fn al_1_2_rspamd_learn_posts_with_the_password_and_reads_the_answer() {
        let none = RspamdConfig::default();
        assert_eq!(
            learn(&none, true, b"x").await,
            Ok(None),
            "no controller: nothing sent"
        );
        let dir = std::env::temp_dir().join(format!("rampart-rspamd-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pw = dir.join("pass");
        std::fs::write(&pw, "s3cret\n").unwrap();
        let (url, h) = fake(b"HTTP/1.1 208 Already Reported\r\n\r\n{\"error\": \"already\"}").await;
        let cfg = RspamdConfig {
            controller: Some(url),
            controller_password_file: Some(pw.clone()),
            ..RspamdConfig::default()
        };
        assert_eq!(
            learn(&cfg, false, b"Subject: x\r\n\r\nbody\r\n").await,
            Ok(Some(Learned::Already))
        );
        let sent = String::from_utf8(h.await.unwrap()).unwrap();
        assert!(sent.starts_with("POST /learnham HTTP/1.1\r\n"), "{sent}");
        assert!(sent.contains("\r\nPassword: s3cret\r\n"), "{sent}");
        assert!(
            sent.ends_with("\r\n\r\nSubject: x\r\n\r\nbody\r\n"),
            "{sent}"
        );
        // Refused: the status and Rspamd's own words.
        let (url, _h) = fake(b"HTTP/1.1 400 Bad\r\n\r\n{\"error\": \"too few tokens\"}").await;
        let cfg = RspamdConfig {
            controller: Some(url),
            ..RspamdConfig::default()
        };
        let e = learn(&cfg, true, b"x").await.unwrap_err();
        assert!(
            e.contains("/learnspam with HTTP 400: too few tokens"),
            "{e}"
        );
        // A password file that cannot be read is named.
        let cfg = RspamdConfig {
            controller: Some("http://127.0.0.1:9".into()),
            controller_password_file: Some(dir.join("gone")),
            ..RspamdConfig::default()
        };
        let e = learn(&cfg, true, b"x").await.unwrap_err();
        assert!(e.contains("password file") && e.contains("gone"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn al_1_2_rspamd_settings_that_cannot_work_are_named() {
        assert!(RspamdConfig::default().problems().is_empty());
        let bad = RspamdConfig {
            url: "https://rspamd.example".into(),
            controller_password_file: Some("/nonexistent/pass".into()),
            ..RspamdConfig::default()
        };
        let p = bad.problems();
        let keys: Vec<&str> = p.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["url", "controller_password_file"], "{p:?}");
        assert!(p[0].1.contains("only http://"), "{p:?}");
        assert!(p[1].1.contains("without `controller`"), "{p:?}");
        let bad = RspamdConfig {
            controller: Some("http://".into()),
            controller_password_file: Some("/nonexistent/pass".into()),
            ..RspamdConfig::default()
        };
        let p = bad.problems();
        let keys: Vec<&str> = p.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["controller", "controller_password_file"], "{p:?}");
        assert!(p[1].1.contains("not a readable file"), "{p:?}");
        // The controller's port defaults to Rspamd's, 11334.
        assert_eq!(
            authority("http://10.0.0.5", CONTROLLER_PORT).unwrap(),
            "10.0.0.5:11334"
        );
    }

    #[tokio::test]
    async fn al_1_2_rspamd_down_or_bad_is_an_error() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let cfg = RspamdConfig {
            url: format!("http://127.0.0.1:{port}"),
            ..RspamdConfig::default()
        };
        assert!(
            check(&cfg, &req(), b"x").await.is_err(),
            "refused connection"
        );
        let (url, _h) = fake(b"HTTP/1.1 500 Oops\r\n\r\n").await;
        let cfg = RspamdConfig {
            url,
            ..RspamdConfig::default()
        };
        let e = check(&cfg, &req(), b"x").await.unwrap_err();
        assert!(e.contains("HTTP 500"), "{e}");
        assert!(parse_report(b"{\"action\": \"x\"}").is_err(), "no score");
        // A chunked answer is read whole.
        let (url, _h) = fake(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\n{\"scor\r\n8\r\ne\": 2.5}\r\n0\r\n\r\n",
        )
        .await;
        let cfg = RspamdConfig {
            url,
            ..RspamdConfig::default()
        };
        assert_eq!(check(&cfg, &req(), b"x").await.unwrap().score, 2.5);
        // An answer past the size limit is refused, not read into memory.
        let big: &'static [u8] = Box::leak(
            format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{}",
                MAX_RESPONSE + 10,
                " ".repeat(MAX_RESPONSE + 10)
            )
            .into_bytes()
            .into_boxed_slice(),
        );
        let (url, _h) = fake(big).await;
        let cfg = RspamdConfig {
            url,
            ..RspamdConfig::default()
        };
        let e = check(&cfg, &req(), b"x").await.unwrap_err();
        assert!(e.contains("larger than"), "{e}");
        // /ping: pong is an answer, anything else is not.
        let (url, _h) = fake(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\npong\r").await;
        let cfg = RspamdConfig {
            url,
            ..RspamdConfig::default()
        };
        ping(&cfg).await.unwrap();
        let (url, _h) = fake(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nno").await;
        let cfg = RspamdConfig {
            url,
            ..RspamdConfig::default()
        };
        assert!(ping(&cfg).await.unwrap_err().contains("not pong"));
    }

    /// The spam check with Rspamd configured: its score and symbols join the verdict; down, it
    /// fails closed with 451 4.7.1 or, configured open, continues with a note.
    #[tokio::test]
    async fn al_1_2_rspamd_joins_the_verdict_or_fails_as_configured() {
        use crate::spam::{check as spam_check, SpamConfig, SpamSignals};
        use crate::{Action, Direction};
        let raw = b"From: a@remote.test\r\nTo: u@local.test\r\nSubject: x\r\n\r\nbody\r\n";
        let parsed = mail_parser::MessageParser::default()
            .parse(&raw[..])
            .unwrap();
        let c = crate::testutil::ctx(raw, &parsed, Direction::Inbound);
        let (url, _h) = fake(
            b"HTTP/1.1 200 OK\r\n\r\n{\"score\": 6.0, \"action\": \"add header\", \"symbols\": {\"GTUBE\": {\"score\": 6.0}}}",
        )
        .await;
        let mut cfg = SpamConfig {
            rspamd: Some(RspamdConfig {
                url,
                weight: 2.0,
                ..RspamdConfig::default()
            }),
            ..SpamConfig::default()
        };
        let v = spam_check(&cfg, None, &SpamSignals::default(), &c).await;
        assert!(v.reason.contains("rspamd +12.0"), "weighted: {}", v.reason);
        assert!(v.reason.contains("GTUBE(6.0)"), "{}", v.reason);
        assert_eq!(
            v.action,
            Action::Quarantine,
            "12 ≥ the quarantine threshold"
        );
        let down = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("http://{}", l.local_addr().unwrap())
        };
        cfg.rspamd.as_mut().unwrap().url = down;
        let v = spam_check(&cfg, None, &SpamSignals::default(), &c).await;
        match &v.action {
            Action::TempFail(r) => assert_eq!(r.code, 451),
            other => panic!("fail closed gives 451, not {other:?}"),
        }
        assert!(v.reason.contains("fail = closed"), "{}", v.reason);
        cfg.rspamd.as_mut().unwrap().fail = FailMode::Open;
        let v = spam_check(&cfg, None, &SpamSignals::default(), &c).await;
        assert_eq!(v.action, Action::Accept);
        assert!(
            v.reason.contains("continued without Rspamd (fail = open)"),
            "{}",
            v.reason
        );
    }

    #[tokio::test(start_paused = true)]
    async fn al_1_2_rspamd_silent_times_out() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let cfg = RspamdConfig {
            url: format!("http://{}", l.local_addr().unwrap()),
            timeout: 3,
            ..RspamdConfig::default()
        };
        let e = check(&cfg, &req(), b"x").await.unwrap_err();
        assert!(e.contains("within 3s"), "{e}");
        drop(l);
    }
}
