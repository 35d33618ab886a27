//! Full-text search on PostgreSQL's own text search, in the `simple` configuration (no stemming,
//! no stop words), with text folded here first so that it matches what the embedded store's FTS5
//! index (`unicode61 remove_diacritics 2`) matches:
//!
//! - lower case, diacritics removed (NFD, combining marks dropped): `Müller` finds `muller`;
//! - every character that is not a letter or a digit separates words, so an address
//!   `jane.doe@example.org` is the words `jane doe example org` (PostgreSQL's parser would keep
//!   it as one token, and `jane` would not find it);
//! - each word of a condition must appear; a word that folds to several (`jane.doe`) must appear
//!   as that phrase (`phraseto_tsquery`).
//!
//! `unaccent` would do the folding in the database, but it is an extension and this schema needs
//! none. The text itself comes from the same extraction the embedded store indexes
//! (`rampart_store::mail::rules::Facts`).

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// The most text of one field given to `to_tsvector` (bytes). The distinct words of a tsvector
/// with their positions may take at most 1 MB, and a larger one fails the commit. Each distinct
/// word costs its bytes and about five more, at worst three times the text it came from (short
/// words), so 300 KB of folded text stays below the limit: no message can make its account
/// unindexable (tests/mail.rs hostile_messages_are_indexed).
pub(crate) const FIELD_MAX: usize = 300_000;

/// `text` folded for the index or a query: lower case, no diacritics, words separated by single
/// spaces.
pub(crate) fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(FIELD_MAX));
    let mut space = true;
    for c in text.nfd().filter(|c| !is_combining_mark(*c)) {
        if c.is_alphanumeric() {
            for l in c.to_lowercase() {
                out.push(l);
            }
            space = false;
        } else if !space {
            out.push(' ');
            space = true;
        }
        if out.len() >= FIELD_MAX {
            break;
        }
    }
    let trimmed = out.trim_end().len();
    out.truncate(trimmed);
    out
}

/// The words of a condition, each folded; empty ones (punctuation only) dropped. Each is a
/// phrase for `phraseto_tsquery('simple', …)`.
pub(crate) fn query_words(text: &str) -> Vec<String> {
    text.split_whitespace()
        .map(fold)
        .filter(|w| !w.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_case_diacritics_and_punctuation() {
        assert_eq!(
            fold("Grüße, Jane.Doe@Example.org!"),
            "gruße jane doe example org"
        );
        assert_eq!(fold("  Ünïcode  "), "unicode");
        assert_eq!(fold("¡¿...?!"), "");
        assert_eq!(
            query_words("jane.doe  ,, Müller"),
            vec!["jane doe", "muller"]
        );
    }

    #[test]
    fn long_text_is_cut() {
        let long = "word ".repeat(400_000);
        assert!(fold(&long).len() <= FIELD_MAX + 8);
    }
}
