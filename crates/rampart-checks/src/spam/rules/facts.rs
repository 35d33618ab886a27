//! What content rules read from one message, gathered once (AL-1.2): decoded header values,
//! the body text as a person reads it, the URLs, the raw bytes (bounded), and the measures
//! `check` rules compare ([`Func`]).
//!
//! Text goes through the pipeline's one normalisation ([`crate::dlp::normalize::normalize`]:
//! invisible characters removed, NFKC, separators folded); HTML is read as the DLP check reads
//! it ([`crate::dlp::html::html_readings`]), so hidden elements are seen for what they are.

use std::time::{SystemTime, UNIX_EPOCH};

use mail_parser::parsers::MessageStream;
use mail_parser::{Address, HeaderName, HeaderValue, MimeHeaders, PartType};

use super::brands::{imitated_brand, is_freemail, is_freemail_relay, organisation};
use crate::dlp::html::html_readings;
use crate::dlp::normalize::{invisible_count, normalize};
use crate::mime::{walk, PartKind};
use crate::spam::lookalike::lookalike;
use crate::spam::SpamSignals;
use crate::Context;

/// Raw rules read at most this many bytes of the message.
pub const MAX_RAW: usize = 512 * 1024;
/// Body text rules read at most this many bytes of text.
pub const MAX_BODY: usize = 1024 * 1024;
/// URLs looked at when the URL check did not run.
const MAX_URLS: usize = 200;

/// A measure a `check` rule reads. Booleans are 1 or 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    /// Share of upper-case letters in the Subject (0 under 10 letters).
    SubjectCaps,
    /// Share of upper-case letters in the body text (0 under 50 letters).
    BodyCaps,
    /// An HTML body with no plain-text alternative.
    HtmlOnly,
    /// Visible characters of body text, white space not counted.
    BodyChars,
    /// Image parts, inline or attached.
    Images,
    /// Characters of HTML text that a reader does not see (display:none, zero font size,
    /// text coloured like its background …).
    HiddenTextChars,
    /// Links whose text shows one host and whose target is another.
    LinkMismatches,
    /// Sender domains and link hosts that imitate a well-known brand.
    BrandLookalike,
    /// Link hosts that look like one of our own domains.
    OwnLookalikeLink,
    /// Sender domains and link hosts with an IDNA (`xn--`) label.
    PunycodeDomain,
    /// A Date field that does not parse.
    DateInvalid,
    /// Days between the Date field and now, either way (0 when missing or invalid).
    DateSkewDays,
    /// Hours by which the Date field is later than the newest Received field's time: the
    /// message claims to be written after its nearest relay took it (0 when either is missing
    /// or invalid, or the Date is not later).
    DateAheadHours,
    /// A Message-ID without `@`, with a domain without a dot, or `localhost`.
    MessageIdOdd,
    /// Addresses in To and Cc.
    Recipients,
    /// The Reply-To is at a free mail provider and differs from From's domain.
    FreemailReplyTo,
    /// The From address is at a free mail provider.
    FreemailFrom,
    /// Words mixing Latin with Cyrillic or Greek letters (`pаypal` with a Cyrillic `а`).
    MixedScriptWords,
    /// A text/plain part sent base64-encoded though it is plain ASCII.
    Base64AsciiText,
    /// RFC 2047 encoded-words where they have no business: in an address, Message-ID, Date,
    /// Received or a MIME structure field.
    Rfc2047Odd,
    /// Zero-width and other invisible characters in the Subject and body text.
    ZeroWidthChars,
    /// An HTML form asking for a password, anywhere in the message.
    LoginForm,
    /// The same in an attached HTML file (the classic credential-harvesting attachment).
    LoginFormAttachment,
    /// The From domain is not one of ours.
    ExternalSender,
    /// A List-Unsubscribe field whose links or addresses are at the From domain's organisation
    /// (`<mailto:leave@lists.example.com>` for `news@example.com`).
    UnsubscribeAtSender,
    /// The Message-ID's domain is at the From domain's organisation.
    MessageIdAtSender,
    /// The From domain is authenticated: DMARC pass, or without a DMARC record an SPF or DKIM
    /// pass for that domain (the authentication check's reading; 0 when it did not run). What
    /// an allow rule needs, so that a forged From does not earn it.
    FromAuthenticated,
    /// The From address is at a free mail provider, and no Received field (nor the client's
    /// HELO) names a relay of that provider: the message never passed through it. 0 without
    /// Received fields, where there is nothing to compare.
    FreemailNotRelayed,
}

impl Func {
    pub const ALL: &'static [(&'static str, Func)] = &[
        ("subject_caps", Func::SubjectCaps),
        ("body_caps", Func::BodyCaps),
        ("html_only", Func::HtmlOnly),
        ("body_chars", Func::BodyChars),
        ("images", Func::Images),
        ("hidden_text_chars", Func::HiddenTextChars),
        ("link_mismatches", Func::LinkMismatches),
        ("brand_lookalike", Func::BrandLookalike),
        ("own_lookalike_link", Func::OwnLookalikeLink),
        ("punycode_domain", Func::PunycodeDomain),
        ("date_invalid", Func::DateInvalid),
        ("date_skew_days", Func::DateSkewDays),
        ("date_ahead_hours", Func::DateAheadHours),
        ("message_id_odd", Func::MessageIdOdd),
        ("recipients", Func::Recipients),
        ("freemail_reply_to", Func::FreemailReplyTo),
        ("freemail_from", Func::FreemailFrom),
        ("mixed_script_words", Func::MixedScriptWords),
        ("base64_ascii_text", Func::Base64AsciiText),
        ("rfc2047_odd", Func::Rfc2047Odd),
        ("zero_width_chars", Func::ZeroWidthChars),
        ("login_form", Func::LoginForm),
        ("login_form_attachment", Func::LoginFormAttachment),
        ("external_sender", Func::ExternalSender),
        ("unsubscribe_at_sender", Func::UnsubscribeAtSender),
        ("message_id_at_sender", Func::MessageIdAtSender),
        ("from_authenticated", Func::FromAuthenticated),
        ("freemail_not_relayed", Func::FreemailNotRelayed),
    ];

    pub fn by_name(name: &str) -> Option<Func> {
        Func::ALL.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
    }
}

/// One message as the rules read it.
pub struct Facts<'a> {
    /// Top-level header fields: lower-case name, decoded and normalised value.
    pub headers: Vec<(String, String)>,
    /// The addresses of the top-level address fields (From, Sender, Reply-To, To, Cc …):
    /// lower-case field name and address, lower case, as mail-parser read them.
    pub addresses: Vec<(String, String)>,
    /// The body text parts' visible text, normalised, at most [`MAX_BODY`] bytes.
    pub body: String,
    /// Every URL found, as `scheme://host[:port]/path[?query]`.
    pub uris: Vec<String>,
    /// The first [`MAX_RAW`] bytes of the message.
    pub raw: &'a [u8],
    values: Vec<(Func, f64)>,
}

impl<'a> Facts<'a> {
    pub fn value(&self, f: Func) -> f64 {
        self.values
            .iter()
            .find(|(g, _)| *g == f)
            .map_or(0.0, |(_, v)| *v)
    }

    /// Reads the message once; `signals` carry what other checks found (the URL check's
    /// report when it ran, the authentication).
    pub fn gather(ctx: &Context<'a>, signals: &SpamSignals<'_>) -> Facts<'a> {
        let parsed = ctx.parsed;
        let urls = signals.urls;
        let raw = &ctx.raw[..ctx.raw.len().min(MAX_RAW)];
        let (headers, addresses) = header_values(parsed);
        let subject = headers
            .iter()
            .find(|(n, _)| n == "subject")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();

        let mut body = String::new();
        let (mut has_text, mut has_html) = (false, false);
        let (mut images, mut hidden, mut invisible) = (0usize, 0usize, 0usize);
        let (mut login_form, mut login_attachment) = (false, false);
        invisible += subject_invisibles(parsed);
        for leaf in walk(parsed).leaves {
            if leaf.content_type.starts_with("image/") {
                images += 1;
                continue;
            }
            let named_html = leaf.names.iter().any(|n| {
                let n = n.to_ascii_lowercase();
                n.ends_with(".html") || n.ends_with(".htm") || n.ends_with(".shtml")
            });
            let html_source = match (&leaf.text, leaf.kind) {
                (Some(t), PartKind::Html) => Some(t.to_string()),
                (_, PartKind::Binary) if named_html => {
                    Some(String::from_utf8_lossy(&leaf.bytes).into_owned())
                }
                _ => None,
            };
            if let Some(html) = &html_source {
                if asks_password(html) {
                    login_form = true;
                    login_attachment |= leaf.is_file;
                }
            }
            if leaf.is_file {
                continue;
            }
            let visible = match (leaf.kind, &leaf.text, &html_source) {
                (PartKind::Html, _, Some(html)) => {
                    has_html = true;
                    let r = html_readings(html);
                    hidden += non_space(&r.all).saturating_sub(non_space(&r.visible));
                    invisible += invisible_count(&r.all);
                    r.visible
                }
                (PartKind::Text, Some(t), _) => {
                    has_text = true;
                    invisible += invisible_count(t);
                    t.to_string()
                }
                _ => continue,
            };
            if body.len() < MAX_BODY {
                let mut cut = (MAX_BODY - body.len()).min(visible.len());
                while !visible.is_char_boundary(cut) {
                    cut -= 1;
                }
                body.push_str(&normalize(&visible[..cut]));
                body.push('\n');
            }
        }

        let extracted_here;
        let extracted = match urls {
            Some(r) => &r.extracted,
            None => {
                extracted_here = crate::urls::extract::extract(parsed, MAX_URLS);
                &extracted_here
            }
        };
        let uris: Vec<String> = extracted
            .urls
            .iter()
            .map(|u| {
                let u = &u.url;
                let port = u.port.map(|p| format!(":{p}")).unwrap_or_default();
                let query = u
                    .query
                    .as_deref()
                    .map(|q| format!("?{q}"))
                    .unwrap_or_default();
                format!("{}://{}{port}{}{query}", u.scheme, u.host, u.path)
            })
            .collect();
        let link_hosts: Vec<&str> = extracted.urls.iter().map(|u| u.url.host.as_str()).collect();

        let own: Vec<String> = ctx
            .local_domains
            .iter()
            .map(|d| d.to_ascii_lowercase())
            .collect();
        let first_addr = |a: Option<&Address<'_>>| {
            a.and_then(|a| a.first())
                .and_then(|a| a.address())
                .and_then(super::super::domain_of)
        };
        let from = first_addr(parsed.from());
        let reply_to = first_addr(parsed.reply_to());
        let envelope = super::super::domain_of(ctx.envelope.mail_from);
        let senders: Vec<&str> = [&from, &reply_to, &envelope]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect();
        let mut domains: Vec<&str> = senders
            .iter()
            .copied()
            .chain(link_hosts.iter().copied())
            .collect();
        domains.sort_unstable();
        domains.dedup();
        let is_own = |d: &str| super::super::is_own(d, &own);

        let brand = domains
            .iter()
            .filter(|d| !is_own(d) && imitated_brand(d).is_some())
            .count();
        let own_link = link_hosts
            .iter()
            .filter(|h| own.iter().any(|o| lookalike(h, o).is_some()))
            .count();
        let puny = domains
            .iter()
            .filter(|d| d.split('.').any(|l| l.starts_with("xn--")))
            .count();
        let freemail_reply = match (&reply_to, &from) {
            (Some(r), Some(f)) => is_freemail(r) && r != f,
            _ => false,
        };
        let date_field = ctx.headers.get("Date").is_some();
        let date = parsed.date().filter(|d| d.is_valid());
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let skew_days = date.map_or(0.0, |d| (d.to_timestamp() - now).abs() as f64 / 86_400.0);
        // The first Received field is the newest: the time the nearest relay took the message.
        let relayed = parsed
            .received_all()
            .next()
            .and_then(|r| r.date())
            .filter(|d| d.is_valid());
        let ahead_hours = match (date, relayed) {
            (Some(d), Some(r)) => (d.to_timestamp() - r.to_timestamp()).max(0) as f64 / 3_600.0,
            _ => 0.0,
        };
        let recipients = [parsed.to(), parsed.cc()]
            .into_iter()
            .flatten()
            .map(|a| a.iter().count())
            .sum::<usize>();

        let mut text_for_scripts = subject.clone();
        text_for_scripts.push('\n');
        text_for_scripts.push_str(&body);
        let values = vec![
            (Func::SubjectCaps, caps_share(&subject, 10)),
            (Func::BodyCaps, caps_share(&body, 50)),
            (Func::HtmlOnly, flag(has_html && !has_text)),
            (Func::BodyChars, non_space(&body) as f64),
            (Func::Images, images as f64),
            (Func::HiddenTextChars, hidden as f64),
            (Func::LinkMismatches, extracted.mismatches.len() as f64),
            (Func::BrandLookalike, brand as f64),
            (Func::OwnLookalikeLink, own_link as f64),
            (Func::PunycodeDomain, puny as f64),
            (Func::DateInvalid, flag(date_field && date.is_none())),
            (Func::DateSkewDays, skew_days),
            (Func::DateAheadHours, ahead_hours),
            (Func::MessageIdOdd, flag(message_id_odd(ctx))),
            (Func::Recipients, recipients as f64),
            (Func::FreemailReplyTo, flag(freemail_reply)),
            (
                Func::FreemailFrom,
                flag(from.as_deref().is_some_and(is_freemail)),
            ),
            (
                Func::MixedScriptWords,
                mixed_script_words(&text_for_scripts) as f64,
            ),
            (Func::Base64AsciiText, flag(base64_ascii_text(parsed))),
            (Func::Rfc2047Odd, flag(rfc2047_odd(ctx))),
            (Func::ZeroWidthChars, invisible as f64),
            (Func::LoginForm, flag(login_form)),
            (Func::LoginFormAttachment, flag(login_attachment)),
            (
                Func::ExternalSender,
                flag(from.as_deref().is_some_and(|f| !is_own(f))),
            ),
            (
                Func::UnsubscribeAtSender,
                flag(from.as_deref().is_some_and(|f| unsubscribe_at(ctx, f))),
            ),
            (
                Func::MessageIdAtSender,
                flag(from.as_deref().is_some_and(|f| message_id_at(ctx, f))),
            ),
            (Func::FromAuthenticated, flag(signals.from_authenticated)),
            (
                Func::FreemailNotRelayed,
                flag(
                    from.as_deref()
                        .is_some_and(|f| freemail_not_relayed(ctx, f)),
                ),
            ),
        ];
        Facts {
            headers,
            addresses,
            body,
            uris,
            raw,
            values,
        }
    }
}

fn flag(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

fn non_space(s: &str) -> usize {
    if s.is_ascii() {
        // The ASCII characters `char::is_whitespace` counts: space and \t \n \x0B \x0C \r.
        return s.len() - count_bytes(s.as_bytes(), |b| b == b' ' || b.wrapping_sub(b'\t') < 5);
    }
    s.chars().filter(|c| !c.is_whitespace()).count()
}

/// How many bytes of `b` satisfy `f`, counted in blocks of at most 255 in a `u8`: a loop the
/// compiler turns into vector instructions, where a `usize` added per byte was not (issue 23:
/// with the form check of [`asks_password`] below, `Facts::gather` on a 15 KB prose letter went
/// from 83 to 53 µs).
fn count_bytes(b: &[u8], f: impl Fn(u8) -> bool + Copy) -> usize {
    b.chunks(255)
        .map(|c| usize::from(c.iter().fold(0u8, |n, &x| n + u8::from(f(x)))))
        .sum()
}

/// Share of upper-case letters, or 0 when there are fewer than `min` letters.
fn caps_share(s: &str, min: usize) -> f64 {
    let (n, upper) = if s.is_ascii() {
        let b = s.as_bytes();
        (
            count_bytes(b, |x| x.is_ascii_alphabetic()),
            count_bytes(b, |x| x.is_ascii_uppercase()),
        )
    } else {
        s.chars()
            .filter(|c| c.is_alphabetic())
            .fold((0usize, 0usize), |(n, u), c| {
                (n + 1, u + usize::from(c.is_uppercase()))
            })
    };
    if n < min {
        0.0
    } else {
        upper as f64 / n as f64
    }
}

/// An HTML document with a password field: a login form.
fn asks_password(html: &str) -> bool {
    let lower = html.to_ascii_lowercase();
    if !lower.contains("<form") {
        // Most HTML has no form: no copy without its spaces to make.
        return false;
    }
    let compact: String = lower.chars().filter(|c| !c.is_whitespace()).collect();
    compact.contains("type=\"password\"")
        || compact.contains("type='password'")
        || compact.contains("type=password")
}

/// Invisible characters in the decoded Subject, before normalisation removed them.
fn subject_invisibles(parsed: &mail_parser::Message<'_>) -> usize {
    parsed.subject().map_or(0, invisible_count)
}

/// Words with both Latin and Cyrillic or Greek letters.
fn mixed_script_words(text: &str) -> usize {
    if text.is_ascii() {
        return 0;
    }
    text.split(|c: char| !c.is_alphabetic())
        .filter(|w| {
            let latin = w.chars().any(|c| c.is_ascii_alphabetic());
            let other = w
                .chars()
                .any(|c| matches!(c, '\u{0370}'..='\u{03FF}' | '\u{0400}'..='\u{04FF}'));
            latin && other
        })
        .count()
}

fn message_id_odd(ctx: &Context<'_>) -> bool {
    let Some(id) = ctx.headers.message_id() else {
        return false;
    };
    match id.rsplit_once('@') {
        None => true,
        Some((left, domain)) => {
            let d = domain.trim_end_matches(']').to_ascii_lowercase();
            left.is_empty()
                || d.contains(char::is_whitespace)
                || d == "localhost"
                || d.ends_with(".localdomain")
                || !(d.contains('.') || d.starts_with('['))
        }
    }
}

/// Whether a List-Unsubscribe field (RFC 2369: `<URL>` items, comma-separated) names a host or
/// mail domain of `from`'s organisation.
fn unsubscribe_at(ctx: &Context<'_>, from: &str) -> bool {
    let org = organisation(from);
    ctx.headers.all("List-Unsubscribe").any(|(_, f)| {
        let v = f.unfolded();
        v.split('<').skip(1).any(|item| {
            let url = item.split('>').next().unwrap_or("").trim();
            let host = match url.split_once(':') {
                Some((scheme, rest)) if scheme.eq_ignore_ascii_case("mailto") => rest
                    .split('?')
                    .next()
                    .and_then(|a| a.rsplit_once('@'))
                    .map(|(_, d)| d),
                Some((_, rest)) => rest
                    .strip_prefix("//")
                    .map(|r| r.split(['/', '?', '#', ':']).next().unwrap_or("")),
                None => None,
            };
            host.is_some_and(|h| !h.is_empty() && organisation(h) == org)
        })
    })
}

/// Whether `from` is at a free mail provider whose relays appear nowhere in the Received fields
/// or the client's HELO, in a message that has Received fields.
fn freemail_not_relayed(ctx: &Context<'_>, from: &str) -> bool {
    if !is_freemail(from) || ctx.headers.count("Received") == 0 {
        return false;
    }
    let named = |text: &str| {
        text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '-'))
            .map(|t| t.trim_matches('.'))
            .filter(|t| t.contains('.'))
            .any(|host| is_freemail_relay(from, host))
    };
    let relayed = named(&ctx.envelope.helo.to_ascii_lowercase())
        || ctx
            .headers
            .all("Received")
            .any(|(_, f)| named(&f.unfolded().to_ascii_lowercase()));
    !relayed
}

/// Whether the Message-ID's domain is of `from`'s organisation.
fn message_id_at(ctx: &Context<'_>, from: &str) -> bool {
    ctx.headers
        .message_id()
        .and_then(|id| id.rsplit_once('@').map(|(_, d)| organisation(d.trim())))
        .is_some_and(|d| d.contains('.') && d == organisation(from))
}

fn base64_ascii_text(parsed: &mail_parser::Message<'_>) -> bool {
    parsed.parts.iter().any(|p| {
        let plain = p.content_type().is_none_or(|ct| {
            ct.ctype().eq_ignore_ascii_case("text")
                && ct.subtype().is_none_or(|s| s.eq_ignore_ascii_case("plain"))
        });
        let ascii = match &p.body {
            PartType::Text(t) => !t.trim().is_empty() && t.is_ascii(),
            _ => false,
        };
        plain
            && ascii
            && p.encoding == mail_parser::Encoding::Base64
            && p.attachment_name().is_none()
    })
}

/// Fields whose value must never carry encoded-words (RFC 2047 section 5), and address fields,
/// whose address part must not.
fn rfc2047_odd(ctx: &Context<'_>) -> bool {
    const NEVER: &[&str] = &[
        "Message-ID",
        "Date",
        "Received",
        "Return-Path",
        "Content-Type",
        "Content-Transfer-Encoding",
        "MIME-Version",
        "In-Reply-To",
        "References",
    ];
    const ADDRESS: &[&str] = &["From", "To", "Cc", "Reply-To", "Sender"];
    let encoded = |s: &str| s.contains("=?") && s.contains("?=");
    ctx.headers.fields.iter().any(|f| {
        if NEVER.iter().any(|n| f.is(n)) {
            return encoded(f.value);
        }
        if ADDRESS.iter().any(|n| f.is(n)) {
            // The part inside angle brackets is the address itself.
            return f
                .value
                .split('<')
                .skip(1)
                .any(|rest| encoded(rest.split('>').next().unwrap_or("")));
        }
        false
    })
}

/// Top-level header fields as a reader sees them: encoded-words decoded, normalised.
/// Each top-level field as `(name, value)`, and the addresses of the address fields as
/// `(name, address)`, from the one parse.
type Fields = Vec<(String, String)>;
fn header_values(parsed: &mail_parser::Message<'_>) -> (Fields, Fields) {
    let raw = parsed.raw_message.as_ref();
    let Some(root) = parsed.parts.first() else {
        return (Vec::new(), Vec::new());
    };
    let mut addresses = Vec::new();
    let values = root
        .headers
        .iter()
        .map(|h| {
            let name = h.name.as_str().to_ascii_lowercase();
            if let (false, HeaderValue::Address(a)) =
                (matches!(h.name, HeaderName::Other(_)), &h.value)
            {
                addresses.extend(a.iter().filter_map(|x| {
                    let e = x.address.as_deref()?.trim();
                    (!e.is_empty()).then(|| (name.clone(), e.to_lowercase()))
                }));
            }
            let raw_value = raw
                .get(h.offset_start as usize..(h.offset_end as usize).max(h.offset_start as usize))
                .unwrap_or_default();
            let text = match (&h.name, &h.value) {
                (HeaderName::Other(_), _) => unstructured(raw_value),
                (_, HeaderValue::Text(t)) => t.to_string(),
                (_, HeaderValue::TextList(l)) => l.join(", "),
                (_, HeaderValue::Address(a)) => a
                    .iter()
                    .map(|x| match (x.name.as_deref(), x.address.as_deref()) {
                        (Some(n), Some(e)) => format!("{n} <{e}>"),
                        (None, Some(e)) => e.to_string(),
                        (Some(n), None) => n.to_string(),
                        (None, None) => String::new(),
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
                _ => unstructured(raw_value),
            };
            (name, normalize(text.trim()))
        })
        .collect();
    (values, addresses)
}

fn unstructured(raw: &[u8]) -> String {
    match MessageStream::new(raw).parse_unstructured() {
        HeaderValue::Text(t) => t.into_owned(),
        _ => String::from_utf8_lossy(raw).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::{caps_share, mixed_script_words, non_space};

    /// The ASCII fast paths count as the character paths do (issue 23): every ASCII text is
    /// also read with a non-ASCII character appended, which takes the character path.
    #[test]
    fn al_1_2_ascii_counts_agree_with_the_character_reading() {
        for text in [
            "",
            "Hello World",
            "CHEAP V1AGRA!!! BUY NOW",
            "tabs\tand\x0Bvertical\x0Cfeeds\r\nand lines",
            "1XXXXXXXXXXXXXXXXXXXXXXXX\r\n2XXXXXXXXXXXXXXXX",
            "mIxEd CaSe 123 $%^ words",
        ] {
            let wide = format!("{text}\u{00A0}");
            assert_eq!(non_space(text), non_space(&wide), "{text:?}");
            let (a, b) = (caps_share(text, 0), caps_share(&wide, 0));
            assert_eq!(a.to_bits(), b.to_bits(), "{text:?}");
            assert_eq!(mixed_script_words(text), 0);
        }
        // Random texts of every length up to 1,200 (the counts go in blocks of 255), of the
        // characters that matter: spaces of each kind, capitals, small letters, the rest.
        let alphabet = b" \t\n\x0B\x0C\r\x08\x0EAZaz09!~";
        let mut below = crate::testutil::below(0x5eed);
        for len in (0..1_200).step_by(7) {
            let text: String = (0..len)
                .map(|_| char::from(alphabet[below(alphabet.len())]))
                .collect();
            let wide = format!("{text}\u{00A0}");
            assert_eq!(non_space(&text), non_space(&wide), "{text:?}");
            let (a, b) = (caps_share(&text, 0), caps_share(&wide, 0));
            assert_eq!(a.to_bits(), b.to_bits(), "{text:?}");
        }
        assert_eq!(non_space("a b\x0Bc"), 3);
        assert_eq!(caps_share("ABcd", 0), 0.5);
        assert_eq!(caps_share("ABcd", 10), 0.0);
        assert_eq!(mixed_script_words("pаypal and paypal"), 1, "a Cyrillic а");
    }
}
