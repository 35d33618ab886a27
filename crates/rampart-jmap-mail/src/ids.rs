//! JMAP ids (RFC 8620 §1.2: 1–255 characters of `A-Za-z0-9_-`) for the store's integer ids: one
//! letter naming the type, then the number. An id of the wrong type or form names nothing, so a
//! lookup with it is `notFound`, never an error of the server.

/// The letter of each type.
pub const MAILBOX: char = 'M';
pub const EMAIL: char = 'E';
pub const THREAD: char = 'T';
/// A stored message, the blob of an email.
pub const MESSAGE_BLOB: char = 'B';
/// An uploaded blob.
pub const UPLOAD_BLOB: char = 'U';
pub const IDENTITY: char = 'I';
pub const SUBMISSION: char = 'S';

pub fn make(kind: char, n: i64) -> String {
    format!("{kind}{n}")
}

/// The number in `id` if it is an id of `kind`.
pub fn parse(kind: char, id: &str) -> Option<i64> {
    let rest = id.strip_prefix(kind)?;
    if rest.is_empty() || rest.len() > 19 || !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // No leading zeros: one number, one id.
    if rest.len() > 1 && rest.starts_with('0') {
        return None;
    }
    rest.parse().ok()
}

pub fn mailbox(n: i64) -> String {
    make(MAILBOX, n)
}
pub fn email(n: i64) -> String {
    make(EMAIL, n)
}
pub fn thread(n: i64) -> String {
    make(THREAD, n)
}

/// The account id for an owner's address: `A` and 16 hex digits of a digest of the lower-case
/// address. Stable across restarts and nodes; not the address itself, which has characters an
/// id may not.
pub fn account(address: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in address.to_ascii_lowercase().bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("A{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        assert_eq!(parse(MAILBOX, &mailbox(12)), Some(12));
        assert_eq!(parse(EMAIL, "E0"), Some(0));
        for bad in [
            "M12",
            "E",
            "E01",
            "E1x",
            "e1",
            "E-1",
            "E99999999999999999999",
        ] {
            assert_eq!(parse(EMAIL, bad), None, "{bad}");
        }
        assert_eq!(account("Alice@Example.COM"), account("alice@example.com"));
        assert_ne!(account("alice@example.com"), account("bob@example.com"));
        let a = account("alice@example.com");
        assert!(a.len() == 17 && a.bytes().all(|b| b.is_ascii_alphanumeric()));
    }
}
