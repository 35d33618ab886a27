//! `rampart spam score`: message files scored exactly as inbound mail is (AL-1.2), for
//! measuring the spam check on a labelled corpus (bench/spam_corpus.py) and for an
//! administrator asking "what would this message get?".
//!
//! The pipeline is the one `serve` builds ([`rampart_checks::pipeline::Pipeline`] from the
//! configuration's `[checks]`, the store's classifier counts), run on each file as if it came
//! in over SMTP from `--client-ip` to `--rcpt`; checks the configuration switches off stay off.
//! Nothing is delivered, quarantined or trained.

use crate::admin::Error;
use crate::spam_cmd::{collect, split_mbox, StoreTokens};
use rampart_checks::pipeline::Pipeline;
use rampart_checks::spam::bayes;
use rampart_checks::{Action, Direction, Envelope};
use rampart_config::Config;
use rampart_store::AnyStore;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

pub async fn run(
    config: &Config,
    store: &AnyStore,
    paths: &[PathBuf],
    rcpt: Option<String>,
    client_ip: IpAddr,
) -> Result<(), Error> {
    let local_domains = store.domains().await?;
    let rcpt = match rcpt {
        Some(r) => r.trim().to_ascii_lowercase(),
        None => match local_domains.first() {
            Some(d) => format!("postmaster@{d}"),
            None => {
                return Err("no domain here to receive mail: pass --rcpt ADDRESS \
                            or add one with `rampart domain add`"
                    .into())
            }
        },
    };
    let pipeline = Pipeline::new(
        config.checks.clone(),
        config.hostname.get_ref(),
        &config.dns.servers,
        config.dns.timeout_secs,
    )?
    .with_token_source(Arc::new(StoreTokens(store.clone())));
    let mut files = Vec::new();
    for p in paths {
        collect(p, &mut files)?;
    }
    files.sort();
    let rcpts = [rcpt];
    let (mut n, started) = (0u64, Instant::now());
    for f in files {
        let bytes = std::fs::read(&f).map_err(|e| format!("{}: {e}", f.display()))?;
        for raw in split_mbox(&bytes) {
            let raw = bayes::to_crlf(&raw);
            let mail_from = return_path(&raw);
            let env = Envelope {
                direction: Direction::Inbound,
                client_ip,
                helo: "client.example",
                mail_from: &mail_from,
                rcpts: &rcpts,
                authenticated: None,
            };
            let out = pipeline.read_and_run(&env, &local_domains, &raw).await;
            let spam = out.verdicts.iter().find(|v| v.check == "spam");
            // Refused before the spam check (unreadable, no From): that verdict's reason.
            let by = out.decision.decided_by.unwrap_or("-");
            let reason = match spam {
                Some(v) => v.reason.clone(),
                None => out
                    .verdicts
                    .iter()
                    .find(|v| v.check == by)
                    .map(|v| format!("spam check did not run: {}", v.reason))
                    .unwrap_or_else(|| "spam check did not run".to_string()),
            };
            let decision = match &out.decision.action {
                Action::Accept => "accept".to_string(),
                Action::Tag => "tag".to_string(),
                Action::Quarantine => "quarantine".to_string(),
                Action::Reject(r) => format!("reject {}", r.code),
                Action::TempFail(r) => format!("tempfail {}", r.code),
            };
            println!(
                "{decision}\t{by}\t{:.2}\t{}\t{}",
                score_of(&reason),
                f.display(),
                reason.replace(['\t', '\n', '\r'], " ")
            );
            n += 1;
        }
    }
    eprintln!(
        "{n} messages scored in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The spam score from the check's reason (`AL-1.2: score 7.5: ...`); 0 when it did not score.
fn score_of(reason: &str) -> f32 {
    reason
        .strip_prefix("AL-1.2: score ")
        .and_then(|r| r.split([':', ';']).next())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0.0)
}

/// The envelope sender a delivered message recorded in its Return-Path, else empty.
fn return_path(raw: &[u8]) -> String {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(raw.len());
    String::from_utf8_lossy(&raw[..end])
        .split("\r\n")
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("return-path").then(|| {
                value
                    .trim()
                    .trim_matches(|c| c == '<' || c == '>')
                    .to_string()
            })
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::{return_path, score_of};

    #[test]
    fn score_read_from_reason() {
        assert_eq!(score_of("AL-1.2: score 7.5: bayes +6.0 (x)"), 7.5);
        assert_eq!(score_of("AL-1.2: score -1.2; rules: A(1.0)"), -1.2);
        assert_eq!(score_of("AL-1.2: score 0.0"), 0.0);
        assert_eq!(score_of("outbound: not scored"), 0.0);
    }

    #[test]
    fn envelope_sender_from_return_path() {
        let m = b"Received: x\r\nReturn-Path: <a@b.example>\r\nSubject: y\r\n\r\nReturn-Path: <no@x>\r\n";
        assert_eq!(return_path(m), "a@b.example");
        assert_eq!(return_path(b"Subject: y\r\n\r\nbody\r\n"), "");
    }
}
