//! The gateway and store roles (AL-1, NC-2.3.4) as a session sees them: who relays through a
//! listener without a login (`relay_from`), whether a client proved with its certificate that it
//! is the gateway, and which `Authentication-Results` a store keeps.

use super::Session;
use crate::reply::{EnhancedStatus, Reply};
use rampart_checks::message::Message;
use rampart_checks::Modification;

/// The header field RFC 8601 defines.
const AUTH_RESULTS: &str = "Authentication-Results";

impl Session {
    /// Records the name in the client certificate the TLS handshake verified against the
    /// listener's `client_ca_file`.
    pub fn client_certificate(&mut self, name: String) {
        self.client_cert = Some(name);
    }

    /// The listener this session was accepted on.
    pub fn listener(&self) -> &rampart_config::Listener {
        &self.listener
    }

    /// AL-1: a host named by the listener's `relay_from` relays without a user login, and its
    /// mail takes the path of authenticated submission (outbound checks, DKIM, rate limits).
    pub(super) fn relay_from(&self) -> bool {
        self.listener
            .relay_from
            .as_ref()
            .is_some_and(|r| r.allows(self.peer.ip(), self.client_cert.is_some()))
    }

    /// Who relays: the user that logged in, or `relay:<certificate name or address>` for a
    /// `relay_from` host. Rate limits count it; the trace names it.
    pub(super) fn identity(&self) -> Option<String> {
        match &self.auth {
            Some(u) => Some(u.clone()),
            None if self.relay_from() => Some(format!(
                "relay:{}",
                self.client_cert
                    .clone()
                    .unwrap_or_else(|| self.peer.ip().to_string())
            )),
            None => None,
        }
    }

    /// NC-2.3.4: refuses MAIL from a client without a verified certificate on a listener that
    /// requires one (the store, which accepts mail only from the gateway).
    pub(super) fn check_client_cert(&self) -> Option<Reply> {
        (self.listener.require_client_cert && self.client_cert.is_none()).then(|| {
            Reply::new(
                554,
                EnhancedStatus::NOT_AUTHORIZED,
                "A client certificate is required on this port",
            )
        })
    }

    /// NC-2.3.4: the client proved with its certificate that it is the gateway, and the listener
    /// trusts the gateway's verdicts: its content checks are not run again.
    pub(super) fn trusted_gateway(&self) -> bool {
        self.listener.trust_gateway_verdicts
            && self.listener.require_client_cert
            && self.client_cert.is_some()
    }

    /// AL-1.2, NC-2.3.4: the From address the trusted gateway found authenticated, read from
    /// its own `Authentication-Results` (the newest field whose authserv-id is one of
    /// `trusted_authserv_ids`) as the checks here would have read their own results. Without
    /// `trusted_authserv_ids` no field can be told to be the gateway's, so none is believed.
    pub(super) fn authenticated_by_gateway(&self, message: &Message<'_>) -> Option<String> {
        let from = super::content::single_from(message)?;
        let (_, domain) = from.rsplit_once('@')?;
        let (_, results) = message
            .headers
            .all(AUTH_RESULTS)
            .find(|(_, f)| self.trusted_results(f.value.as_bytes()))?;
        rampart_checks::auth::results_authenticate(results.value.as_bytes(), domain).then_some(from)
    }

    /// NC-2.3.4: with `trusted_authserv_ids` set, every `Authentication-Results` field whose
    /// authserv-id is not one of them is removed: only the gateway's results are believed.
    pub(super) fn untrusted_results(&self, message: &Message<'_>) -> Option<Modification> {
        if self.listener.trusted_authserv_ids.is_empty() {
            return None;
        }
        let indices: Vec<usize> = message
            .headers
            .all(AUTH_RESULTS)
            .filter(|(_, f)| !self.trusted_results(f.value.as_bytes()))
            .map(|(i, _)| i)
            .collect();
        (!indices.is_empty()).then(|| Modification::RemoveFields {
            name: AUTH_RESULTS.to_string(),
            indices,
        })
    }

    /// Whether an `Authentication-Results` value claims one of `trusted_authserv_ids`.
    fn trusted_results(&self, value: &[u8]) -> bool {
        self.listener
            .trusted_authserv_ids
            .iter()
            .any(|t| rampart_checks::auth::claims(value, t))
    }
}
