//! What the spam classifier learned (AL-1.2): per scope, how many spam and ham messages were
//! trained and how often each token appeared in each kind.
//!
//! A scope is the installation (`""`, [`GLOBAL`]) or one user (the address, lower case): the
//! installation learns from every lesson, a user's scope from that user's own moves to and out
//! of Junk. Tokens are 64-bit hashes computed by the classifier (rampart-checks' `spam::bayes`);
//! nothing here knows how a message is read.
//!
//! Every trained message is remembered by a digest with the tokens it taught, so the same message
//! trained twice the same way changes nothing, and trained the other way first takes back what it
//! taught before ([`Trained::Reversed`]).

use crate::shared::write;
use crate::sqlite::Sqlite;
use crate::{Result, Store};
use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};

/// The installation-wide scope.
pub const GLOBAL: &str = "";

/// At most this many tokens are kept per lesson (the classifier sends fewer).
pub const MAX_TOKENS_PER_LESSON: usize = 4096;

pub(crate) const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS spam_lessons (
    scope TEXT NOT NULL,
    digest BLOB NOT NULL,
    spam INTEGER NOT NULL,
    tokens BLOB NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (scope, digest)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS spam_tokens (
    scope TEXT NOT NULL,
    token INTEGER NOT NULL,
    spam INTEGER NOT NULL,
    ham INTEGER NOT NULL,
    PRIMARY KEY (scope, token)
) WITHOUT ROWID;
"#;

/// One message to learn from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lesson {
    /// Where it is learned: [`GLOBAL`] or a user's address.
    pub scope: String,
    /// Identifies the message (the classifier's digest of it).
    pub digest: Vec<u8>,
    pub spam: bool,
    /// Its distinct tokens.
    pub tokens: Vec<u64>,
}

/// What a lesson did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trained {
    /// A message not trained before in this scope.
    New,
    /// Trained before the same way: nothing changed.
    Already,
    /// Trained before the other way: that lesson was taken back and this one learned.
    Reversed,
}

/// How many messages of each kind a scope was trained with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrainedCounts {
    pub spam: u64,
    pub ham: u64,
}

/// A scope's counts and the counts of the tokens asked about (tokens never seen are absent).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenCounts {
    pub trained: TrainedCounts,
    /// (token, spam count, ham count).
    pub tokens: Vec<(u64, u64, u64)>,
}

/// The store's part of the spam classifier.
#[async_trait]
pub trait SpamTokens: Send + Sync {
    /// Learns one message in its scope (see [`Trained`]).
    async fn spam_train(&self, lesson: Lesson) -> Result<Trained>;
    /// The scope's trained counts and the counts of `tokens` in it.
    async fn spam_token_counts(&self, scope: &str, tokens: &[u64]) -> Result<TokenCounts>;
    /// Every scope that was trained, with its counts, the installation first.
    async fn spam_scopes(&self) -> Result<Vec<(String, TrainedCounts)>>;
}

/// At most this many tokens are looked up on the calling task rather than the blocking pool.
const POINT_READ_TOKENS: usize = 2;

fn scope_key(scope: &str) -> String {
    scope.trim().to_ascii_lowercase()
}

fn pack(tokens: &[u64]) -> Vec<u8> {
    tokens.iter().flat_map(|t| t.to_le_bytes()).collect()
}

fn unpack(blob: &[u8]) -> Vec<u64> {
    blob.chunks_exact(8)
        .map(|c| {
            let mut b = [0u8; 8];
            b.copy_from_slice(c);
            u64::from_le_bytes(b)
        })
        .collect()
}

/// Adds `delta` (±1) to the spam or ham count of each token; rows that reach zero go.
fn count_tokens(
    tx: &rusqlite::Transaction,
    scope: &str,
    tokens: &[u64],
    spam: bool,
    delta: i64,
) -> Result<()> {
    let (ds, dh) = if spam { (delta, 0) } else { (0, delta) };
    let mut up = tx.prepare_cached(
        "INSERT INTO spam_tokens(scope, token, spam, ham) VALUES (?1, ?2, max(?3, 0), max(?4, 0))
         ON CONFLICT(scope, token) DO UPDATE SET spam = max(spam + ?3, 0), ham = max(ham + ?4, 0)",
    )?;
    for t in tokens {
        // SQLite integers are signed; the bits are kept as they are.
        up.execute(params![scope, *t as i64, ds, dh])?;
    }
    tx.prepare_cached("DELETE FROM spam_tokens WHERE scope = ?1 AND spam = 0 AND ham = 0")?
        .execute([scope])?;
    Ok(())
}

impl Store {
    fn spam_counts(c: &rusqlite::Connection, scope: &str) -> Result<TrainedCounts> {
        let (spam, ham): (i64, i64) = c
            .prepare_cached(
                "SELECT coalesce(sum(spam), 0), coalesce(sum(1 - spam), 0)
                 FROM spam_lessons WHERE scope = ?1",
            )?
            .query_row([scope], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(TrainedCounts {
            spam: spam.max(0) as u64,
            ham: ham.max(0) as u64,
        })
    }

    /// The scope's counts and those of `tokens` (read-only: for `rampart spam status`).
    pub fn spam_token_counts(&self, scope: &str, tokens: &[u64]) -> Result<TokenCounts> {
        let scope = scope_key(scope);
        self.read(|c| {
            let trained = Self::spam_counts(c, &scope)?;
            let mut st = c.prepare_cached(
                "SELECT spam, ham FROM spam_tokens WHERE scope = ?1 AND token = ?2",
            )?;
            let mut out = Vec::new();
            for t in tokens {
                let row: Option<(i64, i64)> = st
                    .query_row(params![scope, *t as i64], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()?;
                if let Some((s, h)) = row {
                    out.push((*t, s.max(0) as u64, h.max(0) as u64));
                }
            }
            Ok(TokenCounts {
                trained,
                tokens: out,
            })
        })
    }

    /// Every trained scope with its counts, the installation first.
    pub fn spam_scopes(&self) -> Result<Vec<(String, TrainedCounts)>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT scope, sum(spam), sum(1 - spam) FROM spam_lessons
                 GROUP BY scope ORDER BY scope",
            )?;
            let rows = st.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    TrainedCounts {
                        spam: r.get::<_, i64>(1)?.max(0) as u64,
                        ham: r.get::<_, i64>(2)?.max(0) as u64,
                    },
                ))
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }
}

#[async_trait]
impl SpamTokens for Sqlite {
    async fn spam_train(&self, lesson: Lesson) -> Result<Trained> {
        if lesson.digest.is_empty() {
            return Err(crate::StoreError::Invalid(
                "a lesson needs the message's digest".into(),
            ));
        }
        let scope = scope_key(&lesson.scope);
        let mut tokens = lesson.tokens;
        tokens.sort_unstable();
        tokens.dedup();
        tokens.truncate(MAX_TOKENS_PER_LESSON);
        let spam = lesson.spam;
        let digest = lesson.digest;
        write(self.writer(), move |tx| {
            let before: Option<(bool, Vec<u8>)> = tx
                .prepare_cached("SELECT spam, tokens FROM spam_lessons WHERE scope = ?1 AND digest = ?2")?
                .query_row(params![scope, digest], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            let outcome = match before {
                Some((was, _)) if was == spam => return Ok(Trained::Already),
                // Take back exactly what the earlier lesson taught.
                Some((was, old)) => {
                    count_tokens(tx, &scope, &unpack(&old), was, -1)?;
                    Trained::Reversed
                }
                None => Trained::New,
            };
            count_tokens(tx, &scope, &tokens, spam, 1)?;
            tx.prepare_cached(
                "INSERT INTO spam_lessons(scope, digest, spam, tokens, at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(scope, digest) DO UPDATE SET spam = excluded.spam,
                   tokens = excluded.tokens, at = excluded.at",
            )?
            .execute(params![scope, digest, spam, pack(&tokens), crate::now_micros()])?;
            Ok(outcome)
        })
        .await
    }

    async fn spam_token_counts(&self, scope: &str, tokens: &[u64]) -> Result<TokenCounts> {
        // Whether a scope is trained is asked of every message (its marker token alone): a
        // point read, made on the calling task like the other per-message lookups. A
        // message's hundreds of tokens go to the blocking pool.
        if tokens.len() <= POINT_READ_TOKENS {
            return self.read_now(|s| s.spam_token_counts(scope, tokens));
        }
        let scope = scope.to_string();
        let tokens = tokens.to_vec();
        self.read(move |s| s.spam_token_counts(&scope, &tokens))
            .await
    }

    async fn spam_scopes(&self) -> Result<Vec<(String, TrainedCounts)>> {
        self.read(|s| s.spam_scopes()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_pack_and_unpack() {
        let t = vec![0, 1, u64::MAX, 1 << 63];
        assert_eq!(unpack(&pack(&t)), t);
    }
}
