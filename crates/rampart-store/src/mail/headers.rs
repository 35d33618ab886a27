//! The `header` condition of Email/query (RFC 8621 section 4.4.1): emails whose header section
//! has a field of a name, and optionally with a text in its value. The header section is not
//! indexed, so this reads it from each stored message of the account (the inline copy, or the
//! start of the file), once per query for every header condition the filter holds.
//!
//! A value is matched as it is stored, unfolded and case-insensitively: encoded words (RFC 2047)
//! are not decoded.

use super::query::EmailFilter;
use crate::{io_err, QueueId, Result, Store};
use rusqlite::params;
use std::collections::HashMap;
use std::io::Read;

/// The most of a message read to find its header section (a longer section is cut there).
pub const HEADER_MAX: usize = 256 * 1024;

/// Header condition (as the client gave it) -> the ids of the emails that match it.
pub type HeaderMatches = HashMap<Vec<String>, Vec<i64>>;

/// Every header condition in `f`.
pub fn conditions(f: &EmailFilter, out: &mut Vec<Vec<String>>) {
    match f {
        EmailFilter::Condition(c) => {
            if let Some(h) = &c.header {
                if !out.contains(h) {
                    out.push(h.clone());
                }
            }
        }
        EmailFilter::And(s) | EmailFilter::Or(s) | EmailFilter::Not(s) => {
            s.iter().for_each(|f| conditions(f, out))
        }
    }
}

/// The fields of a header section: (name, value unfolded), in order. Stops at the empty line
/// that ends the section; a line that is neither a field nor a continuation is skipped.
pub fn fields(raw: &[u8]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in raw.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        let text = String::from_utf8_lossy(line);
        if line[0] == b' ' || line[0] == b'\t' {
            if let Some(last) = out.last_mut() {
                last.1.push(' ');
                last.1.push_str(text.trim());
            }
            continue;
        }
        if let Some((name, value)) = text.split_once(':') {
            out.push((name.trim().to_string(), value.trim().to_string()));
        }
    }
    out
}

/// Whether a header section's fields satisfy one condition: `[name]` or `[name, text]`.
pub fn satisfies(fields: &[(String, String)], cond: &[String]) -> bool {
    let Some(name) = cond.first() else {
        return false;
    };
    let text = cond.get(1).map(|t| t.to_lowercase());
    fields.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case(name) && text.as_deref().is_none_or(|t| v.to_lowercase().contains(t))
    })
}

impl Store {
    /// For each header condition, the emails of `account` (a lower-case key) that match it.
    pub(crate) fn header_matches(
        &self,
        account: &str,
        conds: &[Vec<String>],
    ) -> Result<HeaderMatches> {
        let mut out: HeaderMatches = conds.iter().map(|c| (c.clone(), Vec::new())).collect();
        if conds.is_empty() {
            return Ok(out);
        }
        // (email, message, the start of its inline copy; None when it is a file).
        type Row = (i64, String, Option<Vec<u8>>);
        let rows: Vec<Row> = self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT e.id, e.message, substr(b.data, 1, ?2) FROM mail_emails e
                 LEFT JOIN message_bodies b ON b.id = e.message
                 WHERE e.account = ?1 ORDER BY e.id",
            )?;
            let rows = st.query_map(params![account, HEADER_MAX as i64], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })?;
        for (id, message, inline) in rows {
            let head = match inline {
                Some(data) => data,
                None => self.message_head(&QueueId(message))?,
            };
            let f = fields(&head);
            for c in conds {
                if satisfies(&f, c) {
                    if let Some(v) = out.get_mut(c) {
                        v.push(id);
                    }
                }
            }
        }
        Ok(out)
    }

    /// The first [`HEADER_MAX`] bytes of a message stored as a file; nothing if it is gone
    /// (its email was destroyed meanwhile).
    fn message_head(&self, id: &QueueId) -> Result<Vec<u8>> {
        let path = self.message_path(id);
        let file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err(&path)(e)),
        };
        let mut buf = Vec::new();
        file.take(HEADER_MAX as u64)
            .read_to_end(&mut buf)
            .map_err(io_err(&path))?;
        Ok(buf)
    }
}

/// Whether the condition's header is one of the fields (for the unit tests' table).
#[cfg(test)]
pub(crate) fn matches_raw(raw: &str, cond: &[&str]) -> bool {
    let c: Vec<String> = cond.iter().map(|s| s.to_string()).collect();
    satisfies(&fields(raw.as_bytes()), &c)
}
