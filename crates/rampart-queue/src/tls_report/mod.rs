//! TLS reporting (RFC 8460): every outbound TLS outcome is counted per policy domain and day
//! ([`record`]), and each day's counts go as one aggregate report to the domains that publish
//! a `_smtp._tls` record ([`send`]). Reports other senders make about our domains are taken in
//! by [`incoming`].
//!
//! Any policy mechanism records its outcomes the same way: build a [`TlsOutcome`] (policy
//! domain, policy type `sts`, `tlsa` or `no-policy-found`, the policy's lines, the MX and the
//! result) and call [`record`].

pub mod incoming;
pub mod send;

use rampart_store::{AnyStore, TlsOutcomeCount};
use std::net::IpAddr;

/// RFC 8460 section 4.4 `policy-type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyType {
    Sts,
    Tlsa,
    NoPolicyFound,
}

impl PolicyType {
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyType::Sts => "sts",
            PolicyType::Tlsa => "tlsa",
            PolicyType::NoPolicyFound => "no-policy-found",
        }
    }
}

/// A session's result: success, or an RFC 8460 section 4.3 result type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResultType {
    Success,
    // 4.3.1 negotiation failures
    StartTlsNotSupported,
    CertificateHostMismatch,
    CertificateExpired,
    CertificateNotTrusted,
    ValidationFailure,
    // 4.3.2 policy failures: DANE
    TlsaInvalid,
    DnssecInvalid,
    DaneRequired,
    // 4.3.2 policy failures: MTA-STS
    StsPolicyFetchError,
    StsPolicyInvalid,
    StsWebpkiInvalid,
}

impl ResultType {
    pub const ALL: [ResultType; 12] = [
        ResultType::Success,
        ResultType::StartTlsNotSupported,
        ResultType::CertificateHostMismatch,
        ResultType::CertificateExpired,
        ResultType::CertificateNotTrusted,
        ResultType::ValidationFailure,
        ResultType::TlsaInvalid,
        ResultType::DnssecInvalid,
        ResultType::DaneRequired,
        ResultType::StsPolicyFetchError,
        ResultType::StsPolicyInvalid,
        ResultType::StsWebpkiInvalid,
    ];

    /// The RFC's word for it (`success` for a success: it is no result type of the RFC's).
    pub fn as_str(self) -> &'static str {
        match self {
            ResultType::Success => "success",
            ResultType::StartTlsNotSupported => "starttls-not-supported",
            ResultType::CertificateHostMismatch => "certificate-host-mismatch",
            ResultType::CertificateExpired => "certificate-expired",
            ResultType::CertificateNotTrusted => "certificate-not-trusted",
            ResultType::ValidationFailure => "validation-failure",
            ResultType::TlsaInvalid => "tlsa-invalid",
            ResultType::DnssecInvalid => "dnssec-invalid",
            ResultType::DaneRequired => "dane-required",
            ResultType::StsPolicyFetchError => "sts-policy-fetch-error",
            ResultType::StsPolicyInvalid => "sts-policy-invalid",
            ResultType::StsWebpkiInvalid => "sts-webpki-invalid",
        }
    }

    pub fn parse(s: &str) -> Option<ResultType> {
        ResultType::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// One outbound TLS session's outcome (or a policy failure before any session).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsOutcome {
    /// The recipient domain whose policy applied (lower case).
    pub policy_domain: String,
    pub policy_type: PolicyType,
    /// The policy as the report quotes it: an MTA-STS policy's lines, or TLSA records.
    pub policy_strings: Vec<String>,
    /// The MX host, when one was chosen.
    pub mx_host: Option<String>,
    /// The address connected to, when one was.
    pub receiving_ip: Option<IpAddr>,
    pub result: ResultType,
    /// Why, in a few words (the report's `failure-reason-code`); None for a success.
    pub reason: Option<String>,
}

/// Days since the epoch (UTC) of a time in microseconds.
pub fn day_of(micros: i64) -> i64 {
    micros.div_euclid(86_400 * 1_000_000)
}

/// RFC 8460 section 4: counts `outcome` for today. A failure to count is logged, never the
/// delivery's failure.
pub async fn record(store: &AnyStore, outcome: &TlsOutcome) {
    let reason: String = outcome
        .reason
        .as_deref()
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect();
    let count = TlsOutcomeCount {
        day: day_of(rampart_store::now_micros()),
        policy_domain: outcome.policy_domain.to_ascii_lowercase(),
        policy_type: outcome.policy_type.as_str().into(),
        policy_strings: outcome.policy_strings.join("\n"),
        mx_host: outcome.mx_host.clone().unwrap_or_default(),
        result_type: outcome.result.as_str().into(),
        receiving_ip: outcome
            .receiving_ip
            .map(|ip| ip.to_string())
            .unwrap_or_default(),
        reason,
        count: 1,
    };
    if let Err(e) = store.tls_outcome_add(count).await {
        tracing::error!(error = %e, domain = %outcome.policy_domain, "counting a TLS outcome failed");
    }
}
