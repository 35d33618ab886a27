//! AUTH (RFC 4954, NC-2.1.4): PLAIN and LOGIN inside TLS, with delays and blocks after failures.

use super::{Flow, Session};
use crate::codec::{take_line, Line};
use crate::limits::AuthRefusal;
use crate::reply::{self, EnhancedStatus, Reply};
use tokio::io::{AsyncRead, AsyncWrite};

impl Session {
    /// AUTH PLAIN and LOGIN, inside TLS only (NC-2.1.4). A failure is answered after a delay that
    /// grows with failures from the address or for the account; past a threshold the address is
    /// refused for a while. NC-2.1.8: attempts in progress count toward that threshold, and
    /// passwords are hashed in a bounded number of slots. Every attempt is a trace event.
    pub(super) async fn authenticate<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        io: &mut S,
        mechanism: u64,
        initial: String,
    ) -> std::io::Result<Flow> {
        if !self.listener.role.is_submission() {
            return Ok(self.error(reply::bad_sequence(
                "Authentication is not available on this service",
            )));
        }
        // NC-2.1.4: no credentials over a connection without TLS.
        if self.tls.is_none() {
            return Ok(self.error(reply::must_starttls()));
        }
        if self.auth.is_some() {
            return Ok(self.error(reply::bad_sequence("Already authenticated")));
        }
        if self.tx.is_some() {
            return Ok(self.error(reply::bad_sequence(
                "AUTH is not allowed during a mail transaction",
            )));
        }
        let ip = self.peer.ip();
        if self.ctx.auth_guard.is_blocked(ip) {
            return self.refuse_auth(AuthRefusal::Blocked).await;
        }
        let credentials = match mechanism {
            smtp_proto::AUTH_PLAIN => {
                let response = if initial.is_empty() {
                    match self.challenge(io, "").await? {
                        Some(l) => l,
                        None => return Ok(Flow::Close),
                    }
                } else {
                    initial
                };
                decode_plain(&response)
            }
            smtp_proto::AUTH_LOGIN => {
                let user = if initial.is_empty() {
                    match self.challenge(io, "VXNlcm5hbWU6").await? {
                        Some(l) => l,
                        None => return Ok(Flow::Close),
                    }
                } else {
                    initial
                };
                let pass = match self.challenge(io, "UGFzc3dvcmQ6").await? {
                    Some(l) => l,
                    None => return Ok(Flow::Close),
                };
                match (decode_b64(&user), decode_b64(&pass)) {
                    (Some(u), Some(p)) if user != "*" && pass != "*" => Some((u, p)),
                    _ => None,
                }
            }
            _ => {
                return Ok(self.error(Reply::new(
                    504,
                    EnhancedStatus::INVALID_ARGUMENTS,
                    "Unrecognized authentication mechanism; use PLAIN or LOGIN",
                )))
            }
        };
        let Some((user, password)) = credentials else {
            return Ok(self.error(Reply::new(
                501,
                EnhancedStatus::SYNTAX_ERROR,
                "Cannot decode the authentication response",
            )));
        };
        // NC-2.1.8: the attempt counts against its address, and waits for a hashing slot, before
        // any password is hashed.
        let ctx = self.ctx.clone();
        let attempt = match ctx.auth_guard.begin(ip) {
            Ok(a) => a,
            Err(refusal) => return self.refuse_auth(refusal).await,
        };
        let slot = match attempt.hash_slot().await {
            Ok(s) => s,
            Err(refusal) => return self.refuse_auth(refusal).await,
        };
        let ctx = self.ctx.clone();
        let u = user.clone();
        // Only its keyed hash is kept by the detector (NC-2.4.1).
        let password_for_ids = password.clone();
        // Argon2id is slow on purpose: off the async workers. The slot goes with the hash, so it
        // is held until the hash ends even if this session is dropped meanwhile.
        let ok = tokio::spawn(async move {
            let _slot = slot;
            check_secret(&ctx, &u, &password, ip).await
        })
        .await
        .map_err(std::io::Error::other)?;
        match ok {
            Ok(true) => {
                attempt.succeeded(&user);
                let identity = user.to_ascii_lowercase();
                self.trace("auth", format!("authenticated as {identity}"), None)
                    .await;
                self.audit_login(&identity, true, "AUTH").await;
                tracing::info!(session = %self.id, user = %identity, "authenticated");
                self.auth = Some(identity);
                self.respond(Reply::new(
                    235,
                    EnhancedStatus::SECURITY_OTHER,
                    "Authentication successful",
                ));
                Ok(Flow::Continue)
            }
            Ok(false) => {
                let (delay, blocked) = attempt.failed(&user, &password_for_ids);
                // NC-2.4.1: counted per address and per account, a repeated password once.
                self.ctx
                    .ids
                    .failed_login(ip, &user, &password_for_ids, "SMTP AUTH")
                    .await;
                let account: String = user.chars().filter(|c| !c.is_control()).take(100).collect();
                let detail = format!(
                    "failed for {account}; answered after {} ms{}",
                    delay.as_millis(),
                    if blocked { "; address blocked" } else { "" }
                );
                self.trace("auth", detail, None).await;
                self.audit_login(&account, false, "AUTH").await;
                tracing::warn!(session = %self.id, client = %ip, account = %account, "authentication failed");
                self.flush(io).await?;
                tokio::time::sleep(delay).await;
                Ok(self.error(Reply::new(
                    535,
                    EnhancedStatus::BAD_CREDENTIALS,
                    "Authentication credentials invalid",
                )))
            }
            Err(e) => {
                tracing::error!(error = %e, "password check failed");
                self.respond(Reply::new(
                    454,
                    EnhancedStatus::SECURITY_OTHER,
                    "Temporary authentication failure",
                ));
                Ok(Flow::Continue)
            }
        }
    }

    /// AL-3.1: a login or failed login in the mailbox audit of `account` (service `submission`).
    /// A failure names an account only when it exists: guesses at names fill no audit.
    async fn audit_login(&self, account: &str, succeeded: bool, detail: &str) {
        let detail = if succeeded {
            detail.to_owned()
        } else {
            match self.ctx.store.account_disabled(account).await {
                Ok(Some(true)) => format!("{detail}: the account is disabled"),
                Ok(Some(false)) => format!("{detail}: wrong password or token"),
                _ => return,
            }
        };
        let e = crate::geoip::login_event(
            &self.ctx.locator,
            account,
            "submission",
            succeeded,
            self.peer.ip(),
            None,
            detail,
        );
        self.ctx.store.mailbox_record(vec![e]).await;
    }

    /// Answers an attempt refused before its password is checked. A refusal for the address is
    /// the block's reply, whether the address is blocked or has as many attempts in progress
    /// and failed as it may have (NC-2.1.8); a full queue for hashing is a busy server's.
    async fn refuse_auth(&mut self, refusal: AuthRefusal) -> std::io::Result<Flow> {
        let (detail, text) = match refusal {
            AuthRefusal::Blocked => (
                "refused: address blocked after repeated failures",
                "Too many failed authentications from your address; try again later",
            ),
            AuthRefusal::TooManyAttempts => (
                "refused: too many attempts from the address in progress or failed",
                "Too many failed authentications from your address; try again later",
            ),
            AuthRefusal::Busy => (
                "refused: every password-hashing slot busy and the queue full",
                "Too many authentications in progress; try again later",
            ),
        };
        self.trace("auth", detail, None).await;
        self.respond(Reply::new(454, EnhancedStatus::SECURITY_OTHER, text));
        Ok(Flow::Continue)
    }

    /// Sends a 334 challenge and reads the client's answer line. None ends the session.
    async fn challenge<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        io: &mut S,
        text: &str,
    ) -> std::io::Result<Option<String>> {
        // 334 is intermediate: RFC 3463 has no class 3, so no enhanced status code.
        self.respond(Reply::bare(334, text));
        let max_line = self.ctx.config.limits.max_line_length.get() as usize;
        loop {
            match take_line(&self.buf[self.pos..], max_line) {
                Line::Complete(n) => {
                    let line =
                        String::from_utf8_lossy(&self.buf[self.pos..self.pos + n - 2]).into_owned();
                    self.pos += n;
                    return Ok(Some(line));
                }
                Line::Incomplete => {
                    let timeout = self.ctx.config.timeouts.command_secs.get();
                    if !self.fill(io, timeout, false).await? {
                        return Ok(None);
                    }
                }
                Line::TooLong | Line::BareLineEnding => {
                    self.respond(reply::bare_line_ending_command());
                    return Ok(None);
                }
            }
        }
    }
}

/// The password of `user`, or in its place a bearer token of `user` with scope `submission`
/// (`rampart user token add --scope submission`). A token's use goes to the mailbox audit at
/// most once an hour (AL-3.1). A disabled account's password and tokens are both refused.
async fn check_secret(
    ctx: &crate::session::ServerContext,
    user: &str,
    secret: &str,
    ip: std::net::IpAddr,
) -> rampart_store::Result<bool> {
    use rampart_store::tokens::{Scope, TokenCheck, TOKEN_PREFIX};
    let store = &ctx.store;
    if secret.starts_with(TOKEN_PREFIX) {
        match store.token_authenticate(secret, Scope::Submission).await? {
            // Not a token after all: perhaps a password that looks like one.
            TokenCheck::Unknown => {}
            TokenCheck::Valid {
                id,
                account,
                first_use_this_hour,
            } => {
                if !account.eq_ignore_ascii_case(user) {
                    return Ok(false);
                }
                if first_use_this_hour {
                    let mut e = rampart_store::MailboxEvent::new(
                        &account,
                        "submission",
                        rampart_store::mailbox_audit::op::TOKEN_USE,
                        format!("token {id}"),
                    );
                    e.client = Some(ip.to_string());
                    e.location = ctx.locator.locate(ip);
                    store.mailbox_record(vec![e]).await;
                }
                return Ok(true);
            }
            _ => return Ok(false),
        }
    }
    store.verify_password(user, secret).await
}

fn decode_b64(s: &str) -> Option<String> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .ok()?;
    String::from_utf8(bytes).ok()
}

/// RFC 4616: `authzid NUL authcid NUL passwd`; an authzid other than the authcid is refused.
fn decode_plain(s: &str) -> Option<(String, String)> {
    if s.trim() == "*" {
        return None;
    }
    let text = decode_b64(s)?;
    let mut parts = text.split('\0');
    let (authz, authc, pass) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some()
        || authc.is_empty()
        || (!authz.is_empty() && !authz.eq_ignore_ascii_case(authc))
    {
        return None;
    }
    Some((authc.to_string(), pass.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_responses() {
        // "\0alice@example.test\0pw"
        assert_eq!(
            decode_plain("AGFsaWNlQGV4YW1wbGUudGVzdABwdw=="),
            Some(("alice@example.test".into(), "pw".into()))
        );
        // authzid "bob" for authcid "alice": refused.
        assert_eq!(decode_plain("Ym9iAGFsaWNlAHB3"), None);
        assert_eq!(decode_plain("*"), None);
        assert_eq!(decode_plain("not base64!"), None);
    }
}
