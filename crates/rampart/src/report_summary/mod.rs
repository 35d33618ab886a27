//! `rampart report summary` and the scheduled report mail (AL-3.2): the numbers come from
//! [`rampart_store::summary`] (the trace, counted); here they are rendered as text, JSON or one
//! HTML page ([`html`], charts by [`chart`]), and mailed, HTML with a plain-text part, from the
//! postmaster through the queue like any message this server writes itself.
//!
//! The schedule ([`run_schedule`], in `rampart serve`) and `--send` share [`send`]: each period is
//! claimed in the store before its mail is queued, so neither a restart nor a second `--send`
//! mails the same period twice.

pub mod chart;
pub mod html;
pub mod text;

use crate::admin::Error;
use mail_builder::headers::raw::Raw;
use mail_builder::MessageBuilder;
use rampart_config::Config;
use rampart_store::summary::{date, Period, Summary};
use rampart_store::AnyStore;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum PeriodArg {
    Day,
    Week,
    Month,
}

impl From<PeriodArg> for Period {
    fn from(p: PeriodArg) -> Period {
        match p {
            PeriodArg::Day => Period::Day,
            PeriodArg::Week => Period::Week,
            PeriodArg::Month => Period::Month,
        }
    }
}

#[derive(clap::Args)]
pub struct SummaryArgs {
    /// The length of the period: a day, seven days, or the calendar month before --until.
    #[arg(long, value_enum, default_value = "day")]
    period: PeriodArg,
    /// The summary as JSON (the structure the console's dashboard reads) instead of text.
    #[arg(long, conflicts_with = "html")]
    json: bool,
    /// The summary as one self-contained HTML page (inline CSS and SVG charts).
    #[arg(long)]
    html: bool,
    /// End of the period, excluded: a date (2026-12-03 is its midnight UTC), RFC 3339 UTC or Unix
    /// seconds. Default: now; with --send, the end of the last whole period.
    #[arg(long)]
    until: Option<String>,
    /// Mail the report to the period's recipients in [reports] (daily for a day, weekly for a
    /// week, monthly for a month) or to --to, as the schedule does. A period already sent is not sent again.
    #[arg(long)]
    send: bool,
    /// With --send: the recipients, instead of those in [reports].
    #[arg(long, requires = "send")]
    to: Vec<String>,
}

/// The recipients configured for a period in `[reports]`.
pub fn recipients(config: &Config, period: Period) -> Vec<String> {
    match period {
        Period::Day => config.reports.daily.clone(),
        Period::Week => config.reports.weekly.clone(),
        Period::Month => config.reports.monthly.clone(),
    }
}

/// The `[reports]` key that lists a period's recipients.
fn recipients_key(period: Period) -> &'static str {
    match period {
        Period::Day => "daily",
        Period::Week => "weekly",
        Period::Month => "monthly",
    }
}

pub fn summary(config: &Config, a: SummaryArgs) -> Result<(), Error> {
    let period = Period::from(a.period);
    let now = rampart_store::now_micros();
    let until = match &a.until {
        Some(u) => crate::admin::parse_time(u, now)?,
        None if a.send => period.last_end(now),
        None => now,
    };
    let to = if a.to.is_empty() {
        recipients(config, period)
    } else {
        a.to.clone()
    };
    if a.send && to.is_empty() {
        return Err(format!(
            "no recipients for the {} report: set [reports] {} or pass --to",
            period.as_str(),
            recipients_key(period)
        )
        .into());
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        // The embedded store, or the database every node shares (the whole installation counted).
        let running = crate::serve_store::Opened::open(config).await?.start()?;
        let r = if a.send {
            send(&running.backend, config, period, until, &to)
                .await
                .map(Some)
                .map_err(Error::from)
        } else {
            let (since, until) = period.range(until);
            let s = running.backend.summary(period, since, until).await?;
            let hostname = config.hostname.get_ref();
            if a.json {
                println!("{}", serde_json::to_string_pretty(&s)?);
            } else if a.html {
                print!("{}", html::render(&s, hostname));
            } else {
                print!("{}", text::render(&s, hostname));
            }
            Ok(None)
        };
        // Everything queued is committed before the command ends.
        running.finish().await?;
        match r? {
            Some(Sent::Queued(ids)) => println!(
                "{} report {} .. {} queued for {} ({}); the running server delivers it",
                period.as_str(),
                date(period.range(until).0),
                date(until),
                to.join(", "),
                ids.join(", ")
            ),
            Some(Sent::AlreadySent) => println!(
                "{} report ending {} was already sent; not sent again",
                period.as_str(),
                date(until)
            ),
            None => {}
        }
        Ok(())
    })
}

/// What [`send`] did.
#[derive(Debug)]
pub enum Sent {
    /// Queued, one message per recipient: their queue ids.
    Queued(Vec<String>),
    /// The period had been claimed before: nothing queued.
    AlreadySent,
}

/// AL-3.2: mails the report of `period` ending at `until` to `to`, once: the period is claimed
/// in the store first; when nothing could be queued the claim is given back for the next try.
pub async fn send(
    backend: &AnyStore,
    config: &Config,
    period: Period,
    until: i64,
    to: &[String],
) -> Result<Sent, String> {
    if !backend
        .claim_report(period, until)
        .await
        .map_err(|e| e.to_string())?
    {
        return Ok(Sent::AlreadySent);
    }
    let (since, until) = period.range(until);
    let summary = match backend.summary(period, since, until).await {
        Ok(s) => s,
        Err(e) => {
            let _ = backend.unclaim_report(period, until).await;
            return Err(e.to_string());
        }
    };
    let hostname = config.hostname.get_ref();
    let from = crate::notice::postmaster(backend, hostname)
        .await
        .unwrap_or_else(|| format!("postmaster@{hostname}"));
    let mut ids = Vec::new();
    let mut errors = Vec::new();
    for rcpt in to {
        let now = rampart_store::now_micros();
        let message_id = format!("report.{}.{until}.{now}@{hostname}", period.as_str());
        let body = message(&summary, hostname, &from, rcpt, &message_id);
        match backend
            .enqueue_generated(rcpt, body, message_id, "system report")
            .await
        {
            Ok(id) => ids.push(id.0),
            Err(e) => errors.push(format!("{rcpt}: {e}")),
        }
    }
    if ids.is_empty() {
        let _ = backend.unclaim_report(period, until).await;
        return Err(format!(
            "the report could not be queued: {}",
            errors.join("; ")
        ));
    }
    for e in &errors {
        tracing::warn!(error = %e, "the system report could not be queued for one recipient");
    }
    let mut e = rampart_store::TraceEvent::new(
        "report",
        format!(
            "{} report {} .. {} queued for {}",
            period.as_str(),
            date(since),
            date(until),
            to.join(", ")
        ),
    );
    e.queue_id = ids.first().cloned();
    backend.record(e).await;
    Ok(Sent::Queued(ids))
}

/// The report mail: multipart/alternative, the plain text first and the HTML page second
/// (RFC 2046 section 5.1.4: the richest last).
pub fn message(s: &Summary, hostname: &str, from: &str, to: &str, message_id: &str) -> Vec<u8> {
    let subject = format!(
        "System report of {hostname}: {} {} .. {}",
        s.period,
        date(s.since),
        date(s.until)
    );
    MessageBuilder::new()
        .from(("Mail Server Reports", from))
        .to(to)
        .subject(subject)
        .message_id(message_id)
        .header("Auto-Submitted", Raw::new("auto-generated"))
        .text_body(text::render(s, hostname))
        .html_body(html::render(s, hostname))
        .write_to_vec()
        .unwrap_or_default()
}

/// How often the schedule looks whether a period has ended.
const CHECK_EVERY: Duration = Duration::from_secs(600);

/// AL-3.2: in `rampart serve`, mails each configured period's report once it has ended (at start
/// too, for a period that ended while the server was down), until shutdown.
pub async fn run_schedule(
    backend: AnyStore,
    config: Arc<Config>,
    notify: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        if tick(&backend, &config, rampart_store::now_micros()).await > 0 {
            notify.notify_one();
        }
        tokio::select! {
            _ = tokio::time::sleep(CHECK_EVERY) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// One look of the schedule at the clock `now` (microseconds since the epoch): each period with
/// recipients whose last whole period (ending before `now`) has not been sent is sent. Returns
/// how many reports were queued. The schedule calls it with the real clock; tests with theirs.
pub async fn tick(backend: &AnyStore, config: &Config, now: i64) -> usize {
    let mut queued = 0;
    for period in [Period::Day, Period::Week, Period::Month] {
        let to = recipients(config, period);
        if to.is_empty() {
            continue;
        }
        let until = period.last_end(now);
        match send(backend, config, period, until, &to).await {
            Ok(Sent::Queued(ids)) => {
                tracing::info!(period = period.as_str(), queue_ids = %ids.join(","), "system report queued");
                queued += 1;
            }
            Ok(Sent::AlreadySent) => {}
            Err(e) => {
                tracing::warn!(period = period.as_str(), error = %e, "system report not sent; retried later")
            }
        }
    }
    queued
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn al_3_2_report_mail_is_multipart_alternative_with_text_and_html() {
        let mut s = Summary {
            period: "day".into(),
            since: 0,
            until: 86_400_000_000,
            ..Summary::default()
        };
        s.volume.inbound = 7;
        s.hourly = vec![Default::default(); 24];
        let m = message(
            &s,
            "mail.example.test",
            "postmaster@example.test",
            "a@example.test",
            "r1@x",
        );
        let m = String::from_utf8(m).unwrap();
        assert!(m.contains("multipart/alternative"), "{m}");
        assert!(m.contains("text/plain") && m.contains("text/html"));
        assert!(m.contains("Auto-Submitted: auto-generated"));
        assert!(m.contains("Subject: System report of mail.example.test: day 1970-01-01"));
        let page = html::render(&s, "mail.example.test");
        assert!(page.contains("<svg") && page.contains("<style>"));
        assert!(!page.contains("http") && !page.contains("<script") && !page.contains("src="));
    }

    /// Microseconds of a UTC date and time.
    fn at(y: i64, m: u32, d: u32, hour: i64) -> i64 {
        (rampart_store::summary::days_from_civil(y, m, d) * 24 + hour) * 3_600_000_000
    }

    /// AL-3.2: `[reports] monthly` is mailed once per calendar month, on the first look of the
    /// schedule after the month ended; other looks in the same month send nothing. The
    /// schedule's clock is driven directly.
    #[tokio::test]
    async fn al_3_2_monthly_report_is_sent_once_per_month() {
        let dir = std::env::temp_dir().join(format!(
            "rampart-monthly-{}-{}",
            std::process::id(),
            rampart_store::now_micros()
        ));
        let store = rampart_store::Store::open(&dir).unwrap();
        store.add_domain("example.test").unwrap();
        store
            .add_user("audit@example.test", "a long enough password")
            .unwrap();
        let (writer, thread) = rampart_store::Writer::start(&store).unwrap();
        let backend: AnyStore = Arc::new(rampart_store::Sqlite::new(store.clone(), writer.clone()));
        let mut config = Config::default();
        config.reports.monthly = vec!["audit@example.test".into()];

        let looks = [
            (at(2026, 11, 14, 9), 1),  // October ended: its report goes
            (at(2026, 11, 14, 9), 0),  // the same look again: not twice
            (at(2026, 11, 30, 23), 0), // later in November: still October's, sent
            (at(2026, 12, 1, 0), 1),   // November ended at midnight
            (at(2026, 12, 31, 12), 0),
            (at(2027, 1, 1, 0), 1), // December, across the year
        ];
        for (now, want) in looks {
            assert_eq!(
                tick(&backend, &config, now).await,
                want,
                "look at {}",
                date(now)
            );
        }
        writer.run(false, |_| Ok(())).await.unwrap();
        // Three report mails queued, one per month, each for its month.
        let events = store
            .trace(&rampart_store::TraceFilter {
                limit: 1000,
                ..Default::default()
            })
            .unwrap();
        let mut periods: Vec<&str> = events
            .iter()
            .filter(|e| e.event == "report")
            .map(|e| e.detail.as_str())
            .collect();
        periods.sort();
        assert_eq!(
            periods,
            vec![
                "month report 2026-10-01 .. 2026-11-01 queued for audit@example.test",
                "month report 2026-11-01 .. 2026-12-01 queued for audit@example.test",
                "month report 2026-12-01 .. 2027-01-01 queued for audit@example.test",
            ]
        );
        drop(backend);
        drop(writer);
        let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}
