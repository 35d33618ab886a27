//! Admins on PostgreSQL: the console's administrators and their sessions in two tables every
//! node reads (schema step 15), so an administrator added with one node's `rampart admin add`
//! signs in on any node's console, a session made on one node is valid on all of them, and a
//! TOTP code accepted on one node is refused on every other (RFC 6238 section 5.2).
//!
//! The rules are the embedded store's ([`rampart_store::admins`]): Argon2id hashes (hashed and
//! verified on the blocking pool), the last accepted step kept per account and claimed with one
//! conditional UPDATE, sessions kept as the SHA-256 of their token and ended when idle, too old,
//! or when their administrator is disabled, removed or given a new secret. Also here: the queue
//! gauge of the metrics and the dashboard.

use crate::queue::QUEUED;
use crate::{db, PgStore};
use async_trait::async_trait;
use rampart_store::admins::{
    enrolment, hash_password, new_secret, new_session_token, normalise_name, password_matches,
    role_of, sha256_hex, totp, totp_step, AdminAccount, AdminRole, AdminSessionLimits, Admins,
    LoginRefused, TotpEnrolment, ADMIN_SESSION_PREFIX,
};
use rampart_store::{now_micros, Result, StoreError};

/// Runs Argon2id (deliberately slow) off the async workers.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Invalid(format!("a hashing task failed: {e}")))?
}

fn account(r: &tokio_postgres::Row) -> AdminAccount {
    AdminAccount {
        name: r.get(0),
        role: role_of(r.get(1)),
        disabled: r.get(2),
        created: r.get(3),
    }
}

impl PgStore {
    /// Runs `sql` (which ends `name`'s sessions too, through `$1`) in one transaction with the
    /// account change; the number of accounts changed.
    async fn admin_change(
        &self,
        name: &str,
        change: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
        end_sessions: bool,
    ) -> Result<u64> {
        let mut c = self.conn(&self.sessions).await?;
        let tx = c.transaction().await.map_err(db)?;
        let n = tx.execute(change, params).await.map_err(db)?;
        if end_sessions {
            tx.execute("DELETE FROM admin_sessions WHERE admin = $1", &[&name])
                .await
                .map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        Ok(n)
    }
}

#[async_trait]
impl Admins for PgStore {
    async fn admin_add(
        &self,
        name: &str,
        role: AdminRole,
        password: &str,
    ) -> Result<TotpEnrolment> {
        let name = normalise_name(name)?;
        let password = password.to_owned();
        let hash = blocking(move || hash_password(&password)).await?;
        let secret = new_secret();
        let c = self.conn(&self.sessions).await?;
        let n = c
            .execute(
                "INSERT INTO admins(name, role, password_hash, totp_secret, created)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO NOTHING",
                &[
                    &name,
                    &role.as_str(),
                    &hash,
                    &totp::base32_encode(&secret),
                    &now_micros(),
                ],
            )
            .await
            .map_err(db)?;
        if n == 0 {
            return Err(StoreError::Invalid(format!(
                "administrator {name} exists already; see `rampart admin list`"
            )));
        }
        Ok(enrolment(&name, &secret))
    }

    async fn admin_list(&self) -> Result<Vec<AdminAccount>> {
        let c = self.conn(&self.sessions).await?;
        let rows = c
            .query(
                "SELECT name, role, disabled, created FROM admins ORDER BY name",
                &[],
            )
            .await
            .map_err(db)?;
        Ok(rows.iter().map(account).collect())
    }

    async fn admin_remove(&self, name: &str) -> Result<bool> {
        let name = normalise_name(name)?;
        let n = self
            .admin_change(&name, "DELETE FROM admins WHERE name = $1", &[&name], true)
            .await?;
        Ok(n > 0)
    }

    async fn admin_reset_totp(&self, name: &str) -> Result<Option<TotpEnrolment>> {
        let name = normalise_name(name)?;
        let secret = new_secret();
        let b32 = totp::base32_encode(&secret);
        let n = self
            .admin_change(
                &name,
                "UPDATE admins SET totp_secret = $2, totp_last_step = 0 WHERE name = $1",
                &[&name, &b32],
                true,
            )
            .await?;
        Ok((n > 0).then(|| enrolment(&name, &secret)))
    }

    async fn admin_set_disabled(&self, name: &str, disabled: bool) -> Result<bool> {
        let name = normalise_name(name)?;
        let n = self
            .admin_change(
                &name,
                "UPDATE admins SET disabled = $2 WHERE name = $1",
                &[&name, &disabled],
                disabled,
            )
            .await?;
        Ok(n > 0)
    }

    async fn admin_login(
        &self,
        name: &str,
        password: &str,
        code: &str,
        now: u64,
    ) -> Result<std::result::Result<AdminAccount, LoginRefused>> {
        let password = password.to_owned();
        let Ok(name) = normalise_name(name) else {
            return Ok(Err(LoginRefused::Password));
        };
        let row = {
            let c = self.conn(&self.sessions).await?;
            c.query_opt(
                "SELECT name, role, disabled, created, password_hash, totp_secret, totp_last_step
                 FROM admins WHERE name = $1 AND NOT disabled",
                &[&name],
            )
            .await
            .map_err(db)?
        };
        let Some(row) = row else {
            // The same work as a real check, so timing does not tell names apart.
            let _ = blocking(move || hash_password(&password)).await;
            return Ok(Err(LoginRefused::Password));
        };
        let who = account(&row);
        let (hash, secret, last_step): (String, String, i64) = (row.get(4), row.get(5), row.get(6));
        if !blocking(move || password_matches(&hash, &password)).await? {
            return Ok(Err(LoginRefused::Password));
        }
        let step = match totp_step(&secret, last_step, code, now) {
            Ok(step) => step,
            Err(refused) => return Ok(Err(refused)),
        };
        // The one write that makes a code single-use across every node: a step is claimed only
        // if no equal or later one was, and only under the secret that was checked.
        let c = self.conn(&self.sessions).await?;
        let claimed = c
            .execute(
                "UPDATE admins SET totp_last_step = $1
                 WHERE name = $2 AND totp_last_step < $1 AND totp_secret = $3 AND NOT disabled",
                &[&step, &who.name, &secret],
            )
            .await
            .map_err(db)?;
        Ok(if claimed == 1 {
            Ok(who)
        } else {
            Err(LoginRefused::Replayed)
        })
    }

    async fn admin_session_create(&self, admin: &str, client: Option<String>) -> Result<String> {
        let token = new_session_token();
        let now = now_micros();
        let c = self.conn(&self.sessions).await?;
        c.execute(
            "INSERT INTO admin_sessions(hash, admin, created, last_seen, client)
             VALUES ($1, $2, $3, $3, $4)",
            &[&sha256_hex(&token), &admin, &now, &client],
        )
        .await
        .map_err(db)?;
        Ok(token)
    }

    async fn admin_session_check(
        &self,
        token: &str,
        limits: AdminSessionLimits,
    ) -> Result<Option<AdminAccount>> {
        if !token.starts_with(ADMIN_SESSION_PREFIX) {
            return Ok(None);
        }
        let hash = sha256_hex(token);
        let now = now_micros();
        let c = self.conn(&self.sessions).await?;
        // Found and brought up to date in one statement; the same conditions as the embedded
        // store's read (live account, not idle, not too old).
        let row = c
            .query_opt(
                "UPDATE admin_sessions s SET last_seen = $2
                 FROM admins a
                 WHERE s.hash = $1 AND a.name = s.admin AND NOT a.disabled
                   AND s.last_seen >= $3 AND s.created >= $4
                 RETURNING a.name, a.role, a.disabled, a.created",
                &[&hash, &now, &(now - limits.idle), &(now - limits.max_age)],
            )
            .await
            .map_err(db)?;
        match row {
            Some(r) => Ok(Some(account(&r))),
            None => {
                // Ended, idle or too old: forgotten, as the embedded store forgets it.
                c.execute("DELETE FROM admin_sessions WHERE hash = $1", &[&hash])
                    .await
                    .map_err(db)?;
                Ok(None)
            }
        }
    }

    async fn admin_session_end(&self, token: &str) -> Result<()> {
        let c = self.conn(&self.sessions).await?;
        c.execute(
            "DELETE FROM admin_sessions WHERE hash = $1",
            &[&sha256_hex(token)],
        )
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn queue_gauge(&self) -> Result<(u64, Option<i64>)> {
        let c = self.conn(&self.sessions).await?;
        let row = c
            .query_one(
                "SELECT COUNT(DISTINCT q.message), MIN(m.received) FROM queue q
                 JOIN messages m ON m.id = q.message WHERE q.status = $1",
                &[&QUEUED],
            )
            .await
            .map_err(db)?;
        Ok((u64::try_from(row.get::<_, i64>(0)).unwrap_or(0), row.get(1)))
    }
}
