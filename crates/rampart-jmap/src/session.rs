//! The session resource (RFC 8620 §2): who the user is, which accounts they reach, what the
//! server offers and its limits, and where the API, blob and push endpoints are.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

/// The `urn:ietf:params:jmap:core` capability (RFC 8620 §2): the limits the server enforces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CoreCapability {
    /// Largest blob upload, in octets (413 above it).
    pub max_size_upload: u64,
    /// Uploads one user may run at once (429 above it).
    pub max_concurrent_upload: u64,
    /// Largest API request body, in octets (`limit` problem above it).
    pub max_size_request: u64,
    /// API requests one user may run at once (`limit` problem, 429, above it).
    pub max_concurrent_requests: u64,
    /// Method calls in one request (`limit` problem above it).
    pub max_calls_in_request: u64,
    /// Records one /get may ask for (`requestTooLarge` above it).
    pub max_objects_in_get: u64,
    /// Create + update + destroy in one /set (`requestTooLarge` above it).
    pub max_objects_in_set: u64,
    /// Collations /query accepts in a Comparator (RFC 4790 names).
    pub collation_algorithms: Vec<String>,
}

impl Default for CoreCapability {
    /// Conservative defaults: a client that follows the advertised limits never meets them.
    fn default() -> Self {
        Self {
            max_size_upload: 50_000_000,
            max_concurrent_upload: 4,
            max_size_request: 10_000_000,
            max_concurrent_requests: 4,
            max_calls_in_request: 32,
            max_objects_in_get: 500,
            max_objects_in_set: 500,
            collation_algorithms: vec!["i;ascii-casemap".into(), "i;unicode-casemap".into()],
        }
    }
}

/// The core capability's URI.
pub const CORE: &str = "urn:ietf:params:jmap:core";

/// One account a user can reach (RFC 8620 §1.6.2, §2).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    #[serde(skip)]
    pub id: String,
    pub name: String,
    pub is_personal: bool,
    pub is_read_only: bool,
    /// The capabilities this account supports, each with its account-level object.
    pub account_capabilities: Map<String, Value>,
    /// The data layer's key for the account (for mail: the owner's address). Not shown.
    #[serde(skip)]
    pub owner: String,
    /// How the user reaches it: their own, or a delegate's grant. Not shown.
    #[serde(skip)]
    pub access: Access,
}

/// How a user reaches an account: as its owner, or as a delegate with the rights the owner
/// granted (`rampart mailbox grant`, AL-3.1 records which).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Access {
    #[default]
    Owner,
    /// May read only (the account is also `isReadOnly`).
    DelegateRead,
    /// May read and send as the owner, not change the mailbox.
    DelegateSendAs,
    /// May do everything the owner may.
    DelegateFull,
}

impl Access {
    pub fn is_delegate(self) -> bool {
        self != Access::Owner
    }
    /// Whether mail may be submitted as the account's owner.
    pub fn may_send(self) -> bool {
        matches!(
            self,
            Access::Owner | Access::DelegateSendAs | Access::DelegateFull
        )
    }
}

/// Where a request came from: for the mailbox audit (AL-3.1) and the login guard (NC-2.1.4).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    /// The client's address (None only where the transport has none, as in unit tests).
    pub ip: Option<std::net::IpAddr>,
    /// The User-Agent header, cut to a bounded length.
    pub user_agent: Option<String>,
    /// The service the request came in through: `jmap`, `webmail`, ...
    pub service: &'static str,
}

/// An authenticated user and the accounts they reach.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub username: String,
    pub accounts: Vec<Account>,
    /// Capability URI -> the account id to use for it by default.
    pub primary_accounts: BTreeMap<String, String>,
    /// Where this request came from.
    pub origin: Origin,
}

impl User {
    pub fn account(&self, id: &str) -> Option<&Account> {
        self.accounts.iter().find(|a| a.id == id)
    }
}

/// Where the endpoints are, as absolute URLs or paths (the HTTPS layer knows the public origin).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionUrls {
    /// Prepended to every path below, e.g. `https://mail.example.com` (may be empty).
    pub base: String,
}

/// The paths the router serves (see [`crate::http::router`]).
pub const API_PATH: &str = "/jmap/api";
pub const SESSION_PATH: &str = "/jmap/session";
pub const UPLOAD_PATH: &str = "/jmap/upload/{accountId}";
pub const DOWNLOAD_PATH: &str = "/jmap/download/{accountId}/{blobId}/{name}?accept={type}";
pub const EVENT_SOURCE_PATH: &str =
    "/jmap/eventsource?types={types}&closeafter={closeafter}&ping={ping}";

/// The session object of RFC 8620 §2.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    pub capabilities: Map<String, Value>,
    pub accounts: BTreeMap<String, Account>,
    pub primary_accounts: BTreeMap<String, String>,
    pub username: String,
    pub api_url: String,
    pub download_url: String,
    pub upload_url: String,
    pub event_source_url: String,
    pub state: String,
}

impl Session {
    /// Builds the session for `user`. `capabilities` are the server's capabilities other than
    /// core (from [`crate::Methods::capabilities`]). The state is a digest of everything else in
    /// the object, so it changes exactly when the session would change (§2).
    pub fn build(
        user: &User,
        core: &CoreCapability,
        capabilities: &Map<String, Value>,
        urls: &SessionUrls,
    ) -> Self {
        let mut caps = Map::new();
        caps.insert(
            CORE.into(),
            serde_json::to_value(core).unwrap_or(Value::Null),
        );
        for (k, v) in capabilities {
            if k != CORE {
                caps.insert(k.clone(), v.clone());
            }
        }
        let mut s = Session {
            capabilities: caps,
            accounts: user
                .accounts
                .iter()
                .map(|a| (a.id.clone(), a.clone()))
                .collect(),
            primary_accounts: user.primary_accounts.clone(),
            username: user.username.clone(),
            api_url: format!("{}{API_PATH}", urls.base),
            download_url: format!("{}{DOWNLOAD_PATH}", urls.base),
            upload_url: format!("{}{UPLOAD_PATH}", urls.base),
            event_source_url: format!("{}{EVENT_SOURCE_PATH}", urls.base),
            state: String::new(),
        };
        s.state = state_of(&s);
        s
    }

    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// FNV-1a over the canonical JSON of the session without its state. serde_json's map is
/// ordered by key unless `preserve_order` is on, and then by insertion, which `build` makes
/// deterministic; either way equal sessions give equal states.
fn state_of(s: &Session) -> String {
    let bytes = serde_json::to_vec(s).unwrap_or_default();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user() -> User {
        User {
            username: "alice@example.com".into(),
            accounts: vec![Account {
                id: "A1".into(),
                name: "alice@example.com".into(),
                is_personal: true,
                is_read_only: false,
                account_capabilities: Map::from_iter([(
                    "urn:ietf:params:jmap:mail".to_string(),
                    json!({}),
                )]),
                ..Default::default()
            }],
            primary_accounts: BTreeMap::from([("urn:ietf:params:jmap:mail".into(), "A1".into())]),
            origin: Origin::default(),
        }
    }

    fn caps() -> Map<String, Value> {
        Map::from_iter([("urn:ietf:params:jmap:mail".to_string(), json!({}))])
    }

    #[test]
    fn session_has_the_rfc_shape() {
        let urls = SessionUrls {
            base: "https://mail.example.com".into(),
        };
        let s = Session::build(&user(), &CoreCapability::default(), &caps(), &urls).to_value();
        let core = &s["capabilities"][CORE];
        for k in [
            "maxSizeUpload",
            "maxConcurrentUpload",
            "maxSizeRequest",
            "maxConcurrentRequests",
            "maxCallsInRequest",
            "maxObjectsInGet",
            "maxObjectsInSet",
            "collationAlgorithms",
        ] {
            assert!(core.get(k).is_some(), "{k}");
        }
        assert_eq!(s["accounts"]["A1"]["isPersonal"], true);
        assert!(s["accounts"]["A1"].get("id").is_none());
        assert_eq!(s["primaryAccounts"]["urn:ietf:params:jmap:mail"], "A1");
        assert_eq!(s["apiUrl"], "https://mail.example.com/jmap/api");
        let dl = s["downloadUrl"].as_str().unwrap();
        for t in ["{accountId}", "{blobId}", "{type}", "{name}"] {
            assert!(dl.contains(t), "{t}");
        }
        assert!(s["uploadUrl"].as_str().unwrap().contains("{accountId}"));
        let es = s["eventSourceUrl"].as_str().unwrap();
        for t in ["{types}", "{closeafter}", "{ping}"] {
            assert!(es.contains(t), "{t}");
        }
    }

    #[test]
    fn state_changes_exactly_when_the_session_does() {
        let urls = SessionUrls {
            base: String::new(),
        };
        let core = CoreCapability::default();
        let a = Session::build(&user(), &core, &caps(), &urls);
        let b = Session::build(&user(), &core, &caps(), &urls);
        assert_eq!(a.state, b.state);
        let mut u = user();
        u.accounts[0].is_read_only = true;
        assert_ne!(Session::build(&u, &core, &caps(), &urls).state, a.state);
        let core2 = CoreCapability {
            max_calls_in_request: 8,
            ..core.clone()
        };
        assert_ne!(
            Session::build(&user(), &core2, &caps(), &urls).state,
            a.state
        );
    }
}
