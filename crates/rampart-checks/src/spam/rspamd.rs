//! Rspamd as an optional second engine (AL-1.2): the message is posted to its `/checkv2`
//! (Rspamd's HTTP protocol, with the envelope in the `IP`, `Helo`, `From` and `Rcpt` headers so
//! its rules see what we saw), and its score and symbols join the spam verdict.
//!
//! A small HTTP/1.1 exchange over one connection (`Connection: close`), bounded by the
//! configured timeout and a response size limit: Rspamd on loopback or a private network speaks
//! plain HTTP. When it cannot answer, `fail = "closed"` turns the message away with `451 4.7.1`
//! and `fail = "open"` lets it continue with a note in the reason.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The largest answer read from Rspamd.
const MAX_RESPONSE: u64 = 1 << 20;

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
}

impl Default for RspamdConfig {
    fn default() -> Self {
        RspamdConfig {
            url: "http://127.0.0.1:11333".into(),
            timeout: 10,
            fail: FailMode::Closed,
            weight: 1.0,
        }
    }
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

/// `host:port` of an `http://` URL.
fn authority(url: &str) -> Result<String, String> {
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
        format!("{host}:11333")
    })
}

/// A header value with no line breaks (an envelope field cannot smuggle a header).
fn clean(v: &str) -> String {
    v.chars().filter(|c| !c.is_control()).collect()
}

/// Asks Rspamd about `raw`.
pub async fn check(cfg: &RspamdConfig, req: &Request<'_>, raw: &[u8]) -> Result<Report, String> {
    let timeout = Duration::from_secs(cfg.timeout.max(1));
    match tokio::time::timeout(timeout, exchange(cfg, req, raw)).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "Rspamd did not answer within {}s",
            timeout.as_secs()
        )),
    }
}

async fn exchange(cfg: &RspamdConfig, req: &Request<'_>, raw: &[u8]) -> Result<Report, String> {
    let addr = authority(&cfg.url)?;
    let mut s = tokio::net::TcpStream::connect(&addr)
        .await
        .map_err(|e| format!("Rspamd at {addr}: {e}"))?;
    let mut head = format!(
        "POST /checkv2 HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n\
         IP: {}\r\nHelo: {}\r\nFrom: {}\r\n",
        raw.len(),
        req.ip,
        clean(req.helo),
        clean(req.mail_from)
    );
    for r in req.rcpts {
        head.push_str(&format!("Rcpt: {}\r\n", clean(r)));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes())
        .await
        .map_err(|e| format!("Rspamd at {addr}: {e}"))?;
    s.write_all(raw)
        .await
        .map_err(|e| format!("Rspamd at {addr}: {e}"))?;
    let mut answer = Vec::new();
    s.take(MAX_RESPONSE)
        .read_to_end(&mut answer)
        .await
        .map_err(|e| format!("Rspamd at {addr}: {e}"))?;
    parse_http(&answer)
}

/// The JSON body of an HTTP/1.1 answer (Content-Length or chunked), read as Rspamd's report.
fn parse_http(answer: &[u8]) -> Result<Report, String> {
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("Rspamd's answer has no header end")?;
    let head = String::from_utf8_lossy(&answer[..split]).to_ascii_lowercase();
    let status = head.split_whitespace().nth(1).unwrap_or("");
    if status != "200" {
        return Err(format!("Rspamd answered HTTP {status}"));
    }
    let mut body = answer[split + 4..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        body = dechunk(&body).ok_or("Rspamd's chunked answer is malformed")?;
    }
    parse_report(&body)
}

fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = b.windows(2).position(|w| w == b"\r\n")?;
        let size = std::str::from_utf8(&b[..line_end]).ok()?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        b = &b[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(b.get(..size)?);
        b = b.get(size + 2..)?;
    }
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
    use tokio::net::TcpListener;

    /// A one-shot server that records the request and gives `answer`.
    async fn fake(answer: &'static [u8]) -> (String, tokio::task::JoinHandle<Vec<u8>>) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        let h = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut got = vec![0u8; 4096];
            let n = s.read(&mut got).await.unwrap();
            got.truncate(n);
            s.write_all(answer).await.unwrap();
            got
        });
        (url, h)
    }

    fn req() -> Request<'static> {
        Request {
            ip: "192.0.2.7".parse().unwrap(),
            helo: "mx.remote.test",
            mail_from: "a@remote.test\r\nX-Evil: 1",
            rcpts: &[],
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
        let r = check(&cfg, &req(), b"Subject: x\r\n\r\nbody\r\n")
            .await
            .unwrap();
        assert_eq!(r.score, 1001.5);
        assert_eq!(r.action, "reject");
        assert_eq!(r.symbols_text(), "R_X(1.5), GTUBE(0.0)");
        let sent = String::from_utf8(h.await.unwrap()).unwrap();
        assert!(sent.starts_with("POST /checkv2 HTTP/1.1\r\n"), "{sent}");
        assert!(sent.contains("\r\nIP: 192.0.2.7\r\n"), "{sent}");
        assert!(sent.contains("\r\nHelo: mx.remote.test\r\n"), "{sent}");
        assert!(!sent.contains("\r\nX-Evil"), "no header smuggled: {sent}");
        assert!(!sent.to_ascii_lowercase().contains("\r\npass:"), "{sent}");
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
        assert_eq!(
            dechunk(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n").as_deref(),
            Some(&b"abcde"[..])
        );
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
