//! The webmail's sign-in sessions: a browser holds a random token in a cookie; the store keeps
//! only its SHA-256 (as for API tokens: 256 random bits need no slow hash), with the account,
//! when it began and when it was last used. A session ends on logout, after `idle` without a
//! request, after `max_age` whatever happens, and when its account is disabled.
//!
//! The page's CSRF token is derived from the session token ([`csrf_token`]): whoever can read it
//! already holds the cookie, and nothing more is stored.

use crate::sqlite::Sqlite;
use crate::{now_micros, Result, Store};
use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};

pub(crate) const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS web_sessions (
    hash TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    created INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    client TEXT,
    user_agent TEXT
);
CREATE INDEX IF NOT EXISTS web_sessions_account ON web_sessions(account);
"#;

/// A session's last use is written at most this often, in microseconds (a minute): the idle
/// timeout is counted from it, so it is late by at most this much.
pub const SEEN_RECORDED_EVERY: i64 = 60 * 1_000_000;

/// How stale a session's recorded last use may grow under `limits`: a minute, or a quarter of
/// a shorter idle timeout. Were it a full minute under an idle timeout below a minute, a
/// session in steady use would be taken for idle and ended.
pub fn seen_recorded_every(limits: SessionLimits) -> i64 {
    SEEN_RECORDED_EVERY.min(limits.idle / 4)
}

/// Prefix of a session token, so that a reader (or a secret scanner) knows one.
pub const SESSION_PREFIX: &str = "rps_";

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn sha256_hex(s: &str) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, s.as_bytes()).as_ref())
}

/// What the store keeps of a session token: its SHA-256 in hex (for other backends).
pub fn session_hash(token: &str) -> String {
    sha256_hex(token)
}

/// The CSRF token of the session whose token is `session`: the page sends it back with every
/// request that changes something.
pub fn csrf_token(session: &str) -> String {
    sha256_hex(&format!("rampart csrf\0{session}"))
}

/// How long sessions last, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimits {
    /// Ends a session this long after its last request.
    pub idle: i64,
    /// Ends a session this long after it began.
    pub max_age: i64,
}

/// What a presented session token is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionCheck {
    Valid {
        account: String,
    },
    /// Never created, ended, or pruned.
    Unknown,
    /// Idle too long or too old: ended now.
    Expired {
        account: String,
    },
    /// The account is disabled or removed: ended now.
    Disabled {
        account: String,
    },
}

impl Store {
    /// A new session for `account`: its token (the cookie's value, seen only here).
    pub fn web_session_create(
        &self,
        account: &str,
        client: Option<&str>,
        user_agent: Option<&str>,
        now: i64,
    ) -> Result<String> {
        create(&self.admin_connection()?, account, client, user_agent, now)
    }

    /// Ends one session; the account it was for, if it existed.
    pub fn web_session_end(&self, token: &str) -> Result<Option<String>> {
        end(&self.admin_connection()?, token)
    }

    /// Ends every session of `account` (disabled, password changed); how many.
    pub fn web_sessions_end_all(&self, account: &str) -> Result<usize> {
        end_all(&self.admin_connection()?, account)
    }

    /// Checks `token` at `now`; the session's row and the account's state as a read. Returns
    /// the check and whether the session's last use is due to be written.
    fn web_session_read(
        &self,
        token: &str,
        limits: SessionLimits,
        now: i64,
    ) -> Result<(SessionCheck, bool)> {
        if !token.starts_with(SESSION_PREFIX) {
            return Ok((SessionCheck::Unknown, false));
        }
        let hash = sha256_hex(token);
        let row: Option<(String, i64, i64, Option<bool>)> = self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT s.account, s.created, s.last_seen, u.disabled
                 FROM web_sessions s LEFT JOIN users u ON u.address = s.account
                 WHERE s.hash = ?1",
            )?;
            Ok(st
                .query_row([hash], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                .optional()?)
        })?;
        let Some((account, created, last_seen, disabled)) = row else {
            return Ok((SessionCheck::Unknown, false));
        };
        if disabled.unwrap_or(true) {
            return Ok((SessionCheck::Disabled { account }, false));
        }
        if now - last_seen > limits.idle || now - created > limits.max_age {
            return Ok((SessionCheck::Expired { account }, false));
        }
        Ok((
            SessionCheck::Valid { account },
            now - last_seen >= seen_recorded_every(limits),
        ))
    }

    /// Removes sessions past either limit; how many.
    pub fn web_sessions_prune(&self, limits: SessionLimits, now: i64) -> Result<usize> {
        prune(&self.admin_connection()?, limits, now)
    }
}

// The writes, on the administrator's connection ([`Store`], the CLI) or in the server's writer
// thread ([`Sqlite`]): a server writing on a connection of its own beside the writer makes the
// writer's group commit fail with "database is locked".

fn create(
    c: &Connection,
    account: &str,
    client: Option<&str>,
    user_agent: Option<&str>,
    now: i64,
) -> Result<String> {
    let token = format!("{SESSION_PREFIX}{}", hex(&crate::random_bytes::<32>()));
    c.execute(
        "INSERT INTO web_sessions(hash, account, created, last_seen, client, user_agent)
         VALUES (?1, ?2, ?3, ?3, ?4, ?5)",
        params![
            sha256_hex(&token),
            account.to_ascii_lowercase(),
            now,
            client,
            user_agent
        ],
    )?;
    Ok(token)
}

fn end(c: &Connection, token: &str) -> Result<Option<String>> {
    Ok(c.query_row(
        "DELETE FROM web_sessions WHERE hash = ?1 RETURNING account",
        [sha256_hex(token)],
        |r| r.get(0),
    )
    .optional()?)
}

fn end_all(c: &Connection, account: &str) -> Result<usize> {
    Ok(c.execute(
        "DELETE FROM web_sessions WHERE account = ?1",
        [account.to_ascii_lowercase()],
    )?)
}

fn prune(c: &Connection, limits: SessionLimits, now: i64) -> Result<usize> {
    Ok(c.execute(
        "DELETE FROM web_sessions WHERE last_seen < ?1 OR created < ?2",
        params![now - limits.idle, now - limits.max_age],
    )?)
}

/// The webmail's sessions. Part of [`crate::Backend`].
#[async_trait]
pub trait WebSessions: Send + Sync {
    /// Begins a session; returns its token.
    async fn web_session_create(
        &self,
        account: &str,
        client: Option<String>,
        user_agent: Option<String>,
    ) -> Result<String>;
    /// What `token` is now; a valid session's last use is brought up to date (at most once a
    /// minute), an expired or disabled one is ended.
    async fn web_session_check(&self, token: &str, limits: SessionLimits) -> Result<SessionCheck>;
    /// What `token` is now, changing nothing: not a use of the session (a push connection
    /// asking whether its session still stands must not keep it from going idle), and an
    /// expired one is left for [`WebSessions::web_session_check`] or the pruning to end.
    async fn web_session_peek(&self, token: &str, limits: SessionLimits) -> Result<SessionCheck>;
    /// Ends the session (logout); the account it was for.
    async fn web_session_end(&self, token: &str) -> Result<Option<String>>;
    /// Ends every session of the account.
    async fn web_sessions_end_all(&self, account: &str) -> Result<usize>;
    /// Removes expired sessions.
    async fn web_sessions_prune(&self, limits: SessionLimits) -> Result<usize>;
}

#[async_trait]
impl WebSessions for Sqlite {
    async fn web_session_create(
        &self,
        account: &str,
        client: Option<String>,
        user_agent: Option<String>,
    ) -> Result<String> {
        let a = account.to_owned();
        let now = now_micros();
        crate::shared::write(self.writer(), move |tx| {
            create(tx, &a, client.as_deref(), user_agent.as_deref(), now)
        })
        .await
    }

    async fn web_session_check(&self, token: &str, limits: SessionLimits) -> Result<SessionCheck> {
        let t = token.to_owned();
        let now = now_micros();
        let (check, due) = self
            .read(move |s| s.web_session_read(&t, limits, now))
            .await?;
        let hash = sha256_hex(token);
        match &check {
            SessionCheck::Valid { .. } if due => {
                crate::shared::write(self.writer(), move |tx| {
                    tx.execute(
                        "UPDATE web_sessions SET last_seen = ?1 WHERE hash = ?2",
                        params![now, hash],
                    )?;
                    Ok(())
                })
                .await?;
            }
            SessionCheck::Expired { .. } | SessionCheck::Disabled { .. } => {
                crate::shared::write(self.writer(), move |tx| {
                    tx.execute("DELETE FROM web_sessions WHERE hash = ?1", [hash])?;
                    Ok(())
                })
                .await?;
            }
            _ => {}
        }
        Ok(check)
    }

    async fn web_session_peek(&self, token: &str, limits: SessionLimits) -> Result<SessionCheck> {
        let t = token.to_owned();
        let now = now_micros();
        let (check, _) = self
            .read(move |s| s.web_session_read(&t, limits, now))
            .await?;
        Ok(check)
    }

    async fn web_session_end(&self, token: &str) -> Result<Option<String>> {
        let t = token.to_owned();
        crate::shared::write(self.writer(), move |tx| end(tx, &t)).await
    }

    async fn web_sessions_end_all(&self, account: &str) -> Result<usize> {
        let a = account.to_owned();
        crate::shared::write(self.writer(), move |tx| end_all(tx, &a)).await
    }

    async fn web_sessions_prune(&self, limits: SessionLimits) -> Result<usize> {
        let now = now_micros();
        crate::shared::write(self.writer(), move |tx| prune(tx, limits, now)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::tempdir;

    const LIMITS: SessionLimits = SessionLimits {
        idle: 30 * 60 * 1_000_000,
        max_age: 12 * 3600 * 1_000_000,
    };

    fn store() -> (Store, tempdir::Dir) {
        let d = tempdir::Dir::new();
        let s = Store::open(d.path()).unwrap();
        s.add_domain("example.test").unwrap();
        s.add_user("alice@example.test", "correct horse battery")
            .unwrap();
        (s, d)
    }

    #[test]
    fn sessions_are_random_stored_hashed_and_end_on_logout() {
        let (s, _d) = store();
        let now = now_micros();
        let t1 = s
            .web_session_create("Alice@example.test", None, None, now)
            .unwrap();
        let t2 = s
            .web_session_create("alice@example.test", None, None, now)
            .unwrap();
        assert_ne!(t1, t2);
        assert!(t1.starts_with(SESSION_PREFIX) && t1.len() == 4 + 64);
        let stored: Vec<String> = s
            .read(|c| {
                let mut st = c.prepare("SELECT hash FROM web_sessions")?;
                let v = st
                    .query_map([], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?;
                Ok(v)
            })
            .unwrap();
        assert!(!stored.contains(&t1) && stored.contains(&sha256_hex(&t1)));
        let (c, _) = s.web_session_read(&t1, LIMITS, now).unwrap();
        assert_eq!(
            c,
            SessionCheck::Valid {
                account: "alice@example.test".into()
            }
        );
        assert_eq!(
            s.web_session_end(&t1).unwrap().as_deref(),
            Some("alice@example.test")
        );
        assert_eq!(
            s.web_session_read(&t1, LIMITS, now).unwrap().0,
            SessionCheck::Unknown
        );
        // The other session stands until its own end.
        assert!(matches!(
            s.web_session_read(&t2, LIMITS, now).unwrap().0,
            SessionCheck::Valid { .. }
        ));
        assert_eq!(
            s.web_session_read("rps_guess", LIMITS, now).unwrap().0,
            SessionCheck::Unknown
        );
    }

    #[test]
    fn sessions_expire_when_idle_or_old_and_with_their_account() {
        let (s, _d) = store();
        let now = now_micros();
        let t = s
            .web_session_create("alice@example.test", None, None, now)
            .unwrap();
        let idle_later = now + LIMITS.idle + 1;
        assert!(matches!(
            s.web_session_read(&t, LIMITS, idle_later).unwrap().0,
            SessionCheck::Expired { .. }
        ));
        let (_, due) = s.web_session_read(&t, LIMITS, now + 1).unwrap();
        assert!(!due, "last use is written at most once a minute");
        assert!(
            s.web_session_read(&t, LIMITS, now + SEEN_RECORDED_EVERY)
                .unwrap()
                .1
        );
        assert_eq!(s.web_sessions_prune(LIMITS, idle_later).unwrap(), 1);
        let t = s
            .web_session_create("alice@example.test", None, None, now)
            .unwrap();
        // A disabled account's sessions end with it.
        s.set_disabled("alice@example.test", true).unwrap();
        assert_eq!(
            s.web_session_read(&t, LIMITS, now).unwrap().0,
            SessionCheck::Unknown
        );
        s.set_disabled("alice@example.test", false).unwrap();
        s.web_session_create("alice@example.test", None, None, now)
            .unwrap();
        assert_eq!(s.web_sessions_end_all("alice@example.test").unwrap(), 1);
    }

    #[test]
    fn al_4_1_a_session_ends_at_its_longest_age_however_busy() {
        let (s, _d) = store();
        let now = now_micros();
        let t = s
            .web_session_create("alice@example.test", None, None, now)
            .unwrap();
        let late = now + LIMITS.max_age + 1;
        // Used a moment before: not idle, only too old.
        s.admin_connection()
            .unwrap()
            .execute("UPDATE web_sessions SET last_seen = ?1", [late - 1])
            .unwrap();
        assert!(matches!(
            s.web_session_read(&t, LIMITS, late - 2).unwrap().0,
            SessionCheck::Valid { .. }
        ));
        assert!(matches!(
            s.web_session_read(&t, LIMITS, late).unwrap().0,
            SessionCheck::Expired { .. }
        ));
        assert_eq!(s.web_sessions_prune(LIMITS, late).unwrap(), 1);
    }

    #[test]
    fn al_4_1_a_short_idle_timeout_does_not_end_a_session_in_use() {
        let (s, _d) = store();
        let now = now_micros();
        let t = s
            .web_session_create("alice@example.test", None, None, now)
            .unwrap();
        let short = SessionLimits {
            idle: 2_000_000,
            ..LIMITS
        };
        // A request 0.6 s in must bring the last use up to date: were it left for a minute,
        // the next request 1.5 s later would find the session idle for 2.1 s and end it.
        let (c, due) = s.web_session_read(&t, short, now + 600_000).unwrap();
        assert!(matches!(c, SessionCheck::Valid { .. }));
        assert!(
            due,
            "the last use is written within a quarter of the idle timeout"
        );
        assert!(!s.web_session_read(&t, short, now + 400_000).unwrap().1);
    }

    #[test]
    fn the_csrf_token_is_bound_to_the_session() {
        assert_ne!(csrf_token("rps_a"), csrf_token("rps_b"));
        assert_eq!(csrf_token("rps_a"), csrf_token("rps_a"));
        assert_ne!(csrf_token("rps_a"), "rps_a");
    }
}
