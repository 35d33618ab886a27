//! URL extraction and normalisation (issue #11 item 10; AL-1.3 reads its links through these).
//!
//! Input: byte 0 picks the mode, the rest is the text.
//! - even: the rest as text through every public reader of `urls`: `normalize_url`,
//!   `normalize_host`, `extract::text_links`, `html::links` (with and without visible text),
//!   `html::visible`, `html::strip_invisible`, `html::decode_entities`;
//! - odd: the rest as a message through mail-parser and `urls::extract`, as the gateway runs it.
//!
//! What must hold: no panic; normalising a normalised URL's text gives the same URL (feed
//! entries are compared by `key()`, so a second pass that moved the key would let a listed URL
//! through); `normalize_host` and `strip_invisible` are idempotent; `extract` keeps at most
//! `max` URLs, without duplicates, and says when it dropped some.

#![no_main]

use std::collections::HashSet;

use libfuzzer_sys::fuzz_target;
use mail_parser::MessageParser;
use rampart_checks::urls::{self, extract, html, normalize_host, normalize_url, NormalizedUrl};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 1 {
        message(rest, usize::from(mode >> 1) % 8 + 1);
        return;
    }
    let s = String::from_utf8_lossy(rest);
    if let Some(u) = normalize_url(&s) {
        stable(&u);
    }
    if let Some(h) = normalize_host(&s) {
        assert_eq!(
            normalize_host(&h).as_deref(),
            Some(h.as_str()),
            "host {s:?}"
        );
    }
    for link in extract::text_links(&s) {
        if let Some(u) = normalize_url(link) {
            stable(&u);
        }
    }
    for visible_text in [false, true] {
        let found = html::links(&s, "body", visible_text);
        for u in &found.urls {
            stable(u);
        }
    }
    let _ = html::visible(&s);
    let _ = html::decode_entities(&s);
    let stripped = html::strip_invisible(&s);
    assert_eq!(html::strip_invisible(&stripped), stripped);
});

/// A normalised URL written out and normalised again is the same URL.
fn stable(u: &NormalizedUrl) {
    let text = u.to_string();
    let again = normalize_url(&text);
    assert_eq!(
        again.as_ref(),
        Some(u),
        "normalising {text:?} again gives {again:?}"
    );
}

/// `urls::extract` on a message, with a small `max` so the limit is reached.
fn message(raw: &[u8], max: usize) {
    let Some(parsed) = MessageParser::default().parse(raw) else {
        return;
    };
    let x = urls::extract::extract(&parsed, max);
    assert!(x.urls.len() <= max, "{} URLs kept, max {max}", x.urls.len());
    let keys: HashSet<String> = x.urls.iter().map(|f| f.url.key()).collect();
    assert_eq!(keys.len(), x.urls.len(), "duplicate URLs kept");
    // URLs are dropped only once `max` are kept.
    assert!(!x.truncated || x.urls.len() == max, "truncated below max");
    for f in &x.urls {
        stable(&f.url);
    }
}
