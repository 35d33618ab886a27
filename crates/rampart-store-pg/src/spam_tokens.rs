//! SpamTokens on PostgreSQL: what the spam classifier learned (AL-1.2), one set for every node,
//! so a message a user moves to Junk through one node teaches the classifier of all.
//!
//! The same rules as the embedded store ([`rampart_store::spam_tokens`]): a message trained twice
//! the same way counts once, trained the other way takes back its first lesson. Lessons of one
//! message in one scope are decided under a transaction-scoped advisory lock of (scope, digest),
//! so two nodes training it at once cannot both count it. Token counts are updated in ascending
//! token order, so two lessons sharing tokens lock their rows in the same order. Token hashes are
//! kept as BIGINT with their 64 bits as they are, and a lesson's tokens packed as in the embedded
//! store (8 bytes little-endian each), so rows move between the two unchanged.

use crate::{db, PgStore};
use async_trait::async_trait;
use rampart_store::spam_tokens::{
    outcome, weight_of, Lesson, SpamTokens, TokenCounts, Trained, TrainedCounts,
    MAX_TOKENS_PER_LESSON,
};
use rampart_store::{now_micros, Result, StoreError};
use std::collections::HashMap;
use tokio_postgres::Transaction;

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

/// The tokens as the database keeps them (the same bits, signed), in ascending order.
fn as_db(tokens: &[u64]) -> Vec<i64> {
    let mut v: Vec<i64> = tokens.iter().map(|t| *t as i64).collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// Adds `delta` (± a lesson's weight) to the spam or ham count of each token; rows that reach
/// zero go.
async fn count_tokens(
    tx: &Transaction<'_>,
    scope: &str,
    tokens: &[u64],
    spam: bool,
    delta: i64,
) -> Result<()> {
    let (ds, dh) = if spam { (delta, 0i64) } else { (0i64, delta) };
    tx.execute(
        "INSERT INTO spam_tokens(scope, token, spam, ham)
         SELECT $1, t, GREATEST($3::bigint, 0), GREATEST($4::bigint, 0)
         FROM unnest($2::bigint[]) AS t ORDER BY t
         ON CONFLICT (scope, token) DO UPDATE SET
           spam = GREATEST(spam_tokens.spam + $3::bigint, 0),
           ham = GREATEST(spam_tokens.ham + $4::bigint, 0)",
        &[&scope, &as_db(tokens), &ds, &dh],
    )
    .await
    .map_err(db)?;
    tx.execute(
        "DELETE FROM spam_tokens WHERE scope = $1 AND token = ANY($2) AND spam = 0 AND ham = 0",
        &[&scope, &as_db(tokens)],
    )
    .await
    .map_err(db)?;
    Ok(())
}

fn counts(spam: i64, ham: i64) -> TrainedCounts {
    TrainedCounts {
        spam: spam.max(0) as u64,
        ham: ham.max(0) as u64,
    }
}

#[async_trait]
impl SpamTokens for PgStore {
    async fn spam_train(&self, lesson: Lesson) -> Result<Trained> {
        if lesson.digest.is_empty() {
            return Err(StoreError::Invalid(
                "a lesson needs the message's digest".into(),
            ));
        }
        let scope = scope_key(&lesson.scope);
        let mut tokens = lesson.tokens;
        tokens.sort_unstable();
        tokens.dedup();
        tokens.truncate(MAX_TOKENS_PER_LESSON);
        let (spam, digest) = (lesson.spam, lesson.digest);
        let weight = weight_of(lesson.weight);
        let mut c = self.conn(&self.sessions).await?;
        let tx = c.transaction().await.map_err(db)?;
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1 || ':' || encode($2, 'hex'), 1))",
            &[&scope, &digest],
        )
        .await
        .map_err(db)?;
        let before = tx
            .query_opt(
                "SELECT spam, tokens, weight::bigint FROM spam_lessons
                 WHERE scope = $1 AND digest = $2",
                &[&scope, &digest],
            )
            .await
            .map_err(db)?
            .map(|r| {
                (
                    r.get::<_, bool>(0),
                    r.get::<_, Vec<u8>>(1),
                    r.get::<_, i64>(2),
                )
            });
        let Some(outcome) = outcome(before.as_ref().map(|(s, _, w)| (*s, *w)), spam, weight) else {
            return Ok(Trained::Already);
        };
        // Take back exactly what the earlier lesson taught, as many times as it counted.
        if let Some((was, old, w)) = before {
            count_tokens(&tx, &scope, &unpack(&old), was, -w).await?;
        }
        count_tokens(&tx, &scope, &tokens, spam, weight).await?;
        tx.execute(
            "INSERT INTO spam_lessons(scope, digest, spam, tokens, at, weight)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (scope, digest) DO UPDATE SET spam = excluded.spam,
               tokens = excluded.tokens, at = excluded.at, weight = excluded.weight",
            &[
                &scope,
                &digest,
                &spam,
                &pack(&tokens),
                &now_micros(),
                &(weight as i32),
            ],
        )
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(outcome)
    }

    async fn spam_token_counts(&self, scope: &str, tokens: &[u64]) -> Result<TokenCounts> {
        let scope = scope_key(scope);
        let c = self.conn(&self.sessions).await?;
        let row = c
            .query_one(
                "SELECT coalesce(sum(spam::int * weight), 0)::bigint,
                        coalesce(sum((1 - spam::int) * weight), 0)::bigint
                 FROM spam_lessons WHERE scope = $1",
                &[&scope],
            )
            .await
            .map_err(db)?;
        let trained = counts(row.get(0), row.get(1));
        let rows = c
            .query(
                "SELECT token, spam, ham FROM spam_tokens WHERE scope = $1 AND token = ANY($2)",
                &[&scope, &as_db(tokens)],
            )
            .await
            .map_err(db)?;
        let found: HashMap<i64, (i64, i64)> = rows
            .iter()
            .map(|r| (r.get(0), (r.get(1), r.get(2))))
            .collect();
        // In the order asked, as the embedded store answers.
        let tokens = tokens
            .iter()
            .filter_map(|t| {
                found
                    .get(&(*t as i64))
                    .map(|(s, h)| (*t, (*s).max(0) as u64, (*h).max(0) as u64))
            })
            .collect();
        Ok(TokenCounts { trained, tokens })
    }

    async fn spam_scopes(&self) -> Result<Vec<(String, TrainedCounts)>> {
        let c = self.conn(&self.sessions).await?;
        let rows = c
            .query(
                "SELECT scope, sum(spam::int * weight)::bigint,
                        sum((1 - spam::int) * weight)::bigint
                 FROM spam_lessons GROUP BY scope ORDER BY scope COLLATE \"C\"",
                &[],
            )
            .await
            .map_err(db)?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), counts(r.get(1), r.get(2))))
            .collect())
    }
}
