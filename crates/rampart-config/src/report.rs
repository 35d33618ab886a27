//! How problems are reported: one line each, `FILE:LINE: key `k`: what is wrong; what to do`.
//! Errors stop the server; warnings are returned beside the configuration for the caller to
//! print (`serve`, `config check`), never logged from here.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// One problem in a configuration file: where it is and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based line, when the problem has a place in the file.
    pub line: Option<usize>,
    /// The dotted key, when known (e.g. `limits.max_recipients`).
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": key `{key}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every problem found in a file; displayed one per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "configuration error: {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// A setting that is valid but weakens the server or surprises: the server starts, and says so.
/// Located like an error; displayed as `configuration warning: FILE:LINE: key `k`: ...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning(pub ConfigError);

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "configuration warning: {}", self.0)
    }
}

/// Finds where a key is written, from the parsed document with its spans.
pub(crate) struct Locator<'a> {
    pub file: &'a Path,
    pub src: &'a str,
    doc: Option<Spanned<DeTable<'a>>>,
}

impl<'a> Locator<'a> {
    pub fn new(file: &'a Path, src: &'a str) -> Locator<'a> {
        Locator {
            file,
            src,
            doc: DeTable::parse(src).ok(),
        }
    }

    /// Whether `path` (dotted; list positions as numbers) is written in the file.
    pub fn has(&self, path: &str) -> bool {
        self.find(path).1
    }

    /// The line of `path`; when it is not written (a default), the line of the nearest table
    /// above it that is.
    pub fn line(&self, path: &str) -> Option<usize> {
        self.find(path).0.map(|s| line_of(self.src, s.start))
    }

    /// An error or warning at `path`, its key shown with list positions as `[i]`.
    pub fn at(&self, path: &str, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.file.to_path_buf(),
            line: self.line(path),
            key: Some(display_key(path)),
            message: message.into(),
        }
    }

    /// The span of the deepest part of `path` found, and whether all of it was.
    fn find(&self, path: &str) -> (Option<Range<usize>>, bool) {
        let Some(doc) = &self.doc else {
            return (None, false);
        };
        let mut table: Option<&DeTable> = Some(doc.get_ref());
        let mut value: Option<&DeValue> = None;
        let mut span = None;
        for seg in path.split('.') {
            let next = match (table, value, seg.parse::<usize>()) {
                (Some(t), _, _) => t
                    .iter()
                    .find(|(k, _)| k.get_ref().as_ref() == seg)
                    .map(|(k, v)| (k.span(), v)),
                (None, Some(DeValue::Array(a)), Ok(i)) => a.get(i).map(|v| (v.span(), v)),
                _ => None,
            };
            let Some((s, v)) = next else {
                return (span, false);
            };
            // A table written inline or as a header has no line of its own worth more than its
            // key's; an array element's span is the element.
            span = Some(s);
            table = match v.get_ref() {
                DeValue::Table(t) => Some(t),
                _ => None,
            };
            value = Some(v.get_ref());
        }
        (span, true)
    }
}

/// `checks.dlp.patterns.0.pattern` → `checks.dlp.patterns[0].pattern`.
fn display_key(path: &str) -> String {
    let mut out = String::new();
    for seg in path.split('.') {
        if seg.parse::<usize>().is_ok() {
            out.push_str(&format!("[{seg}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(seg);
        }
    }
    out
}

/// Makes serde's wording read as advice.
pub(crate) fn explain(message: &str) -> String {
    let m = message.trim().replace('\n', " ");
    if m.starts_with("unknown field") {
        format!("{m}; remove it or fix its spelling (rampart.example.toml lists every setting)")
    } else if m.starts_with("invalid type")
        || m.starts_with("invalid value")
        || m.starts_with("unknown variant")
    {
        format!("{m}; see rampart.example.toml for the expected form")
    } else if m.starts_with("missing field") {
        format!("{m}; add it")
    } else {
        m
    }
}

/// 1-based line number of a byte offset.
pub fn line_of(src: &str, offset: usize) -> usize {
    src.as_bytes()[..offset.min(src.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The dotted key written on the line holding `offset`, qualified by the table header above it.
pub(crate) fn key_at(src: &str, offset: usize) -> Option<String> {
    let mut offset = offset.min(src.len());
    while !src.is_char_boundary(offset) {
        offset -= 1;
    }
    let start = src[..offset].rfind('\n').map(|i| i + 1).unwrap_or(0);
    let end = src[offset..]
        .find('\n')
        .map(|i| offset + i)
        .unwrap_or(src.len());
    let line = &src[start..end];
    let table = src[..start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_string());
    let header = line.trim();
    if header.starts_with('[') {
        return Some(
            header
                .trim_matches(|c| c == '[' || c == ']')
                .trim()
                .to_string(),
        );
    }
    let key = line.split('=').next()?.trim();
    if key.is_empty() || !line.contains('=') {
        return table;
    }
    Some(match table {
        Some(t) => format!("{t}.{key}"),
        None => key.to_string(),
    })
}
