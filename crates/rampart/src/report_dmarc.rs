//! `rampart report dmarc`: DMARC aggregate reports (AL-2.3, RFC 7489 section 7.2). By default
//! the reports other receivers sent about our domains (received at `[dmarc_reports] address`),
//! summarised per source address and reporter, the sources that fail SPF or DKIM alignment
//! first; with `--outgoing`, the reports our recorded evaluations would make now, as XML; with
//! `--send-now`, those reports are sent at once, by the code the daily schedule runs. On either store (issue 20: on PostgreSQL, what every
//! node recorded).

use crate::admin::Error;
use rampart_config::Config;
use rampart_queue::dmarc_report::incoming::sources;
use rampart_queue::dmarc_report::send::{build, send_due, Submitter};
use rampart_store::AnyStore;

#[derive(clap::Args)]
pub struct DmarcArgs {
    /// Send the reports of every evaluation recorded so far now (today's included), as the
    /// daily schedule sends those of the days that are over; prints how many were queued.
    #[arg(long, conflicts_with = "outgoing")]
    send_now: bool,
    /// The reports our recorded evaluations would make now, as RFC 7489 XML, one per domain.
    #[arg(long)]
    outgoing: bool,
    /// Only reports about this domain.
    #[arg(long)]
    domain: Option<String>,
    /// Only reports received since: RFC 3339 UTC, a date (2026-11-23), Unix seconds, or an
    /// age such as 7d.
    #[arg(long)]
    since: Option<String>,
    /// One JSON object per source (received reports) instead of text.
    #[arg(long)]
    json: bool,
    /// Most received reports read, newest first.
    #[arg(long, default_value_t = 1000)]
    limit: usize,
}

pub fn dmarc(config: &Config, a: DmarcArgs) -> Result<(), Error> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        // Issue 20: the embedded store, or the database every node shares (the evaluations and
        // reports whichever node recorded them).
        let running = crate::serve_store::Opened::open(config).await?.start()?;
        let r = run(config, &running.backend, &a).await;
        running.finish().await?;
        r
    })
}

async fn run(config: &Config, store: &AnyStore, a: &DmarcArgs) -> Result<(), Error> {
    let now = rampart_store::now_micros();
    if a.send_now {
        // The schedule's code path with "before" set to now: the queued reports are delivered
        // by the running server's queue manager (or the next start).
        let resolver = rampart_queue::dns::resolver(&config.dns)?;
        let (sent, notes) = send_due(store, &resolver, config, now.saturating_add(1)).await;
        for n in &notes {
            eprintln!("rampart: DMARC report {n}");
        }
        println!("{sent} DMARC report(s) queued");
        return Ok(());
    }
    let wanted = |d: &str| {
        a.domain
            .as_deref()
            .is_none_or(|w| w.eq_ignore_ascii_case(d))
    };
    if a.outgoing {
        let evaluations = store.dmarc_evaluations_before(i64::MAX).await?;
        let submitter = Submitter::new(config, &store.domains().await?);
        for out in build(&evaluations, &submitter, now / 1_000_000) {
            if wanted(&out.domain) {
                println!("{}", out.report.to_xml());
            }
        }
        return Ok(());
    }
    let since = match &a.since {
        Some(s) => crate::admin::parse_time(s, now)?,
        None => 0,
    };
    let reports = store.dmarc_reports_received(since, a.limit).await?;
    let list = sources(&reports, a.domain.as_deref());
    if a.json {
        for s in &list {
            println!("{}", serde_json::to_string(s)?);
        }
        return Ok(());
    }
    println!(
        "{} report(s) received; {} source(s){}",
        reports.iter().filter(|r| wanted(&r.domain)).count(),
        list.len(),
        if list.iter().any(|s| s.fails()) {
            "; FAILING first"
        } else {
            ""
        }
    );
    for s in &list {
        let dispositions: Vec<String> = s
            .dispositions
            .iter()
            .map(|(d, n)| format!("{d} {n}"))
            .collect();
        println!(
            "{}{}  {}  by {}: {} message(s), SPF not aligned {}, DKIM not aligned {}; {}",
            if s.fails() { "FAIL " } else { "ok   " },
            s.domain,
            s.source_ip,
            s.reporter,
            s.count,
            s.spf_alignment_failures,
            s.dkim_alignment_failures,
            dispositions.join(", ")
        );
    }
    Ok(())
}
