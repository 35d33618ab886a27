//! Who may log in besides a password: bearer tokens a user's client presents, the delegation
//! grants that let one user reach another's mailbox ([`crate::grants`]), and whether an account
//! is disabled (a disabled account logs in nowhere and still receives mail).
//!
//! A token is 256 random bits, shown once when it is created and stored only as its SHA-256.
//! A fast hash is right here, unlike for passwords: Argon2id exists to make guessing a
//! low-entropy secret expensive, and nobody can guess 256 random bits however fast the hash;
//! a slow hash would only make every API request slow.

use crate::grants::{Grant, Rights};
use crate::sqlite::Sqlite;
use crate::{now_micros, Result, Store, StoreError};
use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};

pub(crate) const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS access_tokens (
    id TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    name TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    scopes TEXT NOT NULL,
    created INTEGER NOT NULL,
    expires INTEGER,
    last_used INTEGER
);
CREATE INDEX IF NOT EXISTS access_tokens_account ON access_tokens(account);
CREATE TABLE IF NOT EXISTS mailbox_grants (
    owner TEXT NOT NULL,
    delegate TEXT NOT NULL,
    rights TEXT NOT NULL,
    created INTEGER NOT NULL,
    PRIMARY KEY (owner, delegate)
);
CREATE INDEX IF NOT EXISTS mailbox_grants_delegate ON mailbox_grants(delegate);
"#;

/// Creates the tables of this module and adds `users.disabled` to an older database.
pub(crate) fn migrate(conn: &rusqlite::Connection) -> Result<()> {
    conn.execute_batch(SCHEMA)?;
    let has_disabled = conn
        .prepare("SELECT 1 FROM pragma_table_info('users') WHERE name = 'disabled'")?
        .exists([])?;
    if !has_disabled {
        conn.execute_batch("ALTER TABLE users ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0")?;
    }
    Ok(())
}

/// What a token may be used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// JMAP over HTTPS (`Authorization: Bearer`).
    Jmap,
    /// SMTP submission.
    Submission,
}

impl Scope {
    pub const ALL: [Scope; 2] = [Scope::Jmap, Scope::Submission];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Jmap => "jmap",
            Scope::Submission => "submission",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// A token as `rampart user token list` shows it: never the token itself.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TokenInfo {
    pub id: String,
    pub account: String,
    pub name: String,
    pub scopes: Vec<Scope>,
    /// Microseconds since the epoch.
    pub created: i64,
    pub expires: Option<i64>,
    /// Recorded at most once an hour ([`USE_RECORDED_EVERY`]).
    pub last_used: Option<i64>,
}

/// What a presented token turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenCheck {
    /// Valid for the scope. `first_use_this_hour` is true when this use was recorded (the
    /// token's last use is recorded, and audited, at most once per [`USE_RECORDED_EVERY`]).
    Valid {
        id: String,
        account: String,
        first_use_this_hour: bool,
    },
    /// No such token (never created, or revoked).
    Unknown,
    Expired {
        id: String,
        account: String,
    },
    /// A token of another scope.
    WrongScope {
        id: String,
        account: String,
    },
    /// The account is disabled.
    Disabled {
        id: String,
        account: String,
    },
}

/// A token's use is written (and audited) at most this often, in microseconds: an hour. A client
/// polling every few seconds would otherwise write a row per request.
pub const USE_RECORDED_EVERY: i64 = 3_600 * 1_000_000;

/// Token prefix: lets a secret scanner, and a reader, recognise a Rampart token.
pub const TOKEN_PREFIX: &str = "rpt_";

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// SHA-256 of the token, in hex: what the store keeps (every backend).
pub fn token_hash(token: &str) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, token.as_bytes()).as_ref())
}

/// A token's row, with its account's state (None: the account no longer exists).
struct TokenRow {
    id: String,
    account: String,
    scopes: String,
    expires: Option<i64>,
    last_used: Option<i64>,
    disabled: Option<bool>,
}

/// The scopes of a token as stored (comma-separated), for every backend.
pub fn parse_scopes(s: &str) -> Vec<Scope> {
    s.split(',').filter_map(Scope::parse).collect()
}

/// The error for a token asked for an account that does not exist (every backend).
pub fn no_user(account: &str) -> StoreError {
    StoreError::Invalid(format!("no user {account}; see `rampart user list`"))
}

/// A new token for `account` (lower case) and its record, not stored yet: the same for every
/// backend, which keeps only [`token_hash`] of the token. An error without a scope.
pub fn new_token(
    account: &str,
    name: &str,
    scopes: &[Scope],
    expires: Option<i64>,
) -> Result<(String, TokenInfo)> {
    if scopes.is_empty() {
        return Err(StoreError::Invalid(
            "a token needs at least one scope: jmap or submission".into(),
        ));
    }
    let mut scopes = scopes.to_vec();
    scopes.sort_by_key(|s| s.as_str());
    scopes.dedup();
    let token = format!("{TOKEN_PREFIX}{}", hex(&crate::random_bytes::<32>()));
    let info = TokenInfo {
        id: hex(&crate::random_bytes::<6>()),
        account: account.to_owned(),
        name: name.to_owned(),
        scopes,
        created: now_micros(),
        expires,
        last_used: None,
    };
    Ok((token, info))
}

impl Store {
    /// Creates a token for `account`; returns it (the only time it is seen) and its record.
    pub fn token_create(
        &self,
        account: &str,
        name: &str,
        scopes: &[Scope],
        expires: Option<i64>,
    ) -> Result<(String, TokenInfo)> {
        let account = account.to_ascii_lowercase();
        if self.account_disabled(&account)?.is_none() {
            return Err(no_user(&account));
        }
        let (token, info) = new_token(&account, name, scopes, expires)?;
        let scopes: Vec<&str> = info.scopes.iter().map(|s| s.as_str()).collect();
        self.admin_connection()?.execute(
            "INSERT INTO access_tokens(id, account, name, hash, scopes, created, expires)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                info.id,
                info.account,
                info.name,
                token_hash(&token),
                scopes.join(","),
                info.created,
                info.expires
            ],
        )?;
        Ok((token, info))
    }

    /// The account's tokens, oldest first (expired ones too, until revoked).
    pub fn tokens(&self, account: &str) -> Result<Vec<TokenInfo>> {
        let account = account.to_ascii_lowercase();
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT id, account, name, scopes, created, expires, last_used
                 FROM access_tokens WHERE account = ?1 ORDER BY created, id",
            )?;
            let rows = st.query_map([account], |r| {
                Ok(TokenInfo {
                    id: r.get(0)?,
                    account: r.get(1)?,
                    name: r.get(2)?,
                    scopes: parse_scopes(&r.get::<_, String>(3)?),
                    created: r.get(4)?,
                    expires: r.get(5)?,
                    last_used: r.get(6)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// Removes a token; false when the account has no token `id`.
    pub fn token_revoke(&self, account: &str, id: &str) -> Result<bool> {
        let n = self.admin_connection()?.execute(
            "DELETE FROM access_tokens WHERE account = ?1 AND id = ?2",
            params![account.to_ascii_lowercase(), id],
        )?;
        Ok(n > 0)
    }

    /// What `token` is for `scope` at `now`, and whether its use is due to be recorded (a read;
    /// [`Logins::token_authenticate`] records the use).
    pub fn token_check(&self, token: &str, scope: Scope, now: i64) -> Result<(TokenCheck, bool)> {
        if !token.starts_with(TOKEN_PREFIX) {
            return Ok((TokenCheck::Unknown, false));
        }
        let hash = token_hash(token);
        let row = self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT t.id, t.account, t.scopes, t.expires, t.last_used, u.disabled
                     FROM access_tokens t LEFT JOIN users u ON u.address = t.account
                     WHERE t.hash = ?1",
            )?;
            Ok(st
                .query_row([hash], |r| {
                    Ok(TokenRow {
                        id: r.get(0)?,
                        account: r.get(1)?,
                        scopes: r.get(2)?,
                        expires: r.get(3)?,
                        last_used: r.get(4)?,
                        disabled: r.get(5)?,
                    })
                })
                .optional()?)
        })?;
        let Some(TokenRow {
            id,
            account,
            scopes,
            expires,
            last_used,
            disabled,
        }) = row
        else {
            return Ok((TokenCheck::Unknown, false));
        };
        // A token outlives no account: a removed user's token is refused like a disabled one's.
        if disabled.unwrap_or(true) {
            return Ok((TokenCheck::Disabled { id, account }, false));
        }
        if expires.is_some_and(|e| e <= now) {
            return Ok((TokenCheck::Expired { id, account }, false));
        }
        if !parse_scopes(&scopes).contains(&scope) {
            return Ok((TokenCheck::WrongScope { id, account }, false));
        }
        let due = last_used.is_none_or(|t| t <= now - USE_RECORDED_EVERY);
        Ok((
            TokenCheck::Valid {
                id,
                account,
                first_use_this_hour: false,
            },
            due,
        ))
    }

    /// None: no such user; Some(true): the account is disabled.
    pub fn account_disabled(&self, address: &str) -> Result<Option<bool>> {
        let address = address.to_ascii_lowercase();
        self.read(|c| {
            let mut st = c.prepare_cached("SELECT disabled FROM users WHERE address = ?1")?;
            Ok(st.query_row([address], |r| r.get(0)).optional()?)
        })
    }
}

/// Logins beyond the password: tokens, delegation, disabled accounts. Part of
/// [`crate::Backend`].
#[async_trait]
pub trait Logins: Send + Sync {
    /// Checks a bearer token for `scope`; a valid token's use is recorded at most once an hour
    /// (then `first_use_this_hour` is true).
    async fn token_authenticate(&self, token: &str, scope: Scope) -> Result<TokenCheck>;
    /// The grants `delegate` holds on other users' mailboxes.
    async fn grants_to(&self, delegate: &str) -> Result<Vec<Grant>>;
    /// None: no such user; Some(true): disabled.
    async fn account_disabled(&self, address: &str) -> Result<Option<bool>>;
}

#[async_trait]
impl Logins for Sqlite {
    async fn token_authenticate(&self, token: &str, scope: Scope) -> Result<TokenCheck> {
        let token = token.to_owned();
        let now = now_micros();
        let (check, due) = self
            .read(move |s| s.token_check(&token, scope, now))
            .await?;
        let TokenCheck::Valid { id, account, .. } = check else {
            return Ok(check);
        };
        let mut first = false;
        if due {
            let tid = id.clone();
            // Only the request that moves last_used records the use: two at once record one.
            first = crate::shared::write(self.writer(), move |tx| {
                Ok(tx.execute(
                    "UPDATE access_tokens SET last_used = ?1
                     WHERE id = ?2 AND (last_used IS NULL OR last_used <= ?3)",
                    params![now, tid, now - USE_RECORDED_EVERY],
                )? > 0)
            })
            .await?;
        }
        Ok(TokenCheck::Valid {
            id,
            account,
            first_use_this_hour: first,
        })
    }
    async fn grants_to(&self, delegate: &str) -> Result<Vec<Grant>> {
        let d = delegate.to_owned();
        self.read(move |s| s.grants_to(&d)).await
    }
    async fn account_disabled(&self, address: &str) -> Result<Option<bool>> {
        let a = address.to_owned();
        self.read(move |s| s.account_disabled(&a)).await
    }
}

impl Rights {
    pub(crate) fn from_db(s: &str) -> Rights {
        Rights::parse(s).unwrap_or(Rights::Read)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::tempdir;

    fn store() -> (Store, tempdir::Dir) {
        let d = tempdir::Dir::new();
        let s = Store::open(d.path()).unwrap();
        s.add_domain("example.test").unwrap();
        s.add_user("alice@example.test", "correct horse battery")
            .unwrap();
        (s, d)
    }

    #[test]
    fn tokens_are_stored_hashed_scoped_and_expiring() {
        let (s, _d) = store();
        let (token, info) = s
            .token_create("Alice@example.test", "phone", &[Scope::Jmap], None)
            .unwrap();
        assert!(token.starts_with(TOKEN_PREFIX) && token.len() == 4 + 64);
        let stored: String = s
            .read(|c| Ok(c.query_row("SELECT hash FROM access_tokens", [], |r| r.get(0))?))
            .unwrap();
        assert_ne!(stored, token, "only the hash is kept");
        assert!(!stored.contains(&token[4..]));
        let now = now_micros();
        let (check, due) = s.token_check(&token, Scope::Jmap, now).unwrap();
        assert!(
            matches!(check, TokenCheck::Valid { ref account, .. } if account == "alice@example.test")
        );
        assert!(due);
        assert!(matches!(
            s.token_check(&token, Scope::Submission, now).unwrap().0,
            TokenCheck::WrongScope { .. }
        ));
        assert_eq!(
            s.token_check("rpt_00", Scope::Jmap, now).unwrap().0,
            TokenCheck::Unknown
        );
        let (old, _) = s
            .token_create("alice@example.test", "old", &[Scope::Jmap], Some(now - 1))
            .unwrap();
        assert!(matches!(
            s.token_check(&old, Scope::Jmap, now).unwrap().0,
            TokenCheck::Expired { .. }
        ));
        assert_eq!(s.tokens("alice@example.test").unwrap().len(), 2);
        assert!(s.token_revoke("alice@example.test", &info.id).unwrap());
        assert!(!s.token_revoke("alice@example.test", &info.id).unwrap());
        assert_eq!(
            s.token_check(&token, Scope::Jmap, now).unwrap().0,
            TokenCheck::Unknown
        );
        assert!(s
            .token_create("nobody@example.test", "x", &[Scope::Jmap], None)
            .is_err());
    }

    #[tokio::test]
    async fn a_tokens_use_is_recorded_once_an_hour() {
        let d = tempdir::Dir::new();
        let (sq, _thread) = Sqlite::open(d.path()).unwrap();
        sq.store().add_domain("example.test").unwrap();
        sq.store()
            .add_user("alice@example.test", "correct horse battery")
            .unwrap();
        let (token, info) = sq
            .store()
            .token_create("alice@example.test", "t", &[Scope::Jmap], None)
            .unwrap();
        let first = |c: TokenCheck| match c {
            TokenCheck::Valid {
                first_use_this_hour,
                ..
            } => first_use_this_hour,
            other => panic!("{other:?}"),
        };
        assert!(first(
            sq.token_authenticate(&token, Scope::Jmap).await.unwrap()
        ));
        assert!(!first(
            sq.token_authenticate(&token, Scope::Jmap).await.unwrap()
        ));
        let used = sq.store().tokens("alice@example.test").unwrap()[0].last_used;
        assert!(used.is_some());
        // An hour later it is recorded again.
        let id = info.id.clone();
        crate::shared::write(sq.writer(), move |tx| {
            tx.execute(
                "UPDATE access_tokens SET last_used = last_used - ?1 WHERE id = ?2",
                params![USE_RECORDED_EVERY, id],
            )?;
            Ok(())
        })
        .await
        .unwrap();
        assert!(first(
            sq.token_authenticate(&token, Scope::Jmap).await.unwrap()
        ));
        assert_eq!(
            sq.token_authenticate("rpt_nothing", Scope::Jmap)
                .await
                .unwrap(),
            TokenCheck::Unknown
        );
    }

    #[test]
    fn a_disabled_accounts_tokens_and_password_are_refused() {
        let (s, _d) = store();
        let (token, _) = s
            .token_create("alice@example.test", "phone", &[Scope::Jmap], None)
            .unwrap();
        s.set_disabled("alice@example.test", true).unwrap();
        assert_eq!(
            s.account_disabled("alice@example.test").unwrap(),
            Some(true)
        );
        assert!(matches!(
            s.token_check(&token, Scope::Jmap, now_micros()).unwrap().0,
            TokenCheck::Disabled { .. }
        ));
        assert!(!s
            .verify_password("alice@example.test", "correct horse battery")
            .unwrap());
        // Mail still arrives.
        assert!(s.resolve_recipient("alice@example.test").unwrap().is_ok());
        s.set_disabled("alice@example.test", false).unwrap();
        assert!(s
            .verify_password("alice@example.test", "correct horse battery")
            .unwrap());
        assert!(s.set_disabled("nobody@example.test", true).is_err());
    }
}
