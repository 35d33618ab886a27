//! The message modifier (issue #11 item 10): `modify::apply_modifications` and
//! `modify::apply_banner` on any message the normaliser accepts, with changes taken from the
//! input, must never make a message that reads two ways.
//!
//! Input: the message, then a NUL, then the changes, NUL-separated (an accepted message holds no
//! NUL, so the split is unambiguous). Each change is `kind byte, a, 0x01, b`:
//! - kind % 4 == 0: AddHeader { name: a, value: b };
//! - 1: RemoveFields { indices: the bytes of a, name: b, or the name of the field at the first
//!   index when b is empty (so removals do happen) };
//! - 2: SubjectPrefix(a);
//! - 3: banner a (applied after the header changes, as delivery does).
//!
//! What must hold: the output is accepted by `message::read` again (unless an added field is one
//! the normaliser allows once, which is the caller's choice, not the modifier's), it has no bare
//! CR or LF, the body after the header section is byte for byte the body before (plus the banner
//! in front when one was inserted), and each added field with a valid name is there.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_checks::message::{self, ONCE_ONLY};
use rampart_checks::modify::{apply_banner, apply_modifications};
use rampart_checks::Modification;

/// Fields the normaliser allows once per part besides `ONCE_ONLY` (RFC 2045): adding one more is
/// refused by design, and a new Content-Type changes what the body is.
const MIME_FIELDS: &[&str] = &[
    "Content-Type",
    "Content-Disposition",
    "Content-Transfer-Encoding",
    "MIME-Version",
];

fuzz_target!(|data: &[u8]| {
    let (raw, recipe) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let fixed = message::repair(raw);
    let raw = fixed.as_ref().map_or(raw, |r| &r.bytes[..]);
    let Ok(msg) = message::read(raw) else {
        return;
    };
    let headers = &msg.headers;
    let mut mods = Vec::new();
    let mut banner = None;
    for item in recipe.split(|&b| b == 0).filter(|i| !i.is_empty()).take(16) {
        let (kind, rest) = (item[0], &item[1..]);
        let (a, b) = match rest.iter().position(|&c| c == 1) {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &[][..]),
        };
        let text = |s: &[u8]| String::from_utf8_lossy(s).into_owned();
        match kind % 4 {
            0 => mods.push(Modification::AddHeader {
                name: text(a),
                value: text(b),
            }),
            1 => {
                let indices: Vec<usize> = a.iter().map(|&i| usize::from(i)).collect();
                let name = match b {
                    [] => indices
                        .first()
                        .and_then(|&i| headers.fields.get(i))
                        .map_or_else(String::new, |f| f.name.to_string()),
                    _ => text(b),
                };
                mods.push(Modification::RemoveFields { name, indices });
            }
            2 => mods.push(Modification::SubjectPrefix(text(a))),
            _ => banner = Some(text(a)),
        }
    }

    let out = apply_modifications(raw, headers, &mods);
    let added_once_only = mods.iter().any(|m| match m {
        Modification::AddHeader { name, .. } => ONCE_ONLY
            .iter()
            .chain(MIME_FIELDS)
            .any(|n| n.eq_ignore_ascii_case(name.trim())),
        _ => false,
    });
    let body_before = &raw[headers.body_offset.min(raw.len())..];
    let after = check_output(&out, body_before, added_once_only);
    if let Some(after) = &after {
        for m in &mods {
            if let Modification::AddHeader { name, .. } = m {
                if valid_name(name) {
                    assert!(
                        after.iter().any(|n| n == name),
                        "added field {name:?} is missing"
                    );
                }
            }
        }
    }

    if let Some(banner) = banner {
        if let Ok(with_banner) = apply_banner(&out, &banner) {
            let body = &out[message::read_headers(&out).map_or(out.len(), |h| h.body_offset)..];
            let again = check_output(&with_banner, &[], added_once_only);
            if again.is_some() {
                let h = message::read_headers(&with_banner).expect("accepted above");
                assert!(
                    with_banner[h.body_offset..].ends_with(body),
                    "the banner changed the body after it"
                );
            }
        }
    }
});

/// The modifier's own rule for a field name it writes.
fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| (33..=126).contains(&b) && b != b':')
}

/// Asserts what every output must satisfy; returns its field names when the normaliser accepts
/// it (always, unless `may_refuse`). `body` is compared byte for byte unless empty.
fn check_output(out: &[u8], body: &[u8], may_refuse: bool) -> Option<Vec<String>> {
    for (i, &b) in out.iter().enumerate() {
        match b {
            b'\r' => assert_eq!(out.get(i + 1), Some(&b'\n'), "bare CR at {i}"),
            b'\n' => assert!(i > 0 && out[i - 1] == b'\r', "bare LF at {i}"),
            _ => {}
        }
    }
    let msg = match message::read(out) {
        Ok(m) => m,
        Err(r) if may_refuse => {
            // Only the once-only rules may refuse it.
            assert!(
                r.text.contains("more than one"),
                "modified message refused: {} {:?}",
                r.text,
                String::from_utf8_lossy(out)
            );
            return None;
        }
        Err(r) => panic!(
            "the modifier made a message the normaliser refuses: {}: {:?}",
            r.text,
            String::from_utf8_lossy(out)
        ),
    };
    if !body.is_empty() {
        assert_eq!(
            &out[msg.headers.body_offset.min(out.len())..],
            body,
            "the body changed"
        );
    }
    Some(
        msg.headers
            .fields
            .iter()
            .map(|f| f.name.to_string())
            .collect(),
    )
}
