//! Where a client address is (AL-3.1 names the location of logins): country and city from a
//! MaxMind-format database the operator configures (`[audit] geoip_database`). Shared by SMTP
//! AUTH and JMAP through [`crate::session::ServerContext`]. No database is shipped or fetched:
//! without one, locations are simply absent and the audit says so.

use maxminddb::geoip2;
use std::net::IpAddr;
use std::path::Path;

/// The configured location database, or none.
#[derive(Default)]
pub struct Locator {
    reader: Option<maxminddb::Reader<Vec<u8>>>,
}

impl Locator {
    /// No database: every lookup is None.
    pub fn none() -> Locator {
        Locator::default()
    }

    /// Reads the database whole (a city database is tens of megabytes; lookups then take
    /// microseconds, with no file access on the login path).
    pub fn open(path: &Path) -> Result<Locator, String> {
        let reader = maxminddb::Reader::open_readfile(path)
            .map_err(|e| format!("{}: not a MaxMind database: {e}", path.display()))?;
        Ok(Locator {
            reader: Some(reader),
        })
    }

    pub fn is_configured(&self) -> bool {
        self.reader.is_some()
    }

    /// "Country, City" (English names), "Country" when the city is unknown; None when the
    /// address is not in the database or no database is configured.
    pub fn locate(&self, ip: IpAddr) -> Option<String> {
        let reader = self.reader.as_ref()?;
        // A dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d; the database keys them as
        // IPv4.
        let found = reader.lookup(ip.to_canonical()).ok()?;
        let city: geoip2::City = found.decode().ok()??;
        let country = city.country.names.english;
        let town = city.city.names.english;
        match (country, town) {
            (Some(c), Some(t)) => Some(format!("{c}, {t}")),
            (Some(c), None) => Some(c.to_owned()),
            (None, Some(t)) => Some(t.to_owned()),
            (None, None) => None,
        }
    }
}

/// AL-3.1: a `login` or `login-failed` event of the mailbox audit, by the account's owner, with
/// the client address and its location. Shared by SMTP AUTH (`submission`) and JMAP (`jmap`).
pub fn login_event(
    locator: &Locator,
    account: &str,
    service: &str,
    succeeded: bool,
    ip: IpAddr,
    user_agent: Option<String>,
    detail: impl Into<String>,
) -> rampart_store::MailboxEvent {
    use rampart_store::mailbox_audit::op;
    let operation = if succeeded {
        op::LOGIN
    } else {
        op::LOGIN_FAILED
    };
    let mut e = rampart_store::MailboxEvent::new(account, service, operation, detail);
    e.client = Some(ip.to_string());
    e.user_agent = user_agent;
    e.location = locator.locate(ip);
    e
}
