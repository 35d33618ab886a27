//! A static list of recipients: addresses written in the configuration and/or a file of them,
//! one per line with `#` comments. The file is looked at (modification time and size) at most
//! once a second and read again when either changed, so an administrator's edit takes effect
//! without a restart and without a file watcher.
//!
//! Matching: the domain without regard to case, the local part exactly (RFC 5321 §2.4: only
//! the receiving server may fold its case, and the next hop may not), `postmaster` in any case
//! (RFC 5321 §4.5.1). `@domain` lines are catch-alls, honoured only where the configuration
//! says `allow_catch_all = true`.

use super::{normalize, Verification};
use rampart_config::recipient_verify::{static_entry, static_file_entries};
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

/// How often the file's modification time and size are looked at, at most.
pub const RECHECK: Duration = Duration::from_secs(1);

#[derive(Default)]
struct Entries {
    addresses: HashSet<String>,
    /// Catch-all domains (`@domain`), lower case.
    domains: HashSet<String>,
}

impl Entries {
    fn add(&mut self, entry: &str, allow_catch_all: bool) -> Result<(), String> {
        static_entry(entry, allow_catch_all)?;
        match entry.strip_prefix('@') {
            Some(domain) => {
                self.domains.insert(domain.to_ascii_lowercase());
            }
            None => {
                if let Some(a) = normalize(entry) {
                    self.addresses.insert(a);
                }
            }
        }
        Ok(())
    }

    fn contains(&self, normalized: &str) -> bool {
        self.addresses.contains(normalized)
            || normalized
                .rsplit_once('@')
                .is_some_and(|(_, d)| self.domains.contains(d))
    }
}

struct FileState {
    checked: Option<Instant>,
    stamp: Option<(SystemTime, u64)>,
    /// None until the file has been read once.
    entries: Option<Entries>,
}

pub struct StaticList {
    fixed: Entries,
    allow_catch_all: bool,
    file: Option<(PathBuf, Mutex<FileState>)>,
}

impl StaticList {
    pub fn new(
        addresses: &[String],
        file: Option<PathBuf>,
        allow_catch_all: bool,
    ) -> Result<StaticList, String> {
        let mut fixed = Entries::default();
        for a in addresses {
            fixed.add(a, allow_catch_all)?;
        }
        let list = StaticList {
            fixed,
            allow_catch_all,
            file: file.map(|p| {
                (
                    p,
                    Mutex::new(FileState {
                        checked: None,
                        stamp: None,
                        entries: None,
                    }),
                )
            }),
        };
        // Read now, so a missing file is found at start-up rather than at the first RCPT.
        list.reload_if_changed(Instant::now());
        Ok(list)
    }

    pub fn lookup(&self, address: &str) -> Verification {
        self.lookup_at(address, Instant::now())
    }

    /// The answer at `now` (the clock is a parameter for the tests).
    pub fn lookup_at(&self, address: &str, now: Instant) -> Verification {
        let Some(a) = normalize(address) else {
            return Verification::Unknown;
        };
        if self.fixed.contains(&a) {
            return Verification::Known;
        }
        let Some((path, state)) = &self.file else {
            return Verification::Unknown;
        };
        self.reload_if_changed(now);
        let state = state.lock().unwrap_or_else(|e| e.into_inner());
        match &state.entries {
            Some(e) if e.contains(&a) => Verification::Known,
            Some(_) => Verification::Unknown,
            // Never read: refusing would bounce real recipients, accepting would be backscatter.
            None => Verification::Unavailable(format!(
                "the recipient list {} could not be read",
                path.display()
            )),
        }
    }

    fn reload_if_changed(&self, now: Instant) {
        let Some((path, state)) = &self.file else {
            return;
        };
        let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
        if st
            .checked
            .is_some_and(|c| now.saturating_duration_since(c) < RECHECK)
        {
            return;
        }
        st.checked = Some(now);
        let stamp = match std::fs::metadata(path) {
            Ok(m) => (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len()),
            Err(e) => {
                if st.entries.is_some() {
                    tracing::warn!(file = %path.display(), error = %e, "recipient list unreadable; the last one read stays in use");
                }
                return;
            }
        };
        if st.stamp == Some(stamp) && st.entries.is_some() {
            return;
        }
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "recipient list unreadable; the last one read stays in use");
                return;
            }
        };
        let mut entries = Entries::default();
        for (n, line) in static_file_entries(&text) {
            if let Err(e) = entries.add(line, self.allow_catch_all) {
                tracing::warn!(file = %path.display(), line = n, error = %e, "recipient list line skipped");
            }
        }
        tracing::info!(file = %path.display(), addresses = entries.addresses.len(), "recipient list read");
        st.stamp = Some(stamp);
        st.entries = Some(entries);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(tag: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!(
            "rampart-static-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_file(&p);
        p
    }

    #[test]
    fn nc_2_1_6_static_domain_folds_local_part_exact() {
        let l = StaticList::new(&["Alice@Agency.Example".into()], None, false).unwrap();
        assert_eq!(l.lookup("Alice@agency.example"), Verification::Known);
        assert_eq!(l.lookup("Alice@AGENCY.EXAMPLE."), Verification::Known);
        assert_eq!(l.lookup("alice@agency.example"), Verification::Unknown);
        assert_eq!(l.lookup("bob@agency.example"), Verification::Unknown);
        assert_eq!(l.lookup("not-an-address"), Verification::Unknown);
    }

    #[test]
    fn nc_2_1_6_static_catch_all_needs_opt_in() {
        assert!(StaticList::new(&["@agency.example".into()], None, false).is_err());
        let l = StaticList::new(&["@Agency.example".into()], None, true).unwrap();
        assert_eq!(l.lookup("anyone@agency.example"), Verification::Known);
        assert_eq!(l.lookup("anyone@other.example"), Verification::Unknown);
    }

    #[test]
    fn nc_2_1_6_static_file_reloaded_when_changed() {
        let p = temp("reload");
        std::fs::write(&p, "# staff\nalice@a.example\n@a.example\n").unwrap();
        let l = StaticList::new(&[], Some(p.clone()), false).unwrap();
        let t0 = Instant::now();
        assert_eq!(l.lookup_at("alice@a.example", t0), Verification::Known);
        // The catch-all line was skipped: not allowed here.
        assert_eq!(l.lookup_at("carol@a.example", t0), Verification::Unknown);

        std::fs::write(&p, "bob@a.example\ncarol@a.example # new\n").unwrap();
        // Within the second the file is not looked at again.
        assert_eq!(l.lookup_at("alice@a.example", t0), Verification::Known);
        let t1 = t0 + RECHECK;
        assert_eq!(l.lookup_at("alice@a.example", t1), Verification::Unknown);
        assert_eq!(l.lookup_at("carol@a.example", t1), Verification::Known);

        // Gone: the last list read stays in use.
        std::fs::remove_file(&p).unwrap();
        let t2 = t1 + RECHECK;
        assert_eq!(l.lookup_at("bob@a.example", t2), Verification::Known);
    }

    #[test]
    fn nc_2_1_6_static_file_never_read_is_unavailable() {
        let p = temp("missing");
        let l = StaticList::new(&["alice@a.example".into()], Some(p.clone()), false).unwrap();
        assert_eq!(l.lookup("alice@a.example"), Verification::Known);
        assert!(matches!(
            l.lookup("bob@a.example"),
            Verification::Unavailable(_)
        ));
        std::fs::write(&p, "bob@a.example\n").unwrap();
        let later = Instant::now() + RECHECK;
        assert_eq!(l.lookup_at("bob@a.example", later), Verification::Known);
        let _ = std::fs::remove_file(&p);
    }
}
