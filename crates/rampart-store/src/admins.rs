//! Administrator accounts of the console (the `admin` listener), kept apart from mail users: a
//! mail user's password opens no console page, and an administrator has no mailbox.
//!
//! Each account has an Argon2id password hash (as users have), a TOTP secret (RFC 6238: SHA-1,
//! 30-second steps, 6 digits), a role ([`AdminRole`]) and a disabled flag. Every login needs the
//! password AND a current code; the last step a code was accepted for is kept, so a code once
//! used is never accepted again (RFC 6238 section 5.2).
//!
//! Console sessions are stored like the webmail's (only the SHA-256 of a 256-bit token) in a
//! table of their own: the webmail's sessions belong to mail users and end with them.

use crate::sqlite::Sqlite;
use crate::{now_micros, Result, Store, StoreError};
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::Argon2;
use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};

pub(crate) const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS admins (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    totp_secret TEXT NOT NULL,
    totp_last_step INTEGER NOT NULL DEFAULT 0,
    disabled INTEGER NOT NULL DEFAULT 0,
    created INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS admin_sessions (
    hash TEXT PRIMARY KEY,
    admin TEXT NOT NULL,
    created INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    client TEXT
);
"#;

/// What an administrator may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AdminRole {
    /// Reads every page; changes nothing.
    Auditor,
    /// Also releases and deletes quarantined mail (not virus quarantine) and acts on the queue.
    Operator,
    /// Everything.
    Administrator,
}

impl AdminRole {
    pub fn parse(s: &str) -> Option<AdminRole> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auditor" => Some(AdminRole::Auditor),
            "operator" => Some(AdminRole::Operator),
            "administrator" => Some(AdminRole::Administrator),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AdminRole::Auditor => "auditor",
            AdminRole::Operator => "operator",
            AdminRole::Administrator => "administrator",
        }
    }
}

impl std::fmt::Display for AdminRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One administrator, without secrets.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AdminAccount {
    pub name: String,
    pub role: AdminRole,
    pub disabled: bool,
    /// Microseconds since the epoch.
    pub created: i64,
}

/// What a new account's owner must be shown once: the TOTP secret (base32) and its
/// `otpauth://` URI for an authenticator app.
#[derive(Debug, Clone)]
pub struct TotpEnrolment {
    pub secret: String,
    pub uri: String,
}

/// Why a console login failed; the page says the same for each, the trace says which.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginRefused {
    /// No such administrator, disabled, or the password is wrong.
    Password,
    /// The password was right but the code was missing, wrong or out of its window.
    Code,
    /// The code was right but was used already (RFC 6238 section 5.2).
    Replayed,
}

/// How long console sessions last, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdminSessionLimits {
    pub idle: i64,
    pub max_age: i64,
}

/// Prefix of a console session token.
pub const ADMIN_SESSION_PREFIX: &str = "rpa_";

/// A name of letters, digits and `.-_@`, 1 to 64 characters.
pub fn normalise_name(name: &str) -> Result<String> {
    let n = name.trim().to_ascii_lowercase();
    let ok = !n.is_empty()
        && n.len() <= 64
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-_@".contains(&b));
    if ok {
        Ok(n)
    } else {
        Err(StoreError::Invalid(format!(
            "`{name}` is not an administrator name; use 1 to 64 letters, digits and . - _ @"
        )))
    }
}

pub fn hash_password(password: &str) -> Result<String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| StoreError::Invalid(format!("cannot hash the password: {e}")))
}

pub fn new_secret() -> Vec<u8> {
    // 160 bits, the length of SHA-1's output (RFC 4226 section 4, R6).
    crate::random_bytes::<20>().to_vec()
}

pub fn enrolment(name: &str, secret: &[u8]) -> TotpEnrolment {
    let b32 = totp::base32_encode(secret);
    TotpEnrolment {
        uri: totp::otpauth_uri("Rampart", name, &b32),
        secret: b32,
    }
}

pub fn sha256_hex(s: &str) -> String {
    ring::digest::digest(&ring::digest::SHA256, s.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn role_of(s: String) -> AdminRole {
    // An unreadable role reads as the least privileged, never as more.
    AdminRole::parse(&s).unwrap_or(AdminRole::Auditor)
}

impl Store {
    /// Creates an administrator; the TOTP secret to show its owner once.
    pub fn admin_add(&self, name: &str, role: AdminRole, password: &str) -> Result<TotpEnrolment> {
        let name = normalise_name(name)?;
        let hash = hash_password(password)?;
        let secret = new_secret();
        let n = self.admin_connection()?.execute(
            "INSERT OR IGNORE INTO admins(name, role, password_hash, totp_secret, created)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                name,
                role.as_str(),
                hash,
                totp::base32_encode(&secret),
                now_micros()
            ],
        )?;
        if n == 0 {
            return Err(StoreError::Invalid(format!(
                "administrator {name} exists already; see `rampart admin list`"
            )));
        }
        Ok(enrolment(&name, &secret))
    }

    /// Every administrator, by name.
    pub fn admin_list(&self) -> Result<Vec<AdminAccount>> {
        self.read(|c| {
            let mut st =
                c.prepare_cached("SELECT name, role, disabled, created FROM admins ORDER BY name")?;
            let rows = st.query_map([], |r| {
                Ok(AdminAccount {
                    name: r.get(0)?,
                    role: role_of(r.get(1)?),
                    disabled: r.get(2)?,
                    created: r.get(3)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Removes an administrator and ends its sessions; false when there was none.
    pub fn admin_remove(&self, name: &str) -> Result<bool> {
        let name = normalise_name(name)?;
        let mut c = self.admin_connection()?;
        let tx = c.transaction()?;
        let n = tx.execute("DELETE FROM admins WHERE name = ?1", [&name])?;
        tx.execute("DELETE FROM admin_sessions WHERE admin = ?1", [&name])?;
        tx.commit()?;
        Ok(n > 0)
    }

    /// A new TOTP secret for an administrator (a lost phone); its sessions end. None when there
    /// is no such administrator.
    pub fn admin_reset_totp(&self, name: &str) -> Result<Option<TotpEnrolment>> {
        let name = normalise_name(name)?;
        let secret = new_secret();
        let mut c = self.admin_connection()?;
        let tx = c.transaction()?;
        let n = tx.execute(
            "UPDATE admins SET totp_secret = ?1, totp_last_step = 0 WHERE name = ?2",
            params![totp::base32_encode(&secret), name],
        )?;
        tx.execute("DELETE FROM admin_sessions WHERE admin = ?1", [&name])?;
        tx.commit()?;
        Ok((n > 0).then(|| enrolment(&name, &secret)))
    }

    /// Disables (or enables) an administrator; a disabled one's sessions end. False when there
    /// is no such administrator.
    pub fn admin_set_disabled(&self, name: &str, disabled: bool) -> Result<bool> {
        let name = normalise_name(name)?;
        let mut c = self.admin_connection()?;
        let tx = c.transaction()?;
        let n = tx.execute(
            "UPDATE admins SET disabled = ?1 WHERE name = ?2",
            params![disabled, name],
        )?;
        if disabled {
            tx.execute("DELETE FROM admin_sessions WHERE admin = ?1", [&name])?;
        }
        tx.commit()?;
        Ok(n > 0)
    }

    /// The password check of a login, a read: the account and the secret when the password is
    /// right and the account enabled.
    fn admin_password_ok(
        &self,
        name: &str,
        password: &str,
    ) -> Result<Option<(AdminAccount, String, i64)>> {
        let Ok(name) = normalise_name(name) else {
            return Ok(None);
        };
        let row: Option<(String, String, String, i64, i64)> = self.read(|c| {
            Ok(c.prepare_cached(
                "SELECT role, password_hash, totp_secret, totp_last_step, created
                 FROM admins WHERE name = ?1 AND disabled = 0",
            )?
            .query_row([&name], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .optional()?)
        })?;
        let Some((role, hash, secret, last_step, created)) = row else {
            // The same work as a real check, so timing does not tell names apart.
            let _ = hash_password(password);
            return Ok(None);
        };
        let parsed = PasswordHash::new(&hash)
            .map_err(|e| StoreError::Invalid(format!("stored hash unreadable: {e}")))?;
        if Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_err()
        {
            return Ok(None);
        }
        let account = AdminAccount {
            name,
            role: role_of(role),
            disabled: false,
            created,
        };
        Ok(Some((account, secret, last_step)))
    }

    fn admin_session_read(
        &self,
        token: &str,
        limits: AdminSessionLimits,
        now: i64,
    ) -> Result<Option<AdminAccount>> {
        if !token.starts_with(ADMIN_SESSION_PREFIX) {
            return Ok(None);
        }
        let hash = sha256_hex(token);
        self.read(|c| {
            Ok(c.prepare_cached(
                "SELECT a.name, a.role, a.created FROM admin_sessions s
                 JOIN admins a ON a.name = s.admin
                 WHERE s.hash = ?1 AND a.disabled = 0 AND s.last_seen >= ?2 AND s.created >= ?3",
            )?
            .query_row(
                params![hash, now - limits.idle, now - limits.max_age],
                |r| {
                    Ok(AdminAccount {
                        name: r.get(0)?,
                        role: role_of(r.get(1)?),
                        disabled: false,
                        created: r.get(2)?,
                    })
                },
            )
            .optional()?)
        })
    }
}

/// Accepts `step` for `name` if no later or equal step was accepted before: the one write that
/// makes a code single-use, atomic in the writer's commit.
fn claim_step(c: &Connection, name: &str, step: i64) -> Result<bool> {
    Ok(c.execute(
        "UPDATE admins SET totp_last_step = ?1 WHERE name = ?2 AND totp_last_step < ?1",
        params![step, name],
    )? > 0)
}

impl Sqlite {
    /// A console login at `now` (seconds since the epoch): the password AND a TOTP code, each
    /// code once (RFC 6238 section 5.2: one step either side of now is accepted for clock drift).
    pub async fn admin_login(
        &self,
        name: &str,
        password: &str,
        code: &str,
        now: u64,
    ) -> Result<std::result::Result<AdminAccount, LoginRefused>> {
        let (n, p) = (name.to_owned(), password.to_owned());
        let Some((account, secret, last_step)) =
            self.read(move |s| s.admin_password_ok(&n, &p)).await?
        else {
            return Ok(Err(LoginRefused::Password));
        };
        let Some(secret) = totp::base32_decode(&secret) else {
            return Ok(Err(LoginRefused::Code));
        };
        let Some(step) = totp::matching_step(&secret, code, now) else {
            return Ok(Err(LoginRefused::Code));
        };
        let step = i64::try_from(step).unwrap_or(i64::MAX);
        if step <= last_step {
            return Ok(Err(LoginRefused::Replayed));
        }
        let who = account.name.clone();
        let claimed =
            crate::shared::write(self.writer(), move |tx| claim_step(tx, &who, step)).await?;
        Ok(if claimed {
            Ok(account)
        } else {
            Err(LoginRefused::Replayed)
        })
    }

    /// A new console session for `admin`; its token (the cookie's value, seen only here).
    pub async fn admin_session_create(
        &self,
        admin: &str,
        client: Option<String>,
    ) -> Result<String> {
        let token = format!(
            "{ADMIN_SESSION_PREFIX}{}",
            crate::random_bytes::<32>()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        );
        let (hash, admin, now) = (sha256_hex(&token), admin.to_owned(), now_micros());
        crate::shared::write(self.writer(), move |tx| {
            tx.execute(
                "INSERT INTO admin_sessions(hash, admin, created, last_seen, client)
                 VALUES (?1, ?2, ?3, ?3, ?4)",
                params![hash, admin, now, client],
            )?;
            Ok(())
        })
        .await?;
        Ok(token)
    }

    /// The administrator of a live session; its last use brought up to date. None for an
    /// unknown, ended, idle, too old or disabled one.
    pub async fn admin_session_check(
        &self,
        token: &str,
        limits: AdminSessionLimits,
    ) -> Result<Option<AdminAccount>> {
        let t = token.to_owned();
        let now = now_micros();
        let found = self
            .read(move |s| s.admin_session_read(&t, limits, now))
            .await?;
        let hash = sha256_hex(token);
        if found.is_some() {
            crate::shared::write(self.writer(), move |tx| {
                tx.execute(
                    "UPDATE admin_sessions SET last_seen = ?1 WHERE hash = ?2",
                    params![now, hash],
                )?;
                Ok(())
            })
            .await?;
        } else {
            crate::shared::write(self.writer(), move |tx| {
                tx.execute("DELETE FROM admin_sessions WHERE hash = ?1", [hash])?;
                Ok(())
            })
            .await?;
        }
        Ok(found)
    }

    /// Ends a console session (logout).
    pub async fn admin_session_end(&self, token: &str) -> Result<()> {
        let hash = sha256_hex(token);
        crate::shared::write(self.writer(), move |tx| {
            tx.execute("DELETE FROM admin_sessions WHERE hash = ?1", [hash])?;
            Ok(())
        })
        .await
    }
}

/// The console's administrators and their sessions, on whichever store the node runs (the
/// embedded one, or the database several nodes share): an administrator added with one node's
/// `rampart admin add` signs in on every node's console, and a session made on one is valid on
/// all. Every implementation keeps the same rules: Argon2id hashes, a TOTP code accepted once
/// (the last step used is kept, RFC 6238 section 5.2), sessions kept as the SHA-256 of their
/// token and ended when idle, too old, or their administrator is disabled, removed or reset.
#[async_trait]
pub trait Admins: Send + Sync {
    /// Creates an administrator; the TOTP secret to show its owner once.
    async fn admin_add(&self, name: &str, role: AdminRole, password: &str)
        -> Result<TotpEnrolment>;
    /// Every administrator, by name.
    async fn admin_list(&self) -> Result<Vec<AdminAccount>>;
    /// Removes an administrator and ends its sessions; false when there was none.
    async fn admin_remove(&self, name: &str) -> Result<bool>;
    /// A new TOTP secret (its sessions end); None when there is no such administrator.
    async fn admin_reset_totp(&self, name: &str) -> Result<Option<TotpEnrolment>>;
    /// Disables (its sessions end) or enables; false when there is no such administrator.
    async fn admin_set_disabled(&self, name: &str, disabled: bool) -> Result<bool>;
    /// A console login at `now` (seconds since the epoch): the password AND a TOTP code, each
    /// code once.
    async fn admin_login(
        &self,
        name: &str,
        password: &str,
        code: &str,
        now: u64,
    ) -> Result<std::result::Result<AdminAccount, LoginRefused>>;
    /// A new console session for `admin`; its token (seen only here).
    async fn admin_session_create(&self, admin: &str, client: Option<String>) -> Result<String>;
    /// The administrator of a live session, its last use brought up to date; None (and the
    /// session forgotten) for an unknown, ended, idle, too old or disabled one.
    async fn admin_session_check(
        &self,
        token: &str,
        limits: AdminSessionLimits,
    ) -> Result<Option<AdminAccount>>;
    /// Ends a console session (logout).
    async fn admin_session_end(&self, token: &str) -> Result<()>;
    /// The queue as the metrics and the dashboard show it: messages with a recipient still to
    /// deliver, and when the oldest of them was received (microseconds since the epoch).
    async fn queue_gauge(&self) -> Result<(u64, Option<i64>)>;
}

/// Whether a TOTP `code` may open the account whose secret (base32) and last used step are
/// given: the step to claim, or why not. The one rule of every store (RFC 6238 sections 4 and
/// 5.2: one step either side of now for clock drift, never a step used before).
pub fn totp_step(
    secret_b32: &str,
    last_step: i64,
    code: &str,
    now: u64,
) -> std::result::Result<i64, LoginRefused> {
    let secret = totp::base32_decode(secret_b32).ok_or(LoginRefused::Code)?;
    let step = totp::matching_step(&secret, code, now).ok_or(LoginRefused::Code)?;
    let step = i64::try_from(step).unwrap_or(i64::MAX);
    if step <= last_step {
        return Err(LoginRefused::Replayed);
    }
    Ok(step)
}

/// A new console session token: the prefix and 256 random bits in hex.
pub fn new_session_token() -> String {
    format!(
        "{ADMIN_SESSION_PREFIX}{}",
        crate::random_bytes::<32>()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    )
}

/// Checks `password` against a stored Argon2id hash (blocking: run it off the async workers).
pub fn password_matches(hash: &str, password: &str) -> Result<bool> {
    let parsed = PasswordHash::new(hash)
        .map_err(|e| StoreError::Invalid(format!("stored hash unreadable: {e}")))?;
    Ok(Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok())
}

#[async_trait]
impl Admins for Sqlite {
    async fn admin_add(
        &self,
        name: &str,
        role: AdminRole,
        password: &str,
    ) -> Result<TotpEnrolment> {
        let (n, p) = (name.to_owned(), password.to_owned());
        self.read(move |s| s.admin_add(&n, role, &p)).await
    }

    async fn admin_list(&self) -> Result<Vec<AdminAccount>> {
        self.read(|s| s.admin_list()).await
    }

    async fn admin_remove(&self, name: &str) -> Result<bool> {
        let n = name.to_owned();
        self.read(move |s| s.admin_remove(&n)).await
    }

    async fn admin_reset_totp(&self, name: &str) -> Result<Option<TotpEnrolment>> {
        let n = name.to_owned();
        self.read(move |s| s.admin_reset_totp(&n)).await
    }

    async fn admin_set_disabled(&self, name: &str, disabled: bool) -> Result<bool> {
        let n = name.to_owned();
        self.read(move |s| s.admin_set_disabled(&n, disabled)).await
    }

    async fn admin_login(
        &self,
        name: &str,
        password: &str,
        code: &str,
        now: u64,
    ) -> Result<std::result::Result<AdminAccount, LoginRefused>> {
        Sqlite::admin_login(self, name, password, code, now).await
    }

    async fn admin_session_create(&self, admin: &str, client: Option<String>) -> Result<String> {
        Sqlite::admin_session_create(self, admin, client).await
    }

    async fn admin_session_check(
        &self,
        token: &str,
        limits: AdminSessionLimits,
    ) -> Result<Option<AdminAccount>> {
        Sqlite::admin_session_check(self, token, limits).await
    }

    async fn admin_session_end(&self, token: &str) -> Result<()> {
        Sqlite::admin_session_end(self, token).await
    }

    async fn queue_gauge(&self) -> Result<(u64, Option<i64>)> {
        self.read(|s| s.queue_gauge()).await
    }
}

/// TOTP (RFC 6238) over HOTP (RFC 4226) with HMAC-SHA-1, and the base32 (RFC 4648) that
/// authenticator apps and `oathtool -b` read secrets in.
pub mod totp {
    /// Seconds per step (RFC 6238 section 4: X = 30).
    pub const STEP_SECS: u64 = 30;
    /// Digits of a code.
    pub const DIGITS: usize = 6;

    /// HOTP(K, C) truncated to [`DIGITS`] digits (RFC 4226 section 5.3).
    pub fn hotp(secret: &[u8], counter: u64) -> u32 {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
        let mac = ring::hmac::sign(&key, &counter.to_be_bytes());
        let h = mac.as_ref();
        let offset = usize::from(h[h.len() - 1] & 0x0f);
        let bin = (u32::from(h[offset]) & 0x7f) << 24
            | u32::from(h[offset + 1]) << 16
            | u32::from(h[offset + 2]) << 8
            | u32::from(h[offset + 3]);
        bin % 10u32.pow(DIGITS as u32)
    }

    /// The code at `unix_secs`, zero-padded.
    pub fn code_at(secret: &[u8], unix_secs: u64) -> String {
        format!("{:06}", hotp(secret, unix_secs / STEP_SECS))
    }

    /// The step whose code `code` is, among now's and one either side; None if none.
    pub fn matching_step(secret: &[u8], code: &str, unix_secs: u64) -> Option<u64> {
        let code = code.trim();
        if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let want: u32 = code.parse().ok()?;
        let now = unix_secs / STEP_SECS;
        let mut found = None;
        // Every candidate is computed, so the time taken does not say which matched.
        for step in [now.saturating_sub(1), now, now + 1] {
            if hotp(secret, step) ^ want == 0 {
                found = Some(step);
            }
        }
        found
    }

    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

    /// Base32 without padding (what authenticator apps expect).
    pub fn base32_encode(data: &[u8]) -> String {
        let mut out = String::new();
        let (mut buf, mut bits) = (0u32, 0u32);
        for &b in data {
            buf = (buf << 8) | u32::from(b);
            bits += 8;
            while bits >= 5 {
                bits -= 5;
                out.push(char::from(ALPHABET[((buf >> bits) & 31) as usize]));
            }
        }
        if bits > 0 {
            out.push(char::from(ALPHABET[((buf << (5 - bits)) & 31) as usize]));
        }
        out
    }

    /// Base32, case-insensitive, padding and spaces ignored; None on any other character.
    pub fn base32_decode(s: &str) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        let (mut buf, mut bits) = (0u32, 0u32);
        for c in s.bytes().filter(|c| !b"= ".contains(c)) {
            let c = c.to_ascii_uppercase();
            let v = ALPHABET.iter().position(|&a| a == c)? as u32;
            buf = (buf << 5) | v;
            bits += 5;
            if bits >= 8 {
                bits -= 8;
                out.push((buf >> bits) as u8);
                buf &= (1 << bits) - 1;
            }
        }
        Some(out)
    }

    /// The key URI authenticator apps scan (Google Authenticator's Key Uri Format).
    pub fn otpauth_uri(issuer: &str, name: &str, secret_b32: &str) -> String {
        let enc = |s: &str| -> String {
            s.bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                        char::from(b).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect()
        };
        format!(
            "otpauth://totp/{}:{}?secret={secret_b32}&issuer={}&algorithm=SHA1&digits=6&period=30",
            enc(issuer),
            enc(name),
            enc(issuer)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::totp::*;
    use super::*;
    use crate::directory::tempdir;

    #[test]
    fn rfc_6238_appendix_b_sha1_vectors() {
        // RFC 6238 Appendix B: the SHA-1 seed "12345678901234567890", 8-digit codes; our six
        // digits are their last six.
        let seed = b"12345678901234567890";
        for (t, code8) in [
            (59u64, "94287082"),
            (1111111109, "07081804"),
            (1111111111, "14050471"),
            (1234567890, "89005924"),
            (2000000000, "69279037"),
        ] {
            assert_eq!(code_at(seed, t), code8[2..], "t={t}");
        }
    }

    #[test]
    fn base32_round_trips() {
        assert_eq!(base32_encode(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32_decode("mzxw6ytboi======").unwrap(), b"foobar");
        let s = crate::random_bytes::<20>();
        assert_eq!(base32_decode(&base32_encode(&s)).unwrap(), s);
        assert_eq!(base32_decode("not base32!"), None);
    }

    #[test]
    fn a_code_is_accepted_one_step_either_side_only() {
        let seed = b"12345678901234567890";
        let now = 1_234_567_890;
        let code = code_at(seed, now);
        assert!(matching_step(seed, &code, now).is_some());
        assert!(matching_step(seed, &code, now + 30).is_some());
        assert!(matching_step(seed, &code, now + 90).is_none());
        assert!(matching_step(seed, "12345", now).is_none());
        assert!(matching_step(seed, "abcdef", now).is_none());
    }

    #[test]
    fn accounts_are_added_listed_and_removed() {
        let d = tempdir::Dir::new();
        let s = Store::open(d.path()).unwrap();
        let e = s
            .admin_add("Root", AdminRole::Administrator, "a long passphrase")
            .unwrap();
        assert_eq!(base32_decode(&e.secret).unwrap().len(), 20);
        assert!(e.uri.starts_with("otpauth://totp/Rampart:root?secret="));
        assert!(s
            .admin_add("root", AdminRole::Auditor, "another one")
            .is_err());
        let l = s.admin_list().unwrap();
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].role, AdminRole::Administrator);
        assert!(s
            .admin_password_ok("root", "a long passphrase")
            .unwrap()
            .is_some());
        assert!(s.admin_password_ok("root", "wrong").unwrap().is_none());
        assert!(s.admin_set_disabled("root", true).unwrap());
        assert!(s
            .admin_password_ok("root", "a long passphrase")
            .unwrap()
            .is_none());
        let again = s.admin_reset_totp("root").unwrap().unwrap();
        assert_ne!(again.secret, e.secret);
        assert!(s.admin_remove("root").unwrap());
        assert!(!s.admin_remove("root").unwrap());
        assert!(s.admin_reset_totp("root").unwrap().is_none());
    }
}
