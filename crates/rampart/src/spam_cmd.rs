//! `rampart spam train` and `rampart spam status`: the spam classifier's training from files
//! and what it learned (AL-1.2). Also the classifier's view of the store ([`StoreTokens`]),
//! which `serve` hands to the check pipeline.
//!
//! Training from files goes into the installation's counts; with `--user`, into that user's as
//! well, exactly as the user's own moves to and out of Junk do. A message already trained the
//! same way is counted once; trained the other way, the earlier lesson is undone.

use crate::admin::Error;
use async_trait::async_trait;
use rampart_checks::spam::bayes::{self, Counts, TokenSource};
use rampart_config::Config;
use rampart_store::spam_tokens::GLOBAL;
use rampart_store::{AnyStore, Lesson, Trained};
use std::path::{Path, PathBuf};

#[derive(clap::Subcommand)]
pub enum SpamCmd {
    /// Trains the classifier from files: one message per file, or mbox files (split on lines
    /// that start with "From "). Directories are read recursively.
    Train {
        /// A directory (or file) of spam.
        #[arg(long)]
        spam: Vec<PathBuf>,
        /// A directory (or file) of ham (wanted mail).
        #[arg(long)]
        ham: Vec<PathBuf>,
        /// Also train this user's own counts.
        #[arg(long)]
        user: Option<String>,
        /// After every message is learned once, passes over them that train again each one
        /// the classifier still gets wrong ("train until no errors"); 0 trains each once.
        #[arg(long, default_value_t = bayes::TUNE_PASSES)]
        tune_passes: usize,
    },
    /// How many spam and ham messages each scope was trained with, and whether that is enough.
    Status,
    /// Scores message files exactly as inbound mail is scored: the configured check pipeline
    /// (with its content rules and the trained classifier) on each message, as if it arrived
    /// from `--client-ip` for `--rcpt`. Prints one line per message: the decision, the spam
    /// score, the file and the spam check's reason. Nothing is delivered or trained.
    Score {
        /// Files or directories (read recursively; mbox files are split).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// The envelope recipient. Default: postmaster at the first domain here.
        #[arg(long)]
        rcpt: Option<String>,
        /// The connecting address the message is scored as coming from.
        #[arg(long, default_value = "192.0.2.1")]
        client_ip: std::net::IpAddr,
    },
    /// The senders a user trusts: From addresses, authenticated when the mail arrived, of
    /// messages the user moved out of Junk. Their mail tagged as spam goes to that user's Inbox.
    Trusted {
        /// The user, e.g. alice@agency.example.
        user: String,
    },
    /// Makes a user trust a sender, as a move out of Junk would: its mail tagged as spam goes
    /// to that user's Inbox, but only when its From domain is authenticated on arrival.
    Trust {
        /// The user, e.g. alice@agency.example.
        user: String,
        /// The sender's address, e.g. newsletter@partner.example.
        address: String,
    },
    /// Stops a user trusting a sender: its mail tagged as spam goes to Junk again.
    Untrust {
        /// The user, e.g. alice@agency.example.
        user: String,
        /// The sender's address, as `spam trusted` lists it.
        address: String,
    },
}

/// The store as the classifier reads it.
pub struct StoreTokens(pub AnyStore);

#[async_trait]
impl TokenSource for StoreTokens {
    async fn counts(&self, scope: &str, tokens: &[u64]) -> Result<Counts, String> {
        let c = self
            .0
            .spam_token_counts(scope, tokens)
            .await
            .map_err(|e| e.to_string())?;
        Ok(Counts {
            spam_messages: c.trained.spam,
            ham_messages: c.trained.ham,
            tokens: c.tokens.into_iter().map(|(t, s, h)| (t, (s, h))).collect(),
        })
    }
}

/// Training again until no errors holds every message's tokens in memory: above this many
/// messages in one run it is not done (and the command says so).
const MAX_TUNE_LESSONS: usize = 50_000;

/// How one kind's training went.
#[derive(Default)]
struct Tally {
    new: u64,
    already: u64,
    reversed: u64,
    unreadable: u64,
}

pub fn run(config: &Config, cmd: SpamCmd) -> Result<(), Error> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    rt.block_on(async {
        // Issue 20: the embedded store, or the database every node shares (one classifier for
        // every node: trained with one node's command line, in effect on all).
        let running = crate::serve_store::Opened::open(config).await?.start()?;
        let result = run_on(config, &running.backend, cmd).await;
        // Everything trained is committed before the command ends.
        running.finish().await?;
        result
    })
}

async fn run_on(config: &Config, store: &AnyStore, cmd: SpamCmd) -> Result<(), Error> {
    match cmd {
        SpamCmd::Train {
            spam,
            ham,
            user,
            tune_passes,
        } => {
            if spam.is_empty() && ham.is_empty() {
                return Err("name at least one --spam or --ham directory".into());
            }
            // A lesson counts at most MAX_WEIGHT times: once, and once per pass.
            let most = rampart_store::spam_tokens::MAX_WEIGHT as usize - 1;
            if tune_passes > most {
                return Err(format!(
                    "--tune-passes {tune_passes} is too many; give at most {most}"
                )
                .into());
            }
            let user = match user {
                Some(u) => Some(known_user(store, &u).await?),
                None => None,
            };
            let mut batch = Vec::new();
            for (dirs, is_spam) in [(&spam, true), (&ham, false)] {
                if dirs.is_empty() {
                    continue;
                }
                let mut t = Tally::default();
                for d in dirs {
                    train_path(store, user.as_deref(), d, is_spam, &mut t, &mut batch).await?;
                }
                println!(
                    "{}: {} trained ({} new, {} moved from {}), {} already known, {} unreadable",
                    if is_spam { "spam" } else { "ham" },
                    t.new + t.reversed,
                    t.new,
                    t.reversed,
                    if is_spam { "ham" } else { "spam" },
                    t.already,
                    t.unreadable
                );
            }
            train_again(config, store, user.as_deref(), batch, tune_passes).await?;
            status(config, store).await
        }
        SpamCmd::Status => status(config, store).await,
        SpamCmd::Score {
            paths,
            rcpt,
            client_ip,
        } => crate::spam_score::run(config, store, &paths, rcpt, client_ip).await,
        SpamCmd::Trusted { user } => {
            let user = known_user(store, &user).await?;
            let list = store.trusted_senders(&user).await?;
            if list.is_empty() {
                println!("{user} trusts no sender yet (a move out of Junk of authenticated mail adds one)");
            }
            for (address, added) in list {
                println!(
                    "{address}\ttrusted since {}",
                    crate::admin::format_time(added)
                );
            }
            Ok(())
        }
        SpamCmd::Trust { user, address } => {
            let user = known_user(store, &user).await?;
            let Some(address) = rampart_store::trusted_senders::valid_address(&address) else {
                return Err(format!(
                    "`{}` is not an email address (like newsletter@partner.example)",
                    address.trim()
                )
                .into());
            };
            store.trust_sender(&user, &address).await?;
            println!(
                "{user} trusts {address}: its mail tagged as spam goes to the Inbox when its From is authenticated"
            );
            Ok(())
        }
        SpamCmd::Untrust { user, address } => {
            let user = known_user(store, &user).await?;
            let address = address.trim().to_ascii_lowercase();
            if store.untrust_sender(&user, &address).await? {
                println!("{user} no longer trusts {address}: its mail tagged as spam goes to Junk");
                Ok(())
            } else {
                Err(
                    format!("{user} does not trust {address} (see `rampart spam trusted {user}`)")
                        .into(),
                )
            }
        }
    }
}

/// `user` in lower case, when it is a user here.
async fn known_user(store: &AnyStore, user: &str) -> Result<String, Error> {
    let u = user.trim().to_ascii_lowercase();
    if store.users().await?.contains(&u) {
        Ok(u)
    } else {
        Err(format!("{u} is not a user here (see `rampart user list`)").into())
    }
}

async fn status(config: &Config, store: &AnyStore) -> Result<(), Error> {
    let cfg = &config.checks.spam.bayes;
    let scopes = store.spam_scopes().await?;
    if !scopes.iter().any(|(s, _)| s == GLOBAL) {
        println!("installation: 0 spam, 0 ham trained");
    }
    let marker = bayes::tokens::marker();
    for (scope, all) in scopes {
        // Only lessons of the current tokeniser version count (bayes::tokens::VERSION).
        let current = store.spam_token_counts(&scope, &[marker]).await?;
        let (spam, ham) = current
            .tokens
            .first()
            .map(|(_, s, h)| (*s, *h))
            .unwrap_or((0, 0));
        let who = if scope == GLOBAL {
            "installation".to_string()
        } else {
            scope
        };
        let state = if !cfg.enabled {
            "classifier disabled by configuration".to_string()
        } else if spam >= cfg.min_spam && ham >= cfg.min_ham {
            "in effect".to_string()
        } else {
            format!(
                "not yet in effect: needs {} spam and {} ham",
                cfg.min_spam, cfg.min_ham
            )
        };
        println!("{who}: {spam} spam, {ham} ham trained ({state})");
        let (old_spam, old_ham) = (all.spam.saturating_sub(spam), all.ham.saturating_sub(ham));
        if old_spam + old_ham > 0 {
            println!(
                "{who}: {old_spam} spam and {old_ham} ham trained with an older tokeniser no \
                 longer count (tokeniser version {}): retrain with `rampart spam train`, or \
                 by moving mail to and out of Junk",
                bayes::tokens::VERSION
            );
        }
    }
    Ok(())
}

async fn train_path(
    store: &AnyStore,
    user: Option<&str>,
    path: &Path,
    spam: bool,
    t: &mut Tally,
    batch: &mut Vec<(Vec<u8>, Vec<u64>, bool)>,
) -> Result<(), Error> {
    let mut files = Vec::new();
    collect(path, &mut files)?;
    files.sort();
    for f in files {
        let bytes = std::fs::read(&f).map_err(|e| format!("{}: {e}", f.display()))?;
        for raw in split_mbox(&bytes) {
            match bayes::lesson(&raw) {
                Some(l) => {
                    if batch.len() <= MAX_TUNE_LESSONS {
                        batch.push((l.digest.clone(), l.tokens.clone(), spam));
                    }
                    match train(store, user, l, spam).await? {
                        Trained::New => t.new += 1,
                        Trained::Already | Trained::Weighted => t.already += 1,
                        Trained::Reversed => t.reversed += 1,
                    }
                }
                None => t.unreadable += 1,
            }
        }
    }
    Ok(())
}

/// "Train until no errors" (AL-1.2, `bayes::tune`): with the whole batch learned once, the
/// messages the classifier still gets wrong (against the counts of the scope the batch is
/// reported in: the user's with `--user`, else the installation's) are counted again, pass
/// after pass, and their lessons' weights raised in every scope they were learned in. Not
/// while that scope is below the classifier's minimum: it has no errors to mend yet, and on a
/// handful of messages every one would be counted again.
async fn train_again(
    config: &Config,
    store: &AnyStore,
    user: Option<&str>,
    mut batch: Vec<(Vec<u8>, Vec<u64>, bool)>,
    passes: usize,
) -> Result<(), Error> {
    if passes == 0 || batch.is_empty() {
        return Ok(());
    }

    if batch.len() > MAX_TUNE_LESSONS {
        println!(
            "not trained again until no errors: more than {MAX_TUNE_LESSONS} messages in one \
             run (train in smaller batches for that)"
        );
        return Ok(());
    }
    // The order of the passes: by digest, so a run is the same whatever the files' order; a
    // message given twice is learned as its last lesson said.
    batch.sort_by(|a, b| a.0.cmp(&b.0));
    batch.dedup_by(|later, earlier| {
        let same = later.0 == earlier.0;
        if same {
            earlier.2 = later.2;
        }
        same
    });
    let mut union: Vec<u64> = batch
        .iter()
        .flat_map(|(_, t, _)| t.iter().copied())
        .collect();
    union.push(bayes::tokens::marker());
    union.sort_unstable();
    union.dedup();
    let scope = user.unwrap_or(GLOBAL);
    let counts = StoreTokens(store.clone())
        .counts(scope, &union)
        .await
        .map_err(|e| format!("reading the classifier's counts: {e}"))?;
    let (mut counts, _) = bayes::current(counts);
    let cfg = &config.checks.spam.bayes;
    if counts.spam_messages < cfg.min_spam || counts.ham_messages < cfg.min_ham {
        println!(
            "not trained again until no errors: the classifier is not yet in effect (needs {} \
             spam and {} ham)",
            cfg.min_spam, cfg.min_ham
        );
        return Ok(());
    }
    let lessons: Vec<(&[u64], bool)> = batch.iter().map(|(_, t, s)| (t.as_slice(), *s)).collect();
    let again = bayes::tune(&mut counts, &lessons, passes);
    let mut times = 0u32;
    let mut messages = 0usize;
    for ((digest, tokens, spam), n) in batch.iter().zip(&again) {
        if *n == 0 {
            continue;
        }
        messages += 1;
        times += n;
        let weight = 1 + n;
        for s in std::iter::once(GLOBAL).chain(user) {
            store
                .spam_train(Lesson {
                    scope: s.to_string(),
                    digest: digest.clone(),
                    spam: *spam,
                    tokens: tokens.clone(),
                    weight,
                })
                .await?;
        }
    }
    println!(
        "trained again until no errors: {messages} message(s) the classifier still got wrong, \
         {times} more time(s) in all"
    );
    Ok(())
}

/// Learns one message in the installation's counts and, with a user, in the user's; the
/// outcome reported is the user's when there is one.
pub async fn train(
    store: &AnyStore,
    user: Option<&str>,
    l: bayes::Lesson,
    spam: bool,
) -> Result<Trained, Error> {
    let lesson = |scope: &str| Lesson {
        scope: scope.to_string(),
        digest: l.digest.clone(),
        spam,
        tokens: l.tokens.clone(),
        weight: 1,
    };
    let global = store.spam_train(lesson(GLOBAL)).await?;
    match user {
        Some(u) => Ok(store.spam_train(lesson(u)).await?),
        None => Ok(global),
    }
}

pub(crate) fn collect(path: &Path, out: &mut Vec<PathBuf>) -> Result<(), Error> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.is_file() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    let entries = std::fs::read_dir(path).map_err(|e| format!("{}: {e}", path.display()))?;
    for e in entries {
        let e = e.map_err(|e| format!("{}: {e}", path.display()))?;
        let p = e.path();
        // Hidden files (editor swap files, .DS_Store, cmds) are not messages.
        if e.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        collect(&p, out)?;
    }
    Ok(())
}

/// One file's messages: an mbox (first line "From ") split on its "From " lines with ">From "
/// quoting undone, or the file as one message.
pub(crate) fn split_mbox(bytes: &[u8]) -> Vec<Vec<u8>> {
    if !bytes.starts_with(b"From ") {
        return vec![bytes.to_vec()];
    }
    let mut out = Vec::new();
    let mut current: Option<Vec<u8>> = None;
    for line in bytes.split_inclusive(|b| *b == b'\n') {
        if line.starts_with(b"From ") {
            out.extend(current.take().filter(|m| !m.is_empty()));
            current = Some(Vec::new());
            continue;
        }
        // mboxrd: ">From ", ">>From " lose one '>'.
        let quotes = line.iter().take_while(|b| **b == b'>').count();
        let line = if quotes > 0 && line[quotes..].starts_with(b"From ") {
            &line[1..]
        } else {
            line
        };
        if let Some(m) = current.as_mut() {
            m.extend_from_slice(line);
        }
    }
    out.extend(current.filter(|m| !m.is_empty()));
    out
}

#[cfg(test)]
mod tests {
    use super::split_mbox;

    #[test]
    fn mbox_split_on_from_lines_and_unquoted() {
        let mbox = b"From a@b Mon Jan 1 00:00:00 2024\nSubject: one\n\nbody\n>From here\n\nFrom c@d Tue Jan 2 00:00:00 2024\nSubject: two\n\nx\n";
        let m = split_mbox(mbox);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0], b"Subject: one\n\nbody\nFrom here\n\n");
        assert_eq!(m[1], b"Subject: two\n\nx\n");
        assert_eq!(
            split_mbox(b"Subject: x\n\ny\n").len(),
            1,
            "one message per file"
        );
    }
}
