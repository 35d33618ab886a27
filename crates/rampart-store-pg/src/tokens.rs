//! Logins on PostgreSQL: bearer tokens, delegation grants and disabled accounts as every node
//! sees them, so a token revoked or an account disabled on one node is refused by all.
//!
//! The same rules as the embedded store ([`rampart_store::tokens`]): only the token's SHA-256
//! is kept; a token outlives no account; its use is recorded at most once an hour, by the one
//! request that moves `last_used` (two nodes at once record one use). The tokens and grants
//! tables came with the directory's schema step; `access_tokens` with this module's.

use crate::{db, PgStore};
use async_trait::async_trait;
use rampart_store::grants::{Grant, Rights};
use rampart_store::tokens::{
    new_token, no_user, parse_scopes, token_hash, Logins, Scope, TokenCheck, TokenInfo,
    TOKEN_PREFIX, USE_RECORDED_EVERY,
};
use rampart_store::{now_micros, Result};

/// `rampart user token add|list|revoke` on the shared database: a token made with one node's
/// command line logs in on every node (the same rules as the embedded store's `Store`).
impl PgStore {
    /// Creates a token for `account`; returns it (the only time it is seen) and its record.
    pub async fn token_create(
        &self,
        account: &str,
        name: &str,
        scopes: &[Scope],
        expires: Option<i64>,
    ) -> Result<(String, TokenInfo)> {
        let account = account.to_ascii_lowercase();
        if self.account_disabled(&account).await?.is_none() {
            return Err(no_user(&account));
        }
        let (token, info) = new_token(&account, name, scopes, expires)?;
        let scopes: Vec<&str> = info.scopes.iter().map(|s| s.as_str()).collect();
        let c = self.conn(&self.sessions).await?;
        c.execute(
            "INSERT INTO access_tokens(id, account, name, hash, scopes, created, expires)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &info.id,
                &info.account,
                &info.name,
                &token_hash(&token),
                &scopes.join(","),
                &info.created,
                &info.expires,
            ],
        )
        .await
        .map_err(db)?;
        Ok((token, info))
    }

    /// The account's tokens, oldest first (expired ones too, until revoked).
    pub async fn tokens(&self, account: &str) -> Result<Vec<TokenInfo>> {
        let c = self.conn(&self.sessions).await?;
        let rows = c
            .query(
                "SELECT id, account, name, scopes, created, expires, last_used
                 FROM access_tokens WHERE account = $1 ORDER BY created, id COLLATE \"C\"",
                &[&account.to_ascii_lowercase()],
            )
            .await
            .map_err(db)?;
        Ok(rows
            .iter()
            .map(|r| TokenInfo {
                id: r.get(0),
                account: r.get(1),
                name: r.get(2),
                scopes: parse_scopes(r.get(3)),
                created: r.get(4),
                expires: r.get(5),
                last_used: r.get(6),
            })
            .collect())
    }

    /// Removes a token; false when the account has no token `id`.
    pub async fn token_revoke(&self, account: &str, id: &str) -> Result<bool> {
        let c = self.conn(&self.sessions).await?;
        let n = c
            .execute(
                "DELETE FROM access_tokens WHERE account = $1 AND id = $2",
                &[&account.to_ascii_lowercase(), &id],
            )
            .await
            .map_err(db)?;
        Ok(n > 0)
    }
}

#[async_trait]
impl Logins for PgStore {
    async fn token_authenticate(&self, token: &str, scope: Scope) -> Result<TokenCheck> {
        if !token.starts_with(TOKEN_PREFIX) {
            return Ok(TokenCheck::Unknown);
        }
        let now = now_micros();
        let c = self.conn(&self.sessions).await?;
        let row = c
            .query_opt(
                "SELECT t.id, t.account, t.scopes, t.expires, t.last_used, u.disabled
                 FROM access_tokens t LEFT JOIN users u ON u.address = t.account
                 WHERE t.hash = $1",
                &[&token_hash(token)],
            )
            .await
            .map_err(db)?;
        let Some(row) = row else {
            return Ok(TokenCheck::Unknown);
        };
        let (id, account, scopes): (String, String, String) = (row.get(0), row.get(1), row.get(2));
        let (expires, last_used, disabled): (Option<i64>, Option<i64>, Option<bool>) =
            (row.get(3), row.get(4), row.get(5));
        // A removed user's token is refused like a disabled one's.
        if disabled.unwrap_or(true) {
            return Ok(TokenCheck::Disabled { id, account });
        }
        if expires.is_some_and(|e| e <= now) {
            return Ok(TokenCheck::Expired { id, account });
        }
        if !parse_scopes(&scopes).contains(&scope) {
            return Ok(TokenCheck::WrongScope { id, account });
        }
        let mut first = false;
        if last_used.is_none_or(|t| t <= now - USE_RECORDED_EVERY) {
            // Only the request that moves last_used records the use.
            first = c
                .execute(
                    "UPDATE access_tokens SET last_used = $1
                     WHERE id = $2 AND (last_used IS NULL OR last_used <= $3)",
                    &[&now, &id, &(now - USE_RECORDED_EVERY)],
                )
                .await
                .map_err(db)?
                > 0;
        }
        Ok(TokenCheck::Valid {
            id,
            account,
            first_use_this_hour: first,
        })
    }

    async fn grants_to(&self, delegate: &str) -> Result<Vec<Grant>> {
        let c = self.conn(&self.sessions).await?;
        let rows = c
            .query(
                "SELECT owner, delegate, rights, created FROM mailbox_grants
                 WHERE delegate = $1 ORDER BY owner COLLATE \"C\"",
                &[&delegate.to_ascii_lowercase()],
            )
            .await
            .map_err(db)?;
        Ok(rows
            .iter()
            .map(|r| Grant {
                owner: r.get(0),
                delegate: r.get(1),
                // As the embedded store reads an unknown value: the least right.
                rights: Rights::parse(r.get(2)).unwrap_or(Rights::Read),
                created: r.get(3),
            })
            .collect())
    }

    async fn account_disabled(&self, address: &str) -> Result<Option<bool>> {
        let c = self.conn(&self.sessions).await?;
        let row = c
            .query_opt(
                "SELECT disabled FROM users WHERE address = $1",
                &[&address.to_ascii_lowercase()],
            )
            .await
            .map_err(db)?;
        Ok(row.map(|r| r.get(0)))
    }
}
