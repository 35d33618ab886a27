//! Well-known brands phishers imitate, and free mail providers (AL-1.2, anti-phishing).
//!
//! A domain imitates a brand when one of its labels, read through the look-alike skeleton
//! ([`crate::spam::lookalike::skeleton`]: homoglyphs, `rn`→`m`, `0`→`o` …), is or contains the
//! brand's name, or is one edit away from it (names of six letters or more), while the
//! domain is not the brand's own: `paypa1-secure.com`, `microsoft.com.evil.example`,
//! `dhl-parcel.example`. A brand's own domains are its listed ones and its name under any
//! top-level domain (`amazon.de`).

use super::super::lookalike::skeleton;

/// Brand names and the domains they send from besides `<name>.<tld>`.
const BRANDS: &[(&str, &[&str])] = &[
    ("paypal", &["paypalobjects.com", "paypal-communication.com"]),
    (
        "microsoft",
        &[
            "office.com",
            "office365.com",
            "live.com",
            "outlook.com",
            "hotmail.com",
            "microsoftonline.com",
            "sharepoint.com",
            "onmicrosoft.com",
        ],
    ),
    ("office365", &["microsoft.com", "office.com"]),
    // Not `outlook`: an ordinary word (a prospect, a forecast) before it is a brand, and as a
    // label of other sites' hosts (`outlook.4team.biz`, a vendor of Outlook add-ins linked from
    // wanted newsletters) it matched 21 ham and no spam in the training half of the
    // SpamAssassin corpus (docs/ANTISPAM.md, round 3). Microsoft look-alikes are `microsoft`
    // and `office365`.
    ("apple", &["icloud.com", "me.com"]),
    ("icloud", &["apple.com"]),
    (
        "google",
        &["gmail.com", "googlemail.com", "youtube.com", "gstatic.com"],
    ),
    ("amazon", &["amazonaws.com", "amazonses.com", "a2z.com"]),
    ("docusign", &[]),
    ("dhl", &[]),
    ("fedex", &[]),
    ("ups", &[]),
    ("usps", &[]),
    ("netflix", &[]),
    ("linkedin", &[]),
    ("dropbox", &[]),
    ("adobe", &[]),
    ("wetransfer", &[]),
    ("facebook", &["facebookmail.com", "fb.com"]),
    ("instagram", &[]),
    ("chase", &["jpmorgan.com", "jpmchase.com"]),
    ("wellsfargo", &["wf.com"]),
    ("bankofamerica", &["bofa.com"]),
    ("citibank", &["citi.com"]),
    ("hsbc", &[]),
    ("barclays", &[]),
    ("santander", &[]),
    ("americanexpress", &["aexp.com", "amex.com"]),
    ("coinbase", &[]),
    ("binance", &[]),
];

/// Ordinary words one edit away from a long brand name: `finance` is not `binance`
/// (finance.yahoo.com matched it in the training half of the SpamAssassin corpus).
const WORDS_NEAR_BRANDS: &[&str] = &["finance", "goggle", "goggles"];

/// Free mail providers: a Reply-To there, for a sender elsewhere, is how many frauds collect.
const FREEMAIL: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "yahoo.com",
    "ymail.com",
    "hotmail.com",
    "outlook.com",
    "live.com",
    "msn.com",
    "aol.com",
    "icloud.com",
    "me.com",
    "mail.com",
    "gmx.com",
    "gmx.net",
    "gmx.de",
    "web.de",
    "yandex.ru",
    "yandex.com",
    "mail.ru",
    "protonmail.com",
    "proton.me",
    "zoho.com",
    "qq.com",
    "163.com",
    "126.com",
];

/// Whether `domain` (lower case) is a free mail provider, any national Yahoo/Hotmail included.
pub fn is_freemail(domain: &str) -> bool {
    FREEMAIL.contains(&domain)
        || ["yahoo.", "hotmail.", "outlook.", "gmx."]
            .iter()
            .any(|p| domain.starts_with(p) && domain[p.len()..].split('.').count() <= 2)
}

/// The owner labels ([`owner_label`]) under which a free mail provider's outgoing relays are
/// named, by the provider's own owner label. Gmail's mail leaves through `google.com` hosts,
/// Yahoo's through `yahoo.com` and `yahoodns.net`, Microsoft's through `outlook.com` and
/// `hotmail.com`. A provider not listed relays under its own label.
const FREEMAIL_RELAYS: &[(&[&str], &[&str])] = &[
    (&["gmail", "googlemail"], &["google", "gmail", "googlemail"]),
    (&["yahoo", "ymail"], &["yahoo", "yahoodns", "ymail"]),
    (
        &["hotmail", "outlook", "live", "msn"],
        &["hotmail", "outlook", "live", "msn"],
    ),
    (&["icloud", "me"], &["icloud", "me", "apple"]),
    (&["gmx", "web"], &["gmx", "web"]),
    (&["protonmail"], &["protonmail", "proton"]),
];

/// Whether `host` is named like one of the relays of the free mail provider at `from_domain`
/// ([`FREEMAIL_RELAYS`]).
pub fn is_freemail_relay(from_domain: &str, host: &str) -> bool {
    let (Some(provider), Some(label)) = (owner_label(from_domain), owner_label(host)) else {
        return false;
    };
    match FREEMAIL_RELAYS.iter().find(|(p, _)| p.contains(&provider)) {
        Some((_, relays)) => relays.contains(&label),
        None => label == provider,
    }
}

/// The label that names a domain's owner: `example` in `mail.example.com` and in
/// `shop.example.co.uk` (a two-letter top-level domain after a short second level counts as a
/// national suffix).
fn owner_label(domain: &str) -> Option<&str> {
    let labels: Vec<&str> = domain.split('.').collect();
    let n = labels.len();
    if n < 2 {
        return None;
    }
    if n >= 3 && labels[n - 1].len() == 2 && labels[n - 2].len() <= 3 {
        return Some(labels[n - 3]);
    }
    Some(labels[n - 2])
}

/// The organisation's domain of `domain`: its owner label ([`owner_label`]) and what follows,
/// `example.com` for `mail.example.com`, `example.co.uk` for `shop.example.co.uk`; the domain
/// itself when it has fewer than two labels. Lower-cased, without a final dot.
pub fn organisation(domain: &str) -> String {
    let d = domain.trim_end_matches('.').to_ascii_lowercase();
    let labels: Vec<&str> = d.split('.').collect();
    let n = labels.len();
    let keep = if n >= 3 && labels[n - 1].len() == 2 && labels[n - 2].len() <= 3 {
        3
    } else {
        2
    };
    labels[n.saturating_sub(keep)..].join(".")
}

/// The brand `domain` imitates, if any.
pub fn imitated_brand(domain: &str) -> Option<&'static str> {
    let d = domain.trim_end_matches('.').to_ascii_lowercase();
    let owner = owner_label(&d)?;
    // Each label's skeleton once, each brand's once per process (issue 23: this runs for every
    // domain of every message, and the skeletons were remade for every label and brand pair).
    let labels: Vec<(&str, String)> = d
        .split(['.', '-', '_'])
        .map(|label| (label, skeleton(label)))
        .collect();
    static BRAND_SKELETONS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    let brand_skeletons =
        BRAND_SKELETONS.get_or_init(|| BRANDS.iter().map(|(b, _)| skeleton(b)).collect());
    for ((brand, own), brand_skeleton) in BRANDS.iter().zip(brand_skeletons) {
        let owned =
            |o: &&str| d == *o || d.strip_suffix(*o).is_some_and(|rest| rest.ends_with('.'));
        if owner == *brand || own.iter().any(owned) {
            continue;
        }
        if labels
            .iter()
            .any(|(label, sk)| resembles(sk, brand_skeleton, label))
        {
            return Some(brand);
        }
    }
    None
}

/// Whether a label (as a skeleton) shows the brand: equal, containing it (long names only:
/// `ups` is inside `groups`, `chase` inside `purchase`), or one edit away (long names only).
fn resembles(label: &str, brand: &str, original: &str) -> bool {
    if label == brand {
        return true;
    }
    if brand.len() < 6 {
        return false;
    }
    // A label that *is* another word made of the brand is still the brand shown: `paypal`
    // inside `paypalsecure`; the original spelling counts too, before skeleton folding.
    label.contains(brand)
        || original.contains(brand)
        || (one_edit(label, brand) && !WORDS_NEAR_BRANDS.contains(&original))
}

fn one_edit(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    if a.len().abs_diff(b.len()) > 1 {
        return false;
    }
    let p = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let (ra, rb) = (&a[p..], &b[p..]);
    match ra.len().cmp(&rb.len()) {
        std::cmp::Ordering::Equal => ra.is_empty() || ra[1..] == rb[1..],
        std::cmp::Ordering::Greater => ra[1..] == *rb,
        std::cmp::Ordering::Less => *ra == rb[1..],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn al_1_2_brand_lookalikes() {
        for d in [
            "paypa1-secure.com",
            "paypal.com.evil.example",
            "rnicrosoft-support.net",
            "secure-docusign.example",
            "dhl-parcel.example",
            "amazon-billing.example",
            "micros0ft.example",
            "binanse.example",
        ] {
            assert!(imitated_brand(d).is_some(), "{d}");
        }
        for d in [
            "paypal.com",
            "www.paypal.com",
            "amazon.de",
            "amazon.co.uk",
            "mail.google.com",
            "gmail.com",
            "groups.example",
            "partner.example",
            "startups.example.org",
            "fedex.com",
            "finance.yahoo.com",
            "personal-finance.example",
            // Round 3: an ordinary word, no longer a brand (see BRANDS).
            "outlook.4team.biz",
            "www.outlooksecure.com",
        ] {
            assert_eq!(imitated_brand(d), None, "{d}");
        }
    }

    #[test]
    fn al_1_2_organisation() {
        assert_eq!(organisation("mail.Example.com."), "example.com");
        assert_eq!(organisation("example.com"), "example.com");
        assert_eq!(organisation("shop.example.co.uk"), "example.co.uk");
        assert_eq!(organisation("a.b.mailings.foxsports.com"), "foxsports.com");
        assert_eq!(organisation("localhost"), "localhost");
    }

    #[test]
    fn al_1_2_freemail() {
        assert!(is_freemail("gmail.com"));
        assert!(is_freemail("yahoo.co.uk"));
        assert!(!is_freemail("partner.example"));
    }
}
