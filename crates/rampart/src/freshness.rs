//! Signature and feed freshness (NC-2.4.4: signatures updated at least weekly; AL-1.2: the
//! anti-malware and anti-phishing lists kept current). [`source_ages`] dates every source the
//! gateway loads; `serve` checks them at start and every `[freshness] interval_secs`, and
//! reports each source older than `max_age_days` in the log, the trace and a mail to the
//! postmaster.
//!
//! How each source is dated:
//! - clamd's signatures: the date in clamd's `VERSION` reply (`ClamAV 1.4.6/27480/Tue Dec  2
//!   09:23:44 2026`) when it carries one; else the newest file of `clamav_database_dir`, by
//!   the build time in a `.cvd`/`.cld` header, else by its modification time (a database of
//!   local signatures only has no date in `VERSION`).
//! - URL feed files (`[checks.urls] feeds`): their modification time.
//!
//! DNS blocklists are asked live at each message and have no age here.

use rampart_checks::antivirus::{ClamdAddress, DATABASE_EXTENSIONS};
use rampart_checks::pipeline::CheckName;
use rampart_config::Config;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{watch, Notify};

const DAY: u64 = 86_400;

/// The age of one source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceAge {
    /// What it is: `clamav signatures`, `url feed`.
    pub source: &'static str,
    /// The file that dated it (the newest database file, the feed), when a file did.
    pub path: Option<PathBuf>,
    /// How it was dated: `clamd VERSION`, `cvd header`, `file mtime`.
    pub dated_by: &'static str,
    /// When it was built or last written; `None` when it could not be dated at all.
    pub date: Option<SystemTime>,
    /// Why it could not be dated (missing file, no database, unreadable directory).
    pub problem: Option<String>,
}

impl SourceAge {
    pub fn age(&self, now: SystemTime) -> Option<Duration> {
        self.date
            .map(|d| now.duration_since(d).unwrap_or(Duration::ZERO))
    }

    fn name(&self) -> String {
        match &self.path {
            Some(p) => format!("{} ({})", self.source, p.display()),
            None => self.source.to_string(),
        }
    }
}

/// Every source's age: clamd's signatures (when the antivirus check is on) and each URL feed.
/// This is what the audit reports for NC-2.4.4 and AL-1.2.
pub async fn source_ages(config: &Config) -> Vec<SourceAge> {
    let mut out = Vec::new();
    let checks = &config.checks;
    if checks.enabled(CheckName::Antivirus) {
        let av = &checks.antivirus;
        let version = clamd_version(&av.clamd, Duration::from_millis(av.timeout_ms)).await;
        match version.as_deref().and_then(version_date) {
            Some(date) => out.push(SourceAge {
                source: "clamav signatures",
                path: None,
                dated_by: "clamd VERSION",
                date: Some(date),
                problem: None,
            }),
            None => out.push(database_age(&config.freshness.clamav_database_dir)),
        }
    }
    if checks.enabled(CheckName::Urls) && checks.urls.enabled {
        for feed in &checks.urls.feeds {
            let modified = std::fs::metadata(feed).and_then(|m| m.modified());
            out.push(SourceAge {
                source: "url feed",
                path: Some(feed.clone()),
                dated_by: "file mtime",
                problem: modified.as_ref().err().map(|e| e.to_string()),
                date: modified.ok(),
            });
        }
    }
    out
}

/// NC-2.4.4: one sentence per source past `max_age_days` or that could not be dated, and one
/// when `max_age_days` itself allows more than a week.
pub fn findings(config: &Config, ages: &[SourceAge], now: SystemTime) -> Vec<String> {
    let f = &config.freshness;
    let max = Duration::from_secs(u64::from(f.max_age_days.get()) * DAY);
    let mut out = Vec::new();
    if f.above_allowed() {
        out.push(format!(
            "NC-2.4.4: [freshness] max_age_days is {}, above the {} days a weekly update allows",
            f.max_age_days,
            rampart_config::integrity::MAX_AGE_DAYS_ALLOWED
        ));
    }
    for a in ages {
        match (a.age(now), &a.problem) {
            (Some(age), _) if age > max => out.push(format!(
                "NC-2.4.4: {} is {} days old (dated by {}), older than {} days; update it",
                a.name(),
                age.as_secs() / DAY,
                a.dated_by,
                f.max_age_days
            )),
            (None, problem) => out.push(format!(
                "NC-2.4.4: {} cannot be dated: {}",
                a.name(),
                problem.as_deref().unwrap_or("unknown")
            )),
            _ => {}
        }
    }
    out
}

/// clamd's `VERSION` reply, or `None` when clamd does not answer in time.
async fn clamd_version(addr: &ClamdAddress, timeout: Duration) -> Option<String> {
    async fn ask<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
        mut s: S,
    ) -> std::io::Result<String> {
        s.write_all(b"zVERSION\0").await?;
        let mut reply = Vec::new();
        let mut buf = [0u8; 256];
        while reply.len() < 1024 && !reply.contains(&0) {
            let n = s.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            reply.extend_from_slice(&buf[..n]);
        }
        let end = reply.iter().position(|&b| b == 0).unwrap_or(reply.len());
        Ok(String::from_utf8_lossy(&reply[..end]).trim().to_string())
    }
    let fut = async {
        match addr {
            ClamdAddress::Unix(p) => ask(tokio::net::UnixStream::connect(p).await?).await,
            ClamdAddress::Tcp(a) => ask(tokio::net::TcpStream::connect(a).await?).await,
        }
    };
    tokio::time::timeout(timeout, fut).await.ok()?.ok()
}

/// The database date in a `VERSION` reply (`ClamAV 1.4.6/27480/Tue Dec  2 09:23:44 2026`);
/// `None` for `ClamAV 1.4.6` alone (no official database loaded).
pub fn version_date(reply: &str) -> Option<SystemTime> {
    let date = reply.splitn(3, '/').nth(2)?;
    let mut parts = date.split_whitespace();
    let _weekday = parts.next()?;
    let month = match parts.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let day: u32 = parts.next()?.parse().ok()?;
    let mut hms = parts.next()?.split(':').map(|x| x.parse::<u64>());
    let (h, m, s) = (hms.next()?.ok()?, hms.next()?.ok()?, hms.next()?.ok()?);
    let year: i64 = parts.next()?.parse().ok()?;
    let days = days_from_civil(year, month, day);
    // clamd prints its local time; servers keep UTC, and an hour or two is nothing against a week.
    let secs = u64::try_from(days).ok()? * DAY + h * 3600 + m * 60 + s;
    Some(UNIX_EPOCH + Duration::from_secs(secs))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The newest database file of clamd's database directory, dated by its header or mtime.
fn database_age(dir: &Path) -> SourceAge {
    let mut age = SourceAge {
        source: "clamav signatures",
        path: None,
        dated_by: "file mtime",
        date: None,
        problem: None,
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            age.problem = Some(format!("database directory {}: {e}", dir.display()));
            return age;
        }
    };
    for e in entries.flatten() {
        let path = e.path();
        let ext = path
            .extension()
            .and_then(|x| x.to_str())
            .map(|x| x.to_ascii_lowercase());
        if !ext.is_some_and(|x| DATABASE_EXTENSIONS.contains(&x.as_str())) {
            continue;
        }
        let (date, how) = match cvd_header_time(&path) {
            Some(t) => (t, "cvd header"),
            None => match e.metadata().and_then(|m| m.modified()) {
                Ok(t) => (t, "file mtime"),
                Err(_) => continue,
            },
        };
        if age.date.is_none_or(|d| date > d) {
            age.date = Some(date);
            age.dated_by = how;
            age.path = Some(path);
        }
    }
    if age.date.is_none() {
        age.problem = Some(format!(
            "no signature database in {} (run freshclam)",
            dir.display()
        ));
    }
    age
}

/// The build time of a `.cvd`/`.cld`: the last field (`stime`, Unix seconds) of its 512-byte
/// header `ClamAV-VDB:<time>:<version>:<sigs>:<flevel>:<md5>:<dsig>:<builder>:<stime>`.
pub fn cvd_header_time(path: &Path) -> Option<SystemTime> {
    let mut header = [0u8; 512];
    std::fs::File::open(path)
        .ok()?
        .read_exact(&mut header)
        .ok()?;
    cvd_header_stime(&header)
}

fn cvd_header_stime(header: &[u8]) -> Option<SystemTime> {
    let text = std::str::from_utf8(header.strip_prefix(b"ClamAV-VDB:")?).ok()?;
    let stime: u64 = text.trim_end().rsplit(':').next()?.trim().parse().ok()?;
    Some(UNIX_EPOCH + Duration::from_secs(stime))
}

/// `serve`'s watcher: the sources' ages at start and every interval; findings are logged and
/// traced each time, and mailed when they differ from the last ones mailed.
pub struct Watcher {
    pub config: Arc<Config>,
    pub store: rampart_store::AnyStore,
    pub notify: Arc<Notify>,
}

impl Watcher {
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let every = Duration::from_secs(u64::from(self.config.freshness.interval_secs.get()));
        let mut mailed: Vec<String> = Vec::new();
        loop {
            let ages = source_ages(&self.config).await;
            let found = findings(&self.config, &ages, SystemTime::now());
            tracing::info!(
                sources = ages.len(),
                findings = found.len(),
                "NC-2.4.4: freshness check"
            );
            // Every check leaves a line in the trace, so an auditor sees it ran.
            let summary = format!(
                "NC-2.4.4: {} source(s) checked, {} finding(s), limit {} days",
                ages.len(),
                found.len(),
                self.config.freshness.max_age_days
            );
            self.store
                .record(rampart_store::TraceEvent::new("freshness", summary))
                .await;
            for f in &found {
                tracing::warn!(finding = %f, "freshness");
            }
            if !found.is_empty() && found != mailed {
                crate::notice::report(
                    &self.store,
                    &self.notify,
                    self.config.hostname.get_ref(),
                    "freshness",
                    "Signatures or feeds out of date (NC-2.4.4)",
                    &found,
                )
                .await;
            }
            mailed = found;
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = shutdown.changed() => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nc_2_4_4_version_reply_dates_the_database() {
        let t = version_date("ClamAV 1.4.6/27480/Tue Dec  2 09:23:44 2026").unwrap();
        let secs = t.duration_since(UNIX_EPOCH).unwrap().as_secs();
        // 2026-12-02T09:23:44Z
        assert_eq!(secs, 1_796_203_424);
        assert_eq!(version_date("ClamAV 1.4.6"), None);
        assert_eq!(version_date("ClamAV 1.4.6/27480/garbage"), None);
    }

    #[test]
    fn nc_2_4_4_cvd_header_gives_the_build_time() {
        let mut h =
            b"ClamAV-VDB:01 Nov 2026 10-00 +0000:27000:1:90:abc:sig:builder:1793527200".to_vec();
        h.resize(512, b' ');
        let t = cvd_header_stime(&h).unwrap();
        assert_eq!(t, UNIX_EPOCH + Duration::from_secs(1_793_527_200));
        assert_eq!(cvd_header_stime(b"not a cvd"), None);
    }

    #[test]
    fn nc_2_4_4_old_sources_and_a_long_allowance_are_findings() {
        let now = SystemTime::now();
        let src = |days: u64| SourceAge {
            source: "url feed",
            path: Some(PathBuf::from("/f")),
            dated_by: "file mtime",
            date: Some(now - Duration::from_secs(days * DAY)),
            problem: None,
        };
        let mut config = Config::default();
        assert!(findings(&config, &[src(6)], now).is_empty());
        let f = findings(&config, &[src(8)], now);
        assert_eq!(f.len(), 1);
        assert!(f[0].contains("8 days old"), "{f:?}");
        config.freshness.max_age_days = std::num::NonZeroU32::new(30).unwrap();
        let f = findings(&config, &[src(8)], now);
        assert_eq!(f.len(), 1);
        assert!(f[0].contains("max_age_days is 30"), "{f:?}");
    }
}
