//! `rampart report tls`: TLS reports (RFC 8460). By default the reports other senders sent
//! about our domains (received at `[delivery] tls_reports_address`); with `--outgoing`, the
//! aggregate reports of our own outbound TLS outcomes not yet sent, today's included, as the
//! RFC's JSON: what the daily report will say. `--send-now` sends the reports of the days
//! that are over at once, by the same code the server's daily schedule runs; each destination
//! gets one report per day and domain, whichever of the two sends it first. On either store
//! (issue 20: on PostgreSQL, what every node recorded).

use crate::admin::Error;
use rampart_config::Config;
use rampart_queue::tls_report::send::{build, Submitter};
use rampart_store::{AnyStore, ReceivedTlsReport};
use serde_json::Value;

#[derive(clap::Args)]
pub struct TlsArgs {
    /// Send the reports of the days that are over now (RFC 8460), as the daily schedule does.
    #[arg(long, conflicts_with_all = ["outgoing", "json"])]
    send_now: bool,
    /// Our own outcomes not yet reported, as RFC 8460 JSON reports, one per line.
    #[arg(long)]
    outgoing: bool,
    /// Only reports about this policy domain.
    #[arg(long)]
    domain: Option<String>,
    /// Received reports as stored (JSON, one per line) instead of a summary.
    #[arg(long)]
    json: bool,
    /// Most received reports shown, newest first.
    #[arg(long, default_value_t = 100)]
    limit: usize,
}

pub fn tls(config: &Config, a: TlsArgs) -> Result<(), Error> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the runtime: {e}"))?;
    rt.block_on(async {
        // Issue 20: the embedded store, or the database every node shares (the outcomes and the
        // reports whichever node recorded them).
        let running = crate::serve_store::Opened::open(config).await?.start()?;
        let r = run(config, &running.backend, &a).await;
        running.finish().await?;
        r
    })
}

async fn run(config: &Config, store: &AnyStore, a: &TlsArgs) -> Result<(), Error> {
    let wanted = |d: &str| {
        a.domain
            .as_deref()
            .is_none_or(|w| w.eq_ignore_ascii_case(d))
    };
    if a.send_now {
        let n = send_now(config, store).await?;
        println!("{n} TLS reports sent");
        return Ok(());
    }
    if a.outgoing {
        let counts = store.tls_outcomes_before(i64::MAX).await?;
        let submitter = Submitter::new(config, &store.domains().await?);
        for (_, domain, report) in build(&counts, &submitter) {
            if wanted(&domain) {
                println!("{}", report.to_json());
            }
        }
        return Ok(());
    }
    for r in store.tls_reports_received(a.limit).await? {
        print_received(&r, a.json, &wanted);
    }
    Ok(())
}

/// One received report: as stored (`json`), or summarised per policy; nothing when no policy
/// of it is about a `wanted` domain.
fn print_received(r: &ReceivedTlsReport, json: bool, wanted: &dyn Fn(&str) -> bool) {
    let v: Value = serde_json::from_str(&r.json).unwrap_or(Value::Null);
    let policies = v["policies"].as_array().cloned().unwrap_or_default();
    if !policies
        .iter()
        .any(|p| wanted(p["policy"]["policy-domain"].as_str().unwrap_or("")))
    {
        return;
    }
    if json {
        println!("{}", r.json);
        return;
    }
    println!(
        "{}  from {} ({})  report {}  {} .. {}",
        rampart_store::rfc5322_date(r.received / 1_000_000),
        r.organization,
        r.sender,
        r.report_id,
        rampart_store::rfc5322_date(r.start),
        rampart_store::rfc5322_date(r.end),
    );
    for p in &policies {
        let s = |k: &str| p["policy"][k].as_str().unwrap_or("").to_string();
        println!(
            "  {} {}: {} successful, {} failed",
            s("policy-domain"),
            s("policy-type"),
            p["summary"]["total-successful-session-count"]
                .as_u64()
                .unwrap_or(0),
            p["summary"]["total-failure-session-count"]
                .as_u64()
                .unwrap_or(0),
        );
        for f in p["failure-details"].as_array().into_iter().flatten() {
            println!(
                "    {} x{} mx {} {}",
                f["result-type"].as_str().unwrap_or("?"),
                f["failed-session-count"].as_u64().unwrap_or(0),
                f["receiving-mx-hostname"].as_str().unwrap_or("-"),
                f["failure-reason-code"].as_str().unwrap_or(""),
            );
        }
    }
}

/// Sends the due reports as the queue manager's schedule does: the same [`Outbound`], so the
/// same resolver, CA roots, queue and DKIM keys; `mailto:` reports are queued, and the running
/// server (any node, on PostgreSQL) delivers them.
///
/// [`Outbound`]: rampart_queue::outbound::Outbound
async fn send_now(config: &Config, store: &AnyStore) -> Result<usize, Error> {
    let config = std::sync::Arc::new(config.clone());
    let notify = std::sync::Arc::new(tokio::sync::Notify::new());
    let outbound = rampart_queue::outbound::Outbound::new(store.clone(), config, notify)?;
    let when = rampart_queue::tls_report::send::When::Now;
    Ok(outbound.send_tls_reports(when).await)
}
