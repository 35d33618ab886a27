//! The spam classifier alone on a labelled corpus split (AL-1.2), in memory: trains on the
//! training half's files exactly as `rampart spam train` does (same lessons, counted once per
//! digest) and prints each test file's classifier probability, for tuning the tokeniser and the
//! combining without a store or a full `rampart spam score` run (bench/spam_corpus.py writes
//! the split directories; docs/ANTISPAM.md).
//!
//! ```text
//! cargo run --release -p rampart-checks --example bayes_corpus -- \
//!     --spam DIR... --ham DIR... --test GROUP=DIR... [--tune PASSES]
//! ```
//!
//! `--tune` trains again, pass after pass, each training message the classifier still puts on
//! the wrong side of `bayes::TUNE_MARGIN` ("train until no errors", `bayes::tune`).
//!
//! Output, one line per test message: `group <TAB> file name <TAB> probability <TAB> tokens
//! used <TAB> tokens`.

use rampart_checks::spam::bayes::{self, Counts};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        out.push(dir.to_path_buf());
        return;
    };
    for e in entries.flatten() {
        if !e.file_name().to_string_lossy().starts_with('.') {
            files(&e.path(), out);
        }
    }
}

fn sorted_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    files(dir, &mut out);
    out.sort();
    out
}

fn main() {
    let args = std::env::args().skip(1);
    let (mut spam, mut ham, mut test) = (Vec::new(), Vec::new(), Vec::new());
    let mut mode = String::new();
    let mut tune = 0usize;
    for a in args {
        if a.starts_with("--") {
            mode = a;
            continue;
        }
        match mode.as_str() {
            "--tune" => tune = a.parse().unwrap_or(0),
            "--spam" => spam.push(PathBuf::from(a)),
            "--ham" => ham.push(PathBuf::from(a)),
            "--test" => match a.split_once('=') {
                Some((g, d)) => test.push((g.to_string(), PathBuf::from(d))),
                None => {
                    eprintln!("error: --test takes GROUP=DIR, not {a}");
                    std::process::exit(2);
                }
            },
            _ => {
                eprintln!(
                    "error: usage: bayes_corpus --spam DIR... --ham DIR... --test GROUP=DIR..."
                );
                std::process::exit(2);
            }
        }
    }
    let mut counts = Counts::default();
    let mut seen = HashSet::new();
    let mut lessons: Vec<(Vec<u8>, Vec<u64>, bool)> = Vec::new();
    for (dirs, is_spam) in [(&spam, true), (&ham, false)] {
        for d in dirs {
            for f in sorted_files(d) {
                let raw = std::fs::read(&f).unwrap_or_default();
                let Some(l) = bayes::lesson(&raw) else {
                    continue;
                };
                if !seen.insert(l.digest.clone()) {
                    continue;
                }
                bayes::count_again(&mut counts, &l.tokens, is_spam);
                lessons.push((l.digest, l.tokens, is_spam));
            }
        }
    }
    // Train until no errors (TUNE, as `rampart spam train` does): in digest order.
    lessons.sort();
    if tune > 0 {
        let batch: Vec<(&[u64], bool)> = lessons
            .iter()
            .map(|(_, t, spam)| (t.as_slice(), *spam))
            .collect();
        let again = bayes::tune(&mut counts, &batch, tune);
        eprintln!(
            "trained again: {} lessons, {} times",
            again.iter().filter(|n| **n > 0).count(),
            again.iter().sum::<u32>()
        );
    }
    eprintln!(
        "trained {} spam, {} ham, {} distinct tokens",
        counts.spam_messages,
        counts.ham_messages,
        counts.tokens.len()
    );
    let mut dist: HashMap<String, (usize, usize)> = HashMap::new();
    for (group, dir) in &test {
        for f in sorted_files(dir) {
            let raw = std::fs::read(&f).unwrap_or_default();
            let Some(l) = bayes::lesson(&raw) else {
                println!("{group}\t{}\t-\t0\t0", name(&f));
                continue;
            };
            let (p, used) = bayes::probability(&l.tokens, &counts);
            let e = dist.entry(group.clone()).or_default();
            e.0 += 1;
            e.1 += usize::from(p >= 0.75);
            println!("{group}\t{}\t{p:.6}\t{used}\t{}", name(&f), l.tokens.len());
        }
    }
    for (g, (n, high)) in dist {
        eprintln!("{g}: {high} of {n} at p >= 0.75");
    }
}

fn name(f: &Path) -> String {
    f.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
