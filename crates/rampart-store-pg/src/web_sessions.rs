//! WebSessions on PostgreSQL: the webmail's sign-in sessions (AL-4.1) in one table for every
//! node, so a browser behind a load balancer stays signed in whichever node answers, and a
//! logout or a disabled account ends the session on all of them.
//!
//! The same rules as the embedded store ([`rampart_store::web_sessions`]): only the token's
//! SHA-256 is kept; a session ends on logout, past its idle or age limit, and with its account;
//! its last use is written at most once a minute.

use crate::{db, PgStore};
use async_trait::async_trait;
use rampart_store::web_sessions::{
    seen_recorded_every, session_hash, SessionCheck, SessionLimits, WebSessions, SESSION_PREFIX,
};
use rampart_store::{now_micros, Result};

impl PgStore {
    /// What `token` is at `now`, and whether its last use is due to be written.
    async fn web_session_read(
        &self,
        token: &str,
        limits: SessionLimits,
        now: i64,
    ) -> Result<(SessionCheck, bool)> {
        if !token.starts_with(SESSION_PREFIX) {
            return Ok((SessionCheck::Unknown, false));
        }
        let c = self.conn(&self.sessions).await?;
        let row = c
            .query_opt(
                "SELECT s.account, s.created, s.last_seen, u.disabled
                 FROM web_sessions s LEFT JOIN users u ON u.address = s.account
                 WHERE s.hash = $1",
                &[&session_hash(token)],
            )
            .await
            .map_err(db)?;
        let Some(row) = row else {
            return Ok((SessionCheck::Unknown, false));
        };
        let (account, created, last_seen, disabled): (String, i64, i64, Option<bool>) =
            (row.get(0), row.get(1), row.get(2), row.get(3));
        // No such user (removed) counts as disabled.
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
}

#[async_trait]
impl WebSessions for PgStore {
    async fn web_session_create(
        &self,
        account: &str,
        client: Option<String>,
        user_agent: Option<String>,
    ) -> Result<String> {
        let random: [u8; 32] = rampart_store::random_bytes();
        let token = format!(
            "{SESSION_PREFIX}{}",
            random
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        );
        let now = now_micros();
        let c = self.conn(&self.sessions).await?;
        c.execute(
            "INSERT INTO web_sessions(hash, account, created, last_seen, client, user_agent)
             VALUES ($1, $2, $3, $3, $4, $5)",
            &[
                &session_hash(&token),
                &account.to_ascii_lowercase(),
                &now,
                &client,
                &user_agent,
            ],
        )
        .await
        .map_err(db)?;
        Ok(token)
    }

    async fn web_session_check(&self, token: &str, limits: SessionLimits) -> Result<SessionCheck> {
        let now = now_micros();
        let (check, due) = self.web_session_read(token, limits, now).await?;
        let hash = session_hash(token);
        match &check {
            SessionCheck::Valid { .. } if due => {
                let c = self.conn(&self.sessions).await?;
                c.execute(
                    "UPDATE web_sessions SET last_seen = $1 WHERE hash = $2",
                    &[&now, &hash],
                )
                .await
                .map_err(db)?;
            }
            SessionCheck::Expired { .. } | SessionCheck::Disabled { .. } => {
                let c = self.conn(&self.sessions).await?;
                c.execute("DELETE FROM web_sessions WHERE hash = $1", &[&hash])
                    .await
                    .map_err(db)?;
            }
            _ => {}
        }
        Ok(check)
    }

    async fn web_session_peek(&self, token: &str, limits: SessionLimits) -> Result<SessionCheck> {
        Ok(self.web_session_read(token, limits, now_micros()).await?.0)
    }

    async fn web_session_end(&self, token: &str) -> Result<Option<String>> {
        let c = self.conn(&self.sessions).await?;
        let row = c
            .query_opt(
                "DELETE FROM web_sessions WHERE hash = $1 RETURNING account",
                &[&session_hash(token)],
            )
            .await
            .map_err(db)?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn web_sessions_end_all(&self, account: &str) -> Result<usize> {
        let c = self.conn(&self.sessions).await?;
        let n = c
            .execute(
                "DELETE FROM web_sessions WHERE account = $1",
                &[&account.to_ascii_lowercase()],
            )
            .await
            .map_err(db)?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    async fn web_sessions_prune(&self, limits: SessionLimits) -> Result<usize> {
        let now = now_micros();
        let c = self.conn(&self.sessions).await?;
        let n = c
            .execute(
                "DELETE FROM web_sessions WHERE last_seen < $1 OR created < $2",
                &[&(now - limits.idle), &(now - limits.max_age)],
            )
            .await
            .map_err(db)?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }
}
