//! The errors of RFC 8620 in the RFC's own words: request-level problem details (§3.6.1),
//! method-level errors (§3.6.2) and the per-record SetError of /set (§5.3).

use serde_json::{json, Map, Value};

/// The problem details type URIs of RFC 8620 §3.6.1.
pub const URN_UNKNOWN_CAPABILITY: &str = "urn:ietf:params:jmap:error:unknownCapability";
pub const URN_NOT_JSON: &str = "urn:ietf:params:jmap:error:notJSON";
pub const URN_NOT_REQUEST: &str = "urn:ietf:params:jmap:error:notRequest";
pub const URN_LIMIT: &str = "urn:ietf:params:jmap:error:limit";

/// A request the server refuses as a whole, before any method runs (RFC 8620 §3.6.1). Sent as
/// RFC 7807 problem details (`application/problem+json`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// `using` names a capability the server does not offer.
    #[error("unknown capability {0}")]
    UnknownCapability(String),
    /// Not `application/json`, or not valid I-JSON.
    #[error("not JSON: {0}")]
    NotJson(String),
    /// Valid JSON, but not of the type signature of the Request object.
    #[error("not a request: {0}")]
    NotRequest(String),
    /// Over one of the core capability's limits; `limit` is the limit's name as advertised.
    #[error("over the limit {limit}")]
    Limit { limit: &'static str, detail: String },
}

impl RequestError {
    pub fn type_uri(&self) -> &'static str {
        match self {
            Self::UnknownCapability(_) => URN_UNKNOWN_CAPABILITY,
            Self::NotJson(_) => URN_NOT_JSON,
            Self::NotRequest(_) => URN_NOT_REQUEST,
            Self::Limit { .. } => URN_LIMIT,
        }
    }

    /// The HTTP status: 400 for all but the concurrency limits, which are 429 (Too Many
    /// Requests, RFC 6585) because the same request succeeds once earlier ones finish.
    pub fn status(&self) -> u16 {
        match self {
            Self::Limit { limit, .. }
                if *limit == "maxConcurrentRequests" || *limit == "maxConcurrentUpload" =>
            {
                429
            }
            Self::Limit { limit, .. } if *limit == "maxSizeUpload" => 413,
            _ => 400,
        }
    }

    /// The problem details object (RFC 7807) with the JMAP type URI; a limit error names the
    /// limit in `limit` (RFC 8620 §3.6.1).
    pub fn problem_details(&self) -> Value {
        let detail = match self {
            Self::UnknownCapability(c) => {
                format!("the server does not support the capability {c:?}")
            }
            Self::NotJson(d) | Self::NotRequest(d) => d.clone(),
            Self::Limit { detail, .. } => detail.clone(),
        };
        let mut v = json!({"type": self.type_uri(), "status": self.status(), "detail": detail});
        if let Self::Limit { limit, .. } = self {
            v["limit"] = Value::from(*limit);
        }
        v
    }
}

/// The method-level error types of RFC 8620 (§3.6.2 and the standard methods of §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MethodErrorType {
    ServerUnavailable,
    ServerFail,
    ServerPartialFail,
    UnknownMethod,
    InvalidArguments,
    InvalidResultReference,
    Forbidden,
    AccountNotFound,
    AccountNotSupportedByMethod,
    AccountReadOnly,
    RequestTooLarge,
    StateMismatch,
    CannotCalculateChanges,
    TooManyChanges,
    AnchorNotFound,
    UnsupportedSort,
    UnsupportedFilter,
    FromAccountNotFound,
    FromAccountNotSupportedByMethod,
    /// A type defined by another specification (e.g. RFC 8621), spelled as it defines it.
    Other(&'static str),
}

impl MethodErrorType {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::ServerUnavailable => "serverUnavailable",
            Self::ServerFail => "serverFail",
            Self::ServerPartialFail => "serverPartialFail",
            Self::UnknownMethod => "unknownMethod",
            Self::InvalidArguments => "invalidArguments",
            Self::InvalidResultReference => "invalidResultReference",
            Self::Forbidden => "forbidden",
            Self::AccountNotFound => "accountNotFound",
            Self::AccountNotSupportedByMethod => "accountNotSupportedByMethod",
            Self::AccountReadOnly => "accountReadOnly",
            Self::RequestTooLarge => "requestTooLarge",
            Self::StateMismatch => "stateMismatch",
            Self::CannotCalculateChanges => "cannotCalculateChanges",
            Self::TooManyChanges => "tooManyChanges",
            Self::AnchorNotFound => "anchorNotFound",
            Self::UnsupportedSort => "unsupportedSort",
            Self::UnsupportedFilter => "unsupportedFilter",
            Self::FromAccountNotFound => "fromAccountNotFound",
            Self::FromAccountNotSupportedByMethod => "fromAccountNotSupportedByMethod",
            Self::Other(s) => s,
        }
    }
}

/// A method call that failed: the response is `["error", {"type": ..., "description": ...}, callId]`
/// and processing continues with the next call (RFC 8620 §3.6.2).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}: {}", .kind.as_str(), .description.as_deref().unwrap_or(""))]
pub struct MethodError {
    pub kind: MethodErrorType,
    pub description: Option<String>,
    /// Further properties a type defines (none in RFC 8620 itself).
    pub extra: Map<String, Value>,
}

impl MethodError {
    pub fn new(kind: MethodErrorType) -> Self {
        Self {
            kind,
            description: None,
            extra: Map::new(),
        }
    }

    pub fn with(kind: MethodErrorType, description: impl Into<String>) -> Self {
        Self {
            kind,
            description: Some(description.into()),
            extra: Map::new(),
        }
    }

    pub fn invalid_arguments(description: impl Into<String>) -> Self {
        Self::with(MethodErrorType::InvalidArguments, description)
    }

    pub fn invalid_result_reference(description: impl Into<String>) -> Self {
        Self::with(MethodErrorType::InvalidResultReference, description)
    }

    pub fn unknown_method(name: &str) -> Self {
        Self::with(
            MethodErrorType::UnknownMethod,
            format!("unknown method {name:?}"),
        )
    }

    pub fn server_fail(description: impl Into<String>) -> Self {
        Self::with(MethodErrorType::ServerFail, description)
    }

    pub fn cannot_calculate_changes() -> Self {
        Self::new(MethodErrorType::CannotCalculateChanges)
    }

    pub fn state_mismatch() -> Self {
        Self::new(MethodErrorType::StateMismatch)
    }

    pub fn request_too_large(description: impl Into<String>) -> Self {
        Self::with(MethodErrorType::RequestTooLarge, description)
    }

    /// The arguments object of the `error` response.
    pub fn to_arguments(&self) -> Map<String, Value> {
        let mut m = self.extra.clone();
        m.insert("type".into(), self.kind.as_str().into());
        if let Some(d) = &self.description {
            m.insert("description".into(), d.clone().into());
        }
        m
    }
}

/// Why one record of a /set call was not created, updated or destroyed (RFC 8620 §5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SetErrorType {
    Forbidden,
    OverQuota,
    TooLarge,
    RateLimit,
    NotFound,
    InvalidPatch,
    WillDestroy,
    InvalidProperties,
    Singleton,
    /// /copy (§5.4): a record with the same properties already exists.
    AlreadyExists,
    /// A type defined by another specification (e.g. RFC 8621's `mailboxHasEmail`).
    Other(&'static str),
}

impl SetErrorType {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Forbidden => "forbidden",
            Self::OverQuota => "overQuota",
            Self::TooLarge => "tooLarge",
            Self::RateLimit => "rateLimit",
            Self::NotFound => "notFound",
            Self::InvalidPatch => "invalidPatch",
            Self::WillDestroy => "willDestroy",
            Self::InvalidProperties => "invalidProperties",
            Self::Singleton => "singleton",
            Self::AlreadyExists => "alreadyExists",
            Self::Other(s) => s,
        }
    }
}

/// A SetError object: `type`, optional `description`, and for `invalidProperties` the
/// `properties` at fault, for `alreadyExists` the `existingId`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetError {
    pub kind: SetErrorType,
    pub description: Option<String>,
    pub properties: Vec<String>,
    pub existing_id: Option<String>,
}

impl SetError {
    pub fn new(kind: SetErrorType) -> Self {
        Self {
            kind,
            description: None,
            properties: Vec::new(),
            existing_id: None,
        }
    }

    pub fn with(kind: SetErrorType, description: impl Into<String>) -> Self {
        Self {
            description: Some(description.into()),
            ..Self::new(kind)
        }
    }

    pub fn invalid_properties(properties: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            properties: properties.into_iter().map(Into::into).collect(),
            ..Self::new(SetErrorType::InvalidProperties)
        }
    }

    pub fn invalid_patch(description: impl Into<String>) -> Self {
        Self::with(SetErrorType::InvalidPatch, description)
    }

    pub fn not_found() -> Self {
        Self::new(SetErrorType::NotFound)
    }

    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("type".into(), self.kind.as_str().into());
        if let Some(d) = &self.description {
            m.insert("description".into(), d.clone().into());
        }
        if !self.properties.is_empty() || self.kind == SetErrorType::InvalidProperties {
            m.insert("properties".into(), self.properties.clone().into());
        }
        if let Some(id) = &self.existing_id {
            m.insert("existingId".into(), id.clone().into());
        }
        Value::Object(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_problem_names_the_limit() {
        let e = RequestError::Limit {
            limit: "maxCallsInRequest",
            detail: "too many".into(),
        };
        let p = e.problem_details();
        assert_eq!(p["type"], URN_LIMIT);
        assert_eq!(p["limit"], "maxCallsInRequest");
        assert_eq!(p["status"], 400);
    }

    #[test]
    fn concurrency_limits_are_429_and_upload_size_413() {
        let c = RequestError::Limit {
            limit: "maxConcurrentRequests",
            detail: String::new(),
        };
        assert_eq!(c.status(), 429);
        let u = RequestError::Limit {
            limit: "maxSizeUpload",
            detail: String::new(),
        };
        assert_eq!(u.status(), 413);
        assert_eq!(u.problem_details()["status"], 413);
    }

    #[test]
    fn request_error_types_are_the_rfc_uris() {
        assert_eq!(
            RequestError::NotJson(String::new()).type_uri(),
            URN_NOT_JSON
        );
        assert_eq!(
            RequestError::NotRequest(String::new()).type_uri(),
            URN_NOT_REQUEST
        );
        assert_eq!(
            RequestError::UnknownCapability("x".into()).type_uri(),
            URN_UNKNOWN_CAPABILITY
        );
    }

    #[test]
    fn method_error_arguments() {
        let e = MethodError::invalid_arguments("ids must be an array");
        let a = e.to_arguments();
        assert_eq!(a["type"], "invalidArguments");
        assert_eq!(a["description"], "ids must be an array");
    }

    #[test]
    fn set_error_invalid_properties_lists_them() {
        let v = SetError::invalid_properties(["name", "parentId"]).to_value();
        assert_eq!(v["type"], "invalidProperties");
        assert_eq!(v["properties"], json!(["name", "parentId"]));
        assert_eq!(
            SetError::not_found().to_value(),
            json!({"type": "notFound"})
        );
    }
}
