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
//! taught before ([`Trained::Reversed`]). A lesson has a weight, the times it is counted: 1, or
//! more when `rampart spam train` trains a message again that the classifier still got wrong
//! ("train until no errors", `bayes::tune`); a weight is only ever raised the same way, and a
//! lesson the other way takes back all of it.

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
    weight INTEGER NOT NULL DEFAULT 1,
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
    /// How many times it is counted (at least 1; see the module's documentation).
    pub weight: u32,
}

/// The weight a lesson is counted with: at least 1, at most [`MAX_WEIGHT`].
pub fn weight_of(w: u32) -> i64 {
    i64::from(w.clamp(1, MAX_WEIGHT))
}

/// The most times one lesson is counted.
pub const MAX_WEIGHT: u32 = 64;

/// What a lesson did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trained {
    /// A message not trained before in this scope.
    New,
    /// Trained before the same way: nothing changed.
    Already,
    /// Trained before the other way: that lesson was taken back and this one learned.
    Reversed,
    /// Trained before the same way with a lower weight: now counted more times.
    Weighted,
}

/// What a lesson does, given the one stored for its message (spam, weight), if any; None when
/// it changes nothing ([`Trained::Already`]). Both stores decide with this.
pub fn outcome(before: Option<(bool, i64)>, spam: bool, weight: i64) -> Option<Trained> {
    match before {
        None => Some(Trained::New),
        Some((was, w)) if was == spam && w >= weight => None,
        Some((was, _)) if was == spam => Some(Trained::Weighted),
        Some(_) => Some(Trained::Reversed),
    }
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

/// A data directory made before lessons had weights: each of its lessons counted once.
pub(crate) fn migrate(conn: &rusqlite::Connection) -> Result<()> {
    let has: bool = conn
        .prepare("SELECT 1 FROM pragma_table_info('spam_lessons') WHERE name = 'weight'")?
        .exists([])?;
    if !has {
        conn.execute_batch(
            "ALTER TABLE spam_lessons ADD COLUMN weight INTEGER NOT NULL DEFAULT 1",
        )?;
    }
    Ok(())
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

/// Adds `delta` (± a lesson's weight) to the spam or ham count of each token; rows that reach
/// zero go.
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
                "SELECT coalesce(sum(spam * weight), 0), coalesce(sum((1 - spam) * weight), 0)
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
                "SELECT scope, sum(spam * weight), sum((1 - spam) * weight) FROM spam_lessons
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
        let weight = weight_of(lesson.weight);
        write(self.writer(), move |tx| {
            let before: Option<(bool, Vec<u8>, i64)> = tx
                .prepare_cached(
                    "SELECT spam, tokens, weight FROM spam_lessons WHERE scope = ?1 AND digest = ?2",
                )?
                .query_row(params![scope, digest], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .optional()?;
            let Some(outcome) = outcome(before.as_ref().map(|(s, _, w)| (*s, *w)), spam, weight)
            else {
                return Ok(Trained::Already);
            };
            // Take back exactly what the earlier lesson taught, as many times as it counted.
            if let Some((was, old, w)) = before {
                count_tokens(tx, &scope, &unpack(&old), was, -w)?;
            }
            count_tokens(tx, &scope, &tokens, spam, weight)?;
            tx.prepare_cached(
                "INSERT INTO spam_lessons(scope, digest, spam, tokens, at, weight)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT(scope, digest) DO UPDATE SET spam = excluded.spam,
                   tokens = excluded.tokens, at = excluded.at, weight = excluded.weight",
            )?
            .execute(params![scope, digest, spam, pack(&tokens), crate::now_micros(), weight])?;
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

    /// A data directory from before lessons had weights: its lessons count once, and the
    /// migration runs once.
    #[test]
    fn lessons_of_before_weights_count_once() {
        let c = rusqlite::Connection::open_in_memory().unwrap();
        c.execute_batch(
            "CREATE TABLE spam_lessons (scope TEXT NOT NULL, digest BLOB NOT NULL,
               spam INTEGER NOT NULL, tokens BLOB NOT NULL, at INTEGER NOT NULL,
               PRIMARY KEY (scope, digest)) WITHOUT ROWID;
             INSERT INTO spam_lessons VALUES ('', x'01', 1, x'', 0), ('', x'02', 0, x'', 0);",
        )
        .unwrap();
        migrate(&c).unwrap();
        migrate(&c).unwrap();
        assert_eq!(
            Store::spam_counts(&c, "").unwrap(),
            TrainedCounts { spam: 1, ham: 1 }
        );
    }

    #[test]
    fn a_weight_is_raised_only_the_same_way() {
        assert_eq!(outcome(None, true, 1), Some(Trained::New));
        assert_eq!(outcome(Some((true, 1)), true, 1), None);
        assert_eq!(outcome(Some((true, 3)), true, 2), None);
        assert_eq!(outcome(Some((true, 1)), true, 2), Some(Trained::Weighted));
        assert_eq!(outcome(Some((true, 5)), false, 1), Some(Trained::Reversed));
        assert_eq!(weight_of(0), 1);
        assert_eq!(weight_of(u32::MAX), i64::from(MAX_WEIGHT));
    }
}
