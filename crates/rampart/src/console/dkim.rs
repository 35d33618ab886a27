//! DKIM keys and the DNS records to publish (AL-2.1, AL-2.2, AL-2.3, AL-1.1), with what DNS
//! serves for each, asked now of the configured resolver (`[dns] servers`, else the system's).
//!
//! The records are exactly `rampart dns-records`'s (`admin::dns_records_text_with`): MX, SPF,
//! one DKIM key per selector (the shared database's on PostgreSQL, then the data directory's),
//! DMARC, then MTA-STS, TLS-RPT and TLSA. Each line is looked up by its name and type and
//! shown as:
//! - `match`: a record of that kind there equals the one to publish (TXT compared without
//!   white space, names without case or trailing dot);
//! - `mismatch`: there is a record of that kind (the same `v=` tag for TXT) that differs,
//!   shown beside the one to publish;
//! - `missing`: nothing of that kind (NXDOMAIN or no record);
//! - `no answer`: DNS did not answer (timeout, SERVFAIL): nothing is known.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use axum::Extension;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::TokioResolver;
use rampart_store::admins::AdminRole;

use super::{client_of, escape, page, see_other, when, Console, Form, Signed};

/// A record `rampart dns-records` prints: owner name (no trailing dot, lower case), type, and
/// the value as DNS would return it (TXT strings joined).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub name: String,
    pub rtype: String,
    pub value: String,
}

/// What DNS serves for one [`Wanted`] record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Served {
    Match,
    Mismatch(Vec<String>),
    Missing,
    NoAnswer(String),
    /// A type this page does not look up.
    NotChecked,
}

impl Served {
    fn class(&self) -> &'static str {
        match self {
            Served::Match => "match",
            Served::Mismatch(_) => "mismatch",
            Served::Missing => "missing",
            Served::NoAnswer(_) => "no-answer",
            Served::NotChecked => "not-checked",
        }
    }
}

/// The record lines of `rampart dns-records`'s output (comments skipped).
pub fn parse_records(text: &str) -> Vec<Wanted> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with(';'))
        .filter_map(|l| {
            let mut it = l.splitn(4, ' ');
            let name = it.next()?.trim_end_matches('.').to_ascii_lowercase();
            if it.next()? != "IN" {
                return None;
            }
            let rtype = it.next()?.to_ascii_uppercase();
            let rest = it.next()?.trim();
            let value = if rtype == "TXT" {
                // "one" or ( "one" "two" ): the strings, joined as a receiver joins them.
                rest.split('"').skip(1).step_by(2).collect::<String>()
            } else {
                rest.to_string()
            };
            Some(Wanted { name, rtype, value })
        })
        .collect()
}

/// A TXT value with its white space normalised: runs of it as one space, none around `;`, no
/// empty last tag (`v=DKIM1;k=rsa;` and `v=DKIM1; k=rsa` are the same record).
fn squash(s: &str) -> String {
    let parts: Vec<String> = s
        .split(';')
        .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    let mut parts = parts.as_slice();
    while let Some((last, rest)) = parts.split_last() {
        if !last.is_empty() {
            break;
        }
        parts = rest;
    }
    parts.join(";")
}

/// The first tag of a TXT value (`v=spf1`, `v=DKIM1`, ...), lower case: which records are of
/// the same kind.
fn kind(txt: &str) -> String {
    txt.trim()
        .split(|c: char| c == ';' || c.is_whitespace())
        .next()
        .unwrap_or("")
        .to_ascii_lowercase()
}

fn host(name: &str) -> String {
    name.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// Compares what DNS served (`served`, values of the record's type at its name) with `want`.
pub fn judge(want: &Wanted, served: &[String]) -> Served {
    let same: Vec<&String> = match want.rtype.as_str() {
        "TXT" => served
            .iter()
            .filter(|s| kind(s) == kind(&want.value))
            .collect(),
        _ => served.iter().collect(),
    };
    if same.is_empty() {
        return Served::Missing;
    }
    let equal = |s: &str| match want.rtype.as_str() {
        "TXT" => squash(s) == squash(&want.value),
        // The preference is ours to choose; the host is what matters.
        "MX" => {
            host(s.split_whitespace().last().unwrap_or("")) == {
                host(want.value.split_whitespace().last().unwrap_or(""))
            }
        }
        "CNAME" => host(s) == host(&want.value),
        _ => s.trim().eq_ignore_ascii_case(want.value.trim()),
    };
    if same.iter().any(|s| equal(s)) {
        Served::Match
    } else {
        Served::Mismatch(same.into_iter().cloned().collect())
    }
}

/// Asks DNS for `want`'s name and type; the values as [`judge`] reads them.
async fn lookup(r: &TokioResolver, want: &Wanted) -> Served {
    let rtype = match want.rtype.as_str() {
        "TXT" => RecordType::TXT,
        "MX" => RecordType::MX,
        "CNAME" => RecordType::CNAME,
        "TLSA" => RecordType::TLSA,
        _ => return Served::NotChecked,
    };
    let answers = match r.lookup(format!("{}.", want.name), rtype).await {
        Ok(l) => l.answers().to_vec(),
        Err(e) if e.is_nx_domain() || e.is_no_records_found() => Vec::new(),
        Err(e) => return Served::NoAnswer(e.to_string()),
    };
    let values: Vec<String> = answers
        .iter()
        .filter_map(|rec| match &rec.data {
            RData::TXT(t) if rtype == RecordType::TXT => Some(
                t.txt_data
                    .iter()
                    .map(|s| String::from_utf8_lossy(s).into_owned())
                    .collect(),
            ),
            RData::MX(m) if rtype == RecordType::MX => {
                Some(format!("{} {}", m.preference, m.exchange.to_ascii()))
            }
            RData::CNAME(c) if rtype == RecordType::CNAME => Some(c.0.to_ascii()),
            RData::TLSA(t) if rtype == RecordType::TLSA => Some(format!(
                "{} {} {} {}",
                u8::from(t.cert_usage),
                u8::from(t.selector),
                u8::from(t.matching),
                t.cert_data
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>()
            )),
            _ => None,
        })
        .collect();
    judge(want, &values)
}

/// A key's size in bits: 256 for Ed25519; for RSA the modulus of the stored PKCS #1 key.
pub fn key_bits(alg: rampart_queue::dkim::Algorithm, der: &[u8]) -> Option<usize> {
    if alg == rampart_queue::dkim::Algorithm::Ed25519 {
        return Some(256);
    }
    // RSAPrivateKey ::= SEQUENCE { version INTEGER, modulus INTEGER, ... } (RFC 8017 A.1.2).
    fn header(b: &[u8]) -> Option<(u8, usize, usize)> {
        let tag = *b.first()?;
        let first = *b.get(1)?;
        if first < 0x80 {
            return Some((tag, usize::from(first), 2));
        }
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | usize::from(*b.get(2 + i)?);
        }
        Some((tag, len, 2 + n))
    }
    let (tag, _, h) = header(der)?;
    if tag != 0x30 {
        return None;
    }
    let rest = der.get(h..)?;
    let (tag, vlen, vh) = header(rest)?;
    if tag != 0x02 {
        return None;
    }
    let rest = rest.get(vh + vlen..)?;
    let (tag, mlen, mh) = header(rest)?;
    if tag != 0x02 {
        return None;
    }
    let modulus = rest.get(mh..mh + mlen)?;
    let start = modulus.iter().position(|b| *b != 0)?;
    let top = modulus[start];
    Some((modulus.len() - start - 1) * 8 + (8 - top.leading_zeros() as usize))
}

/// `GET /dkim`.
pub(super) async fn page_route(
    State(c): State<Arc<Console>>,
    headers: HeaderMap,
    ext: Option<Extension<SocketAddr>>,
) -> Response {
    let Some(who) = c.signed(&headers, client_of(ext)).await else {
        return see_other("/login");
    };
    let config = c.config.clone();
    // The domains through the Directory trait (every node's on PostgreSQL), and the keys a
    // shared store keeps (None on the embedded store, whose keys are files): an unreadable
    // store is said, never shown as "no domains, no keys".
    let mut domains = match rampart_store::api::Directory::domains(&*c.store).await {
        Ok(d) => d,
        Err(e) => return super::unreadable(Some(&who), "DKIM and DNS records", &e),
    };
    let stored = match c.store.dkim_keys().await {
        Ok(k) => k.unwrap_or_default(),
        Err(e) => return super::unreadable(Some(&who), "DKIM and DNS records", &e),
    };
    let domain_options: String = domains
        .iter()
        .map(|d| format!("<option>{}</option>", escape(d)))
        .collect();
    // Files: off the async workers.
    let gathered = tokio::task::spawn_blocking(move || {
        let keys = rampart_queue::dkim::list(&config.data_dir);
        domains.extend(keys.iter().map(|(d, ..)| d.clone()));
        domains.extend(stored.iter().map(|k| k.domain.clone()));
        domains.sort();
        domains.dedup();
        let alg_name = |alg| match alg {
            rampart_queue::dkim::Algorithm::Rsa => "rsa-sha256",
            rampart_queue::dkim::Algorithm::Ed25519 => "ed25519-sha256",
        };
        // The shared store's keys first (every node signs with them), then this node's files.
        let mut key_rows: Vec<(String, String, String, String, String)> = stored
            .iter()
            .map(|k| {
                let alg = rampart_queue::dkim::Algorithm::parse(&k.algorithm);
                let bits = alg
                    .and_then(|a| {
                        let der = rampart_queue::dkim::from_pem(a, &k.private_key_pem).ok()?;
                        key_bits(a, &der)
                    })
                    .map(|b| b.to_string())
                    .unwrap_or_else(|| "unreadable".into());
                (
                    k.selector.clone(),
                    k.domain.clone(),
                    alg.map_or(k.algorithm.clone(), |a| alg_name(a).to_string()),
                    bits,
                    when(k.created),
                )
            })
            .collect();
        key_rows.extend(keys.iter().map(|(domain, selector, alg, path)| {
            let bits = std::fs::read(path)
                .ok()
                .and_then(|der| key_bits(*alg, &der))
                .map(|b| b.to_string())
                .unwrap_or_else(|| "unreadable".into());
            let created = std::fs::metadata(path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| when(d.as_micros() as i64))
                .unwrap_or_default();
            (
                selector.clone(),
                domain.clone(),
                alg_name(*alg).to_string(),
                bits,
                created,
            )
        }));
        let records: Vec<(String, Result<Vec<Wanted>, String>)> = domains
            .into_iter()
            .map(|d| {
                let r = crate::admin::dns_records_text_with(&config, &d, None, &stored)
                    .map(|(text, _)| parse_records(&text))
                    .map_err(|e| e.to_string());
                (d, r)
            })
            .collect();
        (key_rows, records)
    })
    .await;
    let Ok((keys, records)) = gathered else {
        return super::forbidden("The keys could not be read.");
    };
    let resolver = rampart_queue::dns::resolver(&c.config.dns);
    let key_table: String = keys
        .iter()
        .map(|(sel, dom, alg, bits, created)| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(sel),
                escape(dom),
                escape(alg),
                escape(bits),
                escape(created)
            )
        })
        .collect();
    let mut sections = String::new();
    for (domain, wanted) in &records {
        sections.push_str(&format!("<h2>{}</h2>", escape(domain)));
        let wanted = match wanted {
            Ok(w) => w,
            Err(e) => {
                sections.push_str(&format!(
                    "<p class=\"error\">The records could not be made: {}</p>",
                    escape(e)
                ));
                continue;
            }
        };
        // The domain's lookups at once: a slow resolver costs one timeout, not one per record.
        let answers = futures_util::future::join_all(wanted.iter().map(|w| async {
            match &resolver {
                Ok(r) => lookup(r, w).await,
                Err(e) => Served::NoAnswer(e.clone()),
            }
        }))
        .await;
        let mut rows = String::new();
        for (w, served) in wanted.iter().zip(answers) {
            let seen = match &served {
                Served::Match => "as published".to_string(),
                Served::Mismatch(v) => v.iter().map(|x| escape(x)).collect::<Vec<_>>().join("<br>"),
                Served::Missing => "nothing".into(),
                Served::NoAnswer(e) => format!("DNS did not answer: {}", escape(e)),
                Served::NotChecked => String::new(),
            };
            rows.push_str(&format!(
                "<tr class=\"record {cls}\" data-name=\"{name}\" data-type=\"{ty}\"><td>{name}</td><td>{ty}</td>\
                 <td><code>{}</code></td><td class=\"state\">{cls}</td><td>{seen}</td></tr>",
                escape(&w.value),
                cls = served.class(),
                name = escape(&w.name),
                ty = escape(&w.rtype),
            ));
        }
        sections.push_str(&format!(
            "<table class=\"records\"><tr><th>Name</th><th>Type</th><th>To publish</th><th>DNS now</th><th>Served</th></tr>{rows}</table>"
        ));
    }
    let dns = if c.config.dns.servers.is_empty() {
        "the system's resolver".to_string()
    } else {
        c.config
            .dns
            .servers
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let generate = generate_form(&who, &domain_options);
    let body = format!(
        "<h2>Signing keys (AL-2.2)</h2>\
         <table id=\"keys\"><tr><th>Selector</th><th>Domain</th><th>Algorithm</th><th>Bits</th><th>Created</th></tr>{key_table}</table>\
         {generate}\
         <p id=\"dns-source\">The records to publish, as <code>rampart dns-records</code> prints them, and what DNS serves now (asked of {}).</p>\
         <div id=\"records\">{sections}</div>",
        escape(&dns)
    );
    page(Some(&who), "DKIM and DNS records", &body)
}

/// The administrator's form for a new key; for other roles, the command that makes one.
fn generate_form(who: &Signed, domain_options: &str) -> String {
    if who.admin.role < AdminRole::Administrator {
        return "<p>New keys: <code>rampart dkim generate --domain DOMAIN --selector NEW</code>, \
                or an administrator here; publish the new record before mail is signed with it.</p>"
            .into();
    }
    format!(
        "<h2>New key</h2><form method=\"post\" action=\"/dkim/generate\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <label>Domain <select id=\"dkim-domain\" name=\"domain\">{domain_options}</select></label> \
         <label>Selector <input id=\"dkim-selector\" name=\"selector\" required maxlength=\"63\" \
         pattern=\"[A-Za-z0-9][A-Za-z0-9-]*\"></label> \
         <label>Algorithm <select id=\"dkim-algorithm\" name=\"algorithm\">\
         <option value=\"rsa\">RSA, 2048 bits</option><option value=\"ed25519\">Ed25519</option></select></label> \
         <button id=\"dkim-generate\">Generate</button></form>\
         <p>A selector is one DNS record: to rotate, generate a key under a new selector and \
         publish its record. Mail is signed with the new key from the next delivery on.</p>",
        who.csrf()
    )
}

/// `POST /dkim/generate` (form: csrf, domain, selector, algorithm): a new key, as `rampart dkim
/// generate` makes it: into the shared database on PostgreSQL (every node signs with it),
/// else a file of the data directory. The answer shows the record to publish (AL-2.2); the
/// trace records who made it (AL-3.1).
pub(super) async fn generate(
    State(c): State<Arc<Console>>,
    headers: HeaderMap,
    uri: Uri,
    ext: Option<Extension<SocketAddr>>,
    body: Bytes,
) -> Response {
    use rampart_queue::dkim::{self, Algorithm};
    let form = Form::parse(&body);
    let who = match c
        .authorise_post(
            &headers,
            &uri,
            client_of(ext),
            &form,
            AdminRole::Administrator,
            "generate DKIM keys",
        )
        .await
    {
        Ok(w) => w,
        Err(r) => return r,
    };
    let not_done = |why: &str| super::not_done(&who, "No key generated", why, "/dkim");
    let domain = form.get("domain").unwrap_or("").trim().to_ascii_lowercase();
    let selector = form.get("selector").unwrap_or("").trim().to_string();
    let Some(alg) = Algorithm::parse(form.get("algorithm").unwrap_or("")) else {
        return not_done("choose RSA or Ed25519");
    };
    match rampart_store::api::Directory::is_local_domain(&*c.store, &domain).await {
        Ok(true) => {}
        Ok(false) => return not_done(&format!("{domain} is not a domain of this server")),
        Err(e) => return super::unreadable(Some(&who), "DKIM and DNS records", &e),
    }
    let shared = match c.store.dkim_keys().await {
        Ok(k) => k.is_some(),
        Err(e) => return super::unreadable(Some(&who), "DKIM and DNS records", &e),
    };
    let made: Result<(String, String), String> = if shared {
        match dkim::make(&domain, &selector, alg, 2048) {
            Ok(key) => c
                .store
                .dkim_key_add(crate::dkim_pg::stored(&key, alg))
                .await
                .map(|()| (key.record_name, key.record_value))
                .map_err(|e| e.to_string()),
            Err(e) => Err(e),
        }
    } else {
        let (dir, d, s) = (c.config.data_dir.clone(), domain.clone(), selector.clone());
        tokio::task::spawn_blocking(move || dkim::generate(&dir, &d, &s, alg, 2048))
            .await
            .unwrap_or_else(|e| Err(e.to_string()))
            .map(|(_, name, value)| (name, value))
    };
    let (name, value) = match made {
        Ok(m) => m,
        Err(e) => return not_done(&e),
    };
    c.record(
        &who,
        "console",
        format!(
            "generated DKIM key {selector} for {domain} ({}), stored {}",
            alg.name(),
            if shared {
                "in the shared database"
            } else {
                "as a file of the data directory"
            }
        ),
        None,
    )
    .await;
    page(
        Some(&who),
        "New DKIM key",
        &format!(
            "<p>Key <span id=\"dkim-new\">{}</span> for {} generated. Publish this TXT record \
             (AL-2.2); mail from {} is signed with the key from the next delivery on.</p>\
             <p><code id=\"dkim-record\">{}. IN TXT {}</code></p><p><a href=\"/dkim\">Back</a></p>",
            escape(&selector),
            escape(&domain),
            escape(&domain),
            escape(&name),
            escape(&crate::admin::txt_strings(&value)),
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn al_2_2_record_lines_are_read_back_as_published() {
        let text = rampart_checks::auth::dns_records(
            "example.gov",
            &[("s1", "rsa", &"M".repeat(392))],
            "mx.example.gov",
            "r@example.gov",
        );
        let w = parse_records(&text);
        let types: Vec<&str> = w.iter().map(|w| w.rtype.as_str()).collect();
        assert_eq!(types, ["MX", "TXT", "TXT", "TXT"]);
        assert_eq!(w[0].value, "10 mx.example.gov.");
        let dkim = &w[2];
        assert_eq!(dkim.name, "s1._domainkey.example.gov");
        // The split strings joined again.
        assert_eq!(dkim.value, format!("v=DKIM1; k=rsa; p={}", "M".repeat(392)));
    }

    #[test]
    fn al_2_2_served_records_are_judged_match_mismatch_missing() {
        let want = Wanted {
            name: "example.gov".into(),
            rtype: "TXT".into(),
            value: "v=spf1 mx -all".into(),
        };
        let other = "google-site-verification=x".to_string();
        assert_eq!(
            judge(&want, &[other.clone(), "v=spf1  mx -all".into()]),
            Served::Match
        );
        assert_eq!(
            judge(&want, &[other.clone(), "v=spf1 +all".into()]),
            Served::Mismatch(vec!["v=spf1 +all".into()])
        );
        assert_eq!(judge(&want, &[other]), Served::Missing);
        let dkim = Wanted {
            name: "s1._domainkey.example.gov".into(),
            rtype: "TXT".into(),
            value: "v=DKIM1; k=ed25519; p=AB".into(),
        };
        assert_eq!(
            judge(&dkim, &["v=DKIM1;k=ed25519;p=AB;".into()]),
            Served::Match
        );
        let mx = Wanted {
            name: "example.gov".into(),
            rtype: "MX".into(),
            value: "10 mx.example.gov.".into(),
        };
        assert_eq!(judge(&mx, &["20 MX.example.gov.".into()]), Served::Match);
        assert!(matches!(
            judge(&mx, &["10 other.example.".into()]),
            Served::Mismatch(_)
        ));
    }

    #[test]
    fn rsa_key_size_is_read_from_the_modulus() {
        // SEQUENCE { INTEGER 0, INTEGER 0x00 0x80 followed by 255 bytes (2048 bits) }.
        let mut modulus = vec![0x00, 0x80];
        modulus.extend(std::iter::repeat_n(0x11, 255));
        let mut inner = vec![0x02, 0x01, 0x00, 0x02, 0x82, 0x01, 0x01];
        inner.extend(&modulus);
        let mut der = vec![0x30, 0x82];
        der.extend((inner.len() as u16).to_be_bytes());
        der.extend(&inner);
        assert_eq!(
            key_bits(rampart_queue::dkim::Algorithm::Rsa, &der),
            Some(2048)
        );
        assert_eq!(
            key_bits(rampart_queue::dkim::Algorithm::Ed25519, &[]),
            Some(256)
        );
        assert_eq!(key_bits(rampart_queue::dkim::Algorithm::Rsa, &[0x30]), None);
    }
}
