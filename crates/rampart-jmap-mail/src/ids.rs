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
/// A part of a message (an email's, an upload's, or a part of an attached message): `P`, the
/// blob id of the message it is in, then `-` and the part's index at each level, e.g. `PB12-3`
/// (part 3 of email 12) or `PB12-3-1` (part 1 of the message attached as part 3).
pub const PART_BLOB: char = 'P';
/// Levels of attached messages a part blob id may descend (the checks' reading refuses deeper
/// messages anyway).
pub const MAX_PART_DEPTH: usize = 16;
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

/// The stored bytes a blob id starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobBase {
    /// The stored message of email N.
    Email(i64),
    /// Upload N.
    Upload(i64),
}

/// A blob id read: the message it starts from and the part path inside it (empty: the whole).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobRef {
    pub base: BlobBase,
    pub path: Vec<usize>,
}

impl BlobRef {
    /// The blob id of this blob's part `index` (this blob must be a message).
    pub fn part(&self, index: usize) -> BlobRef {
        let mut path = self.path.clone();
        path.push(index);
        BlobRef {
            base: self.base,
            path,
        }
    }

    pub fn to_id(&self) -> String {
        let base = match self.base {
            BlobBase::Email(n) => make(MESSAGE_BLOB, n),
            BlobBase::Upload(n) => make(UPLOAD_BLOB, n),
        };
        if self.path.is_empty() {
            return base;
        }
        let mut s = format!("{PART_BLOB}{base}");
        for p in &self.path {
            s.push('-');
            s.push_str(&p.to_string());
        }
        s
    }
}

/// Reads a blob id: `B12`, `U5`, `PB12-3`, `PU5-1-2`. Anything else names no blob.
pub fn blob(id: &str) -> Option<BlobRef> {
    let (base, path) = match id.strip_prefix(PART_BLOB) {
        None => (id, None),
        Some(rest) => {
            let (base, path) = rest.split_once('-')?;
            (base, Some(path))
        }
    };
    let base = if let Some(n) = parse(MESSAGE_BLOB, base) {
        BlobBase::Email(n)
    } else {
        BlobBase::Upload(parse(UPLOAD_BLOB, base)?)
    };
    let path = match path {
        None => Vec::new(),
        Some(p) => {
            let mut out = Vec::new();
            for step in p.split('-') {
                // One index, one id: digits only, no leading zeros.
                if step.is_empty()
                    || step.len() > 6
                    || !step.bytes().all(|b| b.is_ascii_digit())
                    || (step.len() > 1 && step.starts_with('0'))
                {
                    return None;
                }
                out.push(step.parse().ok()?);
            }
            if out.len() > MAX_PART_DEPTH {
                return None;
            }
            out
        }
    };
    Some(BlobRef { base, path })
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
        for good in ["B12", "U5", "PB12-3", "PU5-1-2", "PB0-0"] {
            assert_eq!(blob(good).unwrap().to_id(), good);
        }
        assert_eq!(blob("PB12-3-1").unwrap().path, vec![3, 1]);
        assert_eq!(blob("B12").unwrap().part(2).to_id(), "PB12-2");
        for bad in [
            "P12-3", "PB12", "PB12-", "PB12-03", "PB12--1", "PE1-1", "B", "PX1-1", "U01",
        ] {
            assert_eq!(blob(bad), None, "{bad}");
        }
        assert_ne!(account("alice@example.com"), account("bob@example.com"));
        let a = account("alice@example.com");
        assert!(a.len() == 17 && a.bytes().all(|b| b.is_ascii_alphanumeric()));
    }
}
