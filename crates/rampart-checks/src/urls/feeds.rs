//! Local URL feed files (AL-1.3), reloaded when a file's modification time or size changes.
//!
//! One entry per line; `#` starts a comment (whole line, or after whitespace):
//!
//! ```text
//! # a domain: matches it and every subdomain
//! evil.example
//! *.also-evil.example          # same as also-evil.example
//! # a single host only: prefix with '='
//! =login.shared-host.example
//! # an IP address: that host only
//! 203.0.113.7
//! # a host and path, with or without a scheme: that host (any scheme) and that path, the
//! # pages below it, whatever query or fragment follows
//! evil.example/phish
//! https://sites.example/phish/login.php
//! http://files.example/malware/
//! ```
//!
//! Entries are normalised like URLs found in mail ([`super::normalize`]), so IDN and
//! upper-case entries match, and a path entry matches however the link spells the path:
//! `evil.example/phish` matches `http://EVIL.example/a/../phish/?x=1#f` and
//! `http://evil.example/%70hish` (AL-1.3). A feed that disappears or cannot be read keeps its last good
//! contents, and the error is reported: deleting a feed never silently turns the check off.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::SystemTime;

use super::normalize::{normalize_host, normalize_url, NormalizedUrl};

/// The entries of one feed file.
#[derive(Debug, Default, Clone)]
pub struct FeedList {
    domains: HashSet<String>,
    hosts: HashSet<String>,
    /// Path entries by host: the port when the entry names one, and the path prefix.
    paths: HashMap<String, Vec<(Option<u16>, String)>>,
}

impl FeedList {
    /// Parses feed text; returns the list and the lines that could not be read.
    pub fn parse(text: &str) -> (FeedList, Vec<String>) {
        let mut list = FeedList::default();
        let mut bad = Vec::new();
        for line in text.lines() {
            let entry = strip_comment(line).trim();
            if entry.is_empty() {
                continue;
            }
            if is_cidr(entry) {
                // Address ranges are not supported: reported rather than read as a host and
                // a path `/24`.
                bad.push(entry.to_string());
            } else if entry.contains("://") || entry.contains('/') {
                match normalize_url(entry) {
                    Some(u) => list.paths.entry(u.host).or_default().push((u.port, u.path)),
                    None => bad.push(entry.to_string()),
                }
            } else if let Some(h) = entry.strip_prefix('=') {
                match normalize_host(h) {
                    Some(h) => {
                        list.hosts.insert(h);
                    }
                    None => bad.push(entry.to_string()),
                }
            } else {
                let d = entry.trim_start_matches("*.").trim_start_matches('.');
                match normalize_host(d) {
                    Some(h) if h.parse::<std::net::Ipv4Addr>().is_ok() || h.starts_with('[') => {
                        list.hosts.insert(h);
                    }
                    Some(h) => {
                        list.domains.insert(h);
                    }
                    None => bad.push(entry.to_string()),
                }
            }
        }
        (list, bad)
    }

    /// The entry that matches `url`, if any.
    pub fn lookup(&self, url: &NormalizedUrl) -> Option<String> {
        if self.hosts.contains(&url.host) {
            return Some(format!("={}", url.host));
        }
        if !url.host_is_ip() {
            let mut h = url.host.as_str();
            loop {
                if self.domains.contains(h) {
                    return Some(h.to_string());
                }
                match h.split_once('.') {
                    Some((_, parent)) => h = parent,
                    None => break,
                }
            }
        }
        // AL-1.3: a path entry matches its host and path prefix, whatever query follows (the
        // query is not part of the normalised path) and however the path is spelled.
        let entries = self.paths.get(&url.host)?;
        entries
            .iter()
            .find(|(port, prefix)| {
                port.is_none_or(|p| url.port == Some(p)) && path_under(&url.path, prefix)
            })
            .map(|(port, prefix)| match port {
                Some(p) => format!("{}:{p}{prefix}", url.host),
                None => format!("{}{prefix}", url.host),
            })
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.domains.len() + self.hosts.len() + self.paths.values().map(Vec::len).sum::<usize>()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// `203.0.113.0/24`, `2001:db8::/32`: an address range, not a host and path.
fn is_cidr(entry: &str) -> bool {
    entry.split_once('/').is_some_and(|(ip, bits)| {
        ip.parse::<std::net::IpAddr>().is_ok()
            && !bits.is_empty()
            && bits.bytes().all(|b| b.is_ascii_digit())
    })
}

/// True when `path` is `prefix` or a page below it: `/phish` covers `/phish`, `/phish/` and
/// `/phish/kit.php`, not `/phishing`; `/phish/` also covers `/phish` (the server redirects one to
/// the other).
fn path_under(path: &str, prefix: &str) -> bool {
    if prefix == "/" || path == prefix {
        return true;
    }
    let dir = prefix.trim_end_matches('/');
    path == dir
        || path
            .strip_prefix(dir)
            .is_some_and(|rest| rest.starts_with('/'))
}

fn strip_comment(line: &str) -> &str {
    if line.trim_start().starts_with('#') {
        return "";
    }
    match line.find(" #").or_else(|| line.find("\t#")) {
        Some(i) => &line[..i],
        None => line,
    }
}

/// A feed entry that matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedHit {
    pub feed: PathBuf,
    pub entry: String,
}

#[derive(Debug)]
struct Loaded {
    path: PathBuf,
    /// Modification time and length of the version loaded.
    stamp: Option<(SystemTime, u64)>,
    list: FeedList,
    error: Option<String>,
}

/// The configured feed files, reloaded on change. Share one instance (e.g. in an `Arc`)
/// between sessions; lookups take a read lock.
#[derive(Debug)]
pub struct UrlFeeds {
    feeds: RwLock<Vec<Loaded>>,
}

impl UrlFeeds {
    /// Feeds from these files; they are read by the first [`UrlFeeds::refresh`].
    pub fn new(paths: &[PathBuf]) -> UrlFeeds {
        let feeds = paths
            .iter()
            .map(|p| Loaded {
                path: p.clone(),
                stamp: None,
                list: FeedList::default(),
                error: None,
            })
            .collect();
        UrlFeeds {
            feeds: RwLock::new(feeds),
        }
    }

    /// Reloads every file whose modification time or size changed; returns the current
    /// problems (unreadable files, unreadable lines), one sentence each.
    pub fn refresh(&self) -> Vec<String> {
        let stamps: Vec<Result<(SystemTime, u64), String>> = {
            let feeds = rampart_sync::read(&self.feeds);
            feeds.iter().map(|f| stamp(&f.path)).collect()
        };
        let changed = {
            let feeds = rampart_sync::read(&self.feeds);
            feeds.iter().zip(&stamps).any(|(f, s)| {
                s.as_ref().ok() != f.stamp.as_ref() || s.is_err() != f.error.is_some()
            })
        };
        if changed {
            let mut feeds = rampart_sync::write(&self.feeds);
            for (f, s) in feeds.iter_mut().zip(stamps) {
                match s {
                    Ok(s) if Some(&s) == f.stamp.as_ref() && f.error.is_none() => {}
                    Ok(s) => match std::fs::read_to_string(&f.path) {
                        Ok(text) => {
                            let (list, bad) = FeedList::parse(&text);
                            f.list = list;
                            f.stamp = Some(s);
                            f.error = (!bad.is_empty()).then(|| {
                                format!(
                                    "feed {}: {} unreadable line(s), first {:?}",
                                    f.path.display(),
                                    bad.len(),
                                    bad[0]
                                )
                            });
                        }
                        Err(e) => f.error = Some(format!("feed {}: {e}", f.path.display())),
                    },
                    Err(e) => f.error = Some(e),
                }
            }
        }
        let feeds = rampart_sync::read(&self.feeds);
        feeds.iter().filter_map(|f| f.error.clone()).collect()
    }

    /// The first feed entry matching `url`.
    pub fn lookup(&self, url: &NormalizedUrl) -> Option<FeedHit> {
        let feeds = rampart_sync::read(&self.feeds);
        feeds.iter().find_map(|f| {
            f.list.lookup(url).map(|entry| FeedHit {
                feed: f.path.clone(),
                entry,
            })
        })
    }

    /// Each feed's path and the modification time of the version loaded (NC-2.4.4: the audit
    /// warns when a feed is older than a week).
    pub fn ages(&self) -> Vec<(PathBuf, Option<SystemTime>)> {
        let feeds = rampart_sync::read(&self.feeds);
        feeds
            .iter()
            .map(|f| (f.path.clone(), f.stamp.map(|s| s.0)))
            .collect()
    }
}

fn stamp(path: &Path) -> Result<(SystemTime, u64), String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("feed {}: {e}", path.display()))?;
    let modified = meta
        .modified()
        .map_err(|e| format!("feed {}: {e}", path.display()))?;
    Ok((modified, meta.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn url(s: &str) -> NormalizedUrl {
        normalize_url(s).unwrap()
    }

    #[test]
    fn al_1_3_feed_entries() {
        let (list, bad) = FeedList::parse(
            "# comment\nEvil.Example\n*.also.example # trailing comment\n=login.shared.example\n\
             203.0.113.7\nhttps://sites.example/phish/login.php\nhttp://files.example/malware/\n\
             bücher.example\nnot a host\n",
        );
        assert_eq!(bad, vec!["not a host".to_string()]);
        assert_eq!(list.len(), 7);
        // Domain: itself and subdomains.
        assert!(list.lookup(&url("http://evil.example/")).is_some());
        assert!(list.lookup(&url("https://a.b.EVIL.example./x")).is_some());
        assert!(list.lookup(&url("https://notevil.example/")).is_none());
        assert!(list.lookup(&url("http://x.also.example/")).is_some());
        // Host only.
        assert!(list.lookup(&url("http://login.shared.example/a")).is_some());
        assert!(list.lookup(&url("http://other.shared.example/a")).is_none());
        assert!(list.lookup(&url("http://203.0.113.7/x")).is_some());
        assert!(
            list.lookup(&url("http://3405803783/x")).is_some(),
            "decimal IP form"
        );
        // Full URL, scheme-blind; directory prefix.
        assert!(list
            .lookup(&url("http://SITES.example/phish/login.php?a=1#x"))
            .is_some());
        assert!(list
            .lookup(&url("http://sites.example/phish/other.php"))
            .is_none());
        assert!(list
            .lookup(&url("https://files.example/malware/x.exe"))
            .is_some());
        assert!(list
            .lookup(&url("https://files.example/clean/x.exe"))
            .is_none());
        // IDN entry matches the punycode and the Unicode link.
        assert!(list.lookup(&url("http://xn--bcher-kva.example/")).is_some());
        assert!(list.lookup(&url("http://BÜCHER.example/")).is_some());
    }

    // AL-1.3: a feed entry with a path matches that host and path prefix whatever query,
    // fragment, case or dot-segments the link adds.
    #[test]
    fn al_1_3_feed_path_entry_matches_whatever_follows() {
        let (list, bad) = FeedList::parse(
            "evil.example/phish\nhttp://kit.example:8080/a/\n203.0.113.0/24\nhxxp://evil.example/x\n",
        );
        assert_eq!(bad, ["203.0.113.0/24", "hxxp://evil.example/x"]);
        for hit in [
            "http://evil.example/phish",
            "http://evil.example/phish?x=1",
            "http://evil.example/a/../phish/",
            "http://EVIL.example/phish#f",
            "http://evil.example/%70hish",
            "https://evil.example/phish/kit.php",
            "http://evil.example/./phish",
            "http:\\\\evil.example\\phish",
            "http://kit.example:8080/a/b",
            "http://kit.example:8080/a",
        ] {
            assert_eq!(
                list.lookup(&url(hit)).as_deref(),
                Some(if hit.contains("kit.example") {
                    "kit.example:8080/a/"
                } else {
                    "evil.example/phish"
                }),
                "{hit}"
            );
        }
        for miss in [
            "http://evil.example/",
            "http://evil.example/phishing",
            "http://evil.example/other/phish",
            "http://www.evil.example/phish",
            "http://kit.example/a/b",
        ] {
            assert_eq!(list.lookup(&url(miss)), None, "{miss}");
        }
    }

    #[test]
    fn al_1_3_feed_reloads_when_the_file_changes() {
        let dir = std::env::temp_dir().join(format!("rampart-feed-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bad-urls.txt");
        let write = |text: &str, age: u64| {
            std::fs::write(&path, text).unwrap();
            let f = std::fs::File::options().write(true).open(&path).unwrap();
            f.set_modified(SystemTime::now() - Duration::from_secs(age))
                .unwrap();
        };
        write("first.example\n", 100);
        let feeds = UrlFeeds::new(std::slice::from_ref(&path));
        assert!(feeds.refresh().is_empty());
        assert!(feeds.lookup(&url("http://first.example/")).is_some());
        assert!(feeds.lookup(&url("http://second.example/")).is_none());

        // Same size, new mtime: reloaded.
        write("secnd.example\n", 10);
        assert!(feeds.refresh().is_empty());
        assert!(feeds.lookup(&url("http://first.example/")).is_none());
        assert!(feeds.lookup(&url("http://secnd.example/")).is_some());
        assert!(feeds.ages()[0].1.is_some());

        // Removed: last good contents kept, error reported.
        std::fs::remove_file(&path).unwrap();
        let errors = feeds.refresh();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(feeds.lookup(&url("http://secnd.example/")).is_some());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
