//! AL-1.3 with local feeds (DNS lists: tests/dns_lists.rs).

use super::*;
use crate::testutil::{docx, message_with};
use mail_builder::MessageBuilder;
use mail_parser::MessageParser;

struct Feed {
    dir: PathBuf,
    path: PathBuf,
}

impl Feed {
    fn new(name: &str, text: &str) -> Feed {
        let dir = std::env::temp_dir().join(format!("rampart-urls-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("feed.txt");
        std::fs::write(&path, text).unwrap();
        Feed { dir, path }
    }

    fn feeds(&self) -> UrlFeeds {
        UrlFeeds::new(std::slice::from_ref(&self.path))
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

const FEED: &str = "evil.example\n=login.shared.example\nhttps://sites.example/phish/login.php\n";

fn html_message(html: &str) -> Vec<u8> {
    MessageBuilder::new()
        .from("a@sender.example")
        .to("u@agency.example.gov")
        .subject("Links")
        .text_body("see the HTML part")
        .html_body(html.to_string())
        .write_to_vec()
        .unwrap()
}

/// The check as the gateway runs it, at receipt or delivery: inspect, then judge.
async fn run(cfg: &UrlConfig, feeds: &UrlFeeds, raw: &[u8]) -> Verdict {
    let parsed = MessageParser::default().parse(raw).unwrap();
    let report = inspect(cfg, feeds, None, &[], &parsed).await;
    verdict(cfg, &report)
}

fn rejected(v: &Verdict) -> bool {
    matches!(&v.action, Action::Reject(r) if r.code == 554 && r.status == EnhancedStatus::NOT_AUTHORIZED)
}

#[tokio::test]
async fn al_1_3_feed_hits_domain_host_and_url() {
    let feed = Feed::new("hits", FEED);
    let feeds = feed.feeds();
    let cfg = UrlConfig {
        feeds: vec![feed.path.clone()],
        ..UrlConfig::default()
    };
    for html in [
        "<a href=\"https://www.EVIL.example/x\">here</a>",
        "<a href=\"http://login.shared.example/\">log in</a>",
        // AL-1.3: a listed page stays listed whatever query follows.
        "<a href=\"http://sites.example/phish/login.php?x=1#y\">x</a>",
        "Plain text link: https://sites.example/phish/login.php",
    ] {
        let v = run(&cfg, &feeds, &html_message(html)).await;
        assert!(rejected(&v), "{html}: {v:?}");
        assert!(v.reason.contains("feed.txt"), "{}", v.reason);
    }
    for clean in [
        "<a href=\"http://other.shared.example/\">x</a>",
        "<a href=\"https://notevil.example/\">x</a>",
        "<a href=\"https://sites.example/phish/other.php\">x</a>",
    ] {
        let v = run(&cfg, &feeds, &html_message(clean)).await;
        assert_eq!(v.action, Action::Accept, "{clean}: {v:?}");
    }
    // Quarantine when configured.
    let q = UrlConfig {
        action: PolicyAction::Quarantine,
        ..cfg.clone()
    };
    let v = run(&q, &feeds, &html_message("https://evil.example/")).await;
    assert_eq!(v.action, Action::Quarantine);
}

// AL-1.3: each host a browser would contact, however the link writes it, is matched.
#[tokio::test]
async fn al_1_3_hosts_read_as_a_browser_reads_them() {
    let feed = Feed::new(
        "browser",
        "evil.example\n127.0.0.1\nexample.com\nxn--bcher-kva.example\n",
    );
    let feeds = feed.feeds();
    let cfg = UrlConfig::default();
    for link in [
        "http://0x7f.1/",
        "http://2130706433/",
        "http://0177.0.0.1/",
        "http://ｅｘａｍｐｌｅ.com",
        "http://%65xample.com",
        "http:\\\\evil.example\\",
        "http:evil.example",
        "ht\ttp://evil.example",
        "\x01http://evil.example",
        "http://bücher.example/",
        "http://XN--BCHER-KVA.example/",
        "http://B%C3%BCcher.example./",
        "http://trusted.example@bücher.example/",
    ] {
        let v = run(
            &cfg,
            &feeds,
            &html_message(&format!("<a href=\"{link}\">x</a>")),
        )
        .await;
        assert!(rejected(&v), "{link:?}: {v:?}");
    }
}

// AL-1.3: a feed entry with a path matches that host and path prefix whatever follows.
#[tokio::test]
async fn al_1_3_feed_path_entry_in_a_message() {
    let feed = Feed::new("path", "evil.example/phish\n");
    let feeds = feed.feeds();
    let cfg = UrlConfig::default();
    for link in [
        "http://evil.example/phish?x=1",
        "http://evil.example/a/../phish/",
        "http://EVIL.example/phish#f",
        "http://evil.example/%70hish",
    ] {
        let v = run(
            &cfg,
            &feeds,
            &html_message(&format!("<a href=\"{link}\">x</a>")),
        )
        .await;
        assert!(rejected(&v), "{link}: {v:?}");
        assert!(v.reason.contains("evil.example/phish"), "{}", v.reason);
    }
    let v = run(
        &cfg,
        &feeds,
        &html_message("<a href=\"http://evil.example/about\">x</a>"),
    )
    .await;
    assert_eq!(v.action, Action::Accept, "{v:?}");
}

// AL-1.3: links hidden in HTML the way a browser would still follow them.
#[tokio::test]
async fn al_1_3_html_forms_of_a_link() {
    let feed = Feed::new("htmlforms", "evil.example\nkit.example/kit/\n");
    let feeds = feed.feeds();
    let cfg = UrlConfig::default();
    for html in [
        "<meta http-equiv=\"refresh\" content=\"0; url=http://evil.example/\">",
        "<a href=\"&#104;ttp://evil.example/\">x</a>",
        // A numeric reference without its ';' still counts for a browser.
        "<a href=\"&#104ttp&#58//evil.example/\">x</a>",
        "<a href=\"http&colon;&sol;&sol;evil.example/\">x</a>",
        "<img srcset=\"https://cdn.example/a.png 1x, https://evil.example/b.png 2x\">",
        "<form><button formaction=\"https://evil.example/post\">Send</button></form>",
        // Relative to <base href>: kit.example/kit/login, not a host called "kit".
        "<base href=\"https://kit.example/\"><a href=\"kit/login\">x</a>",
        // Split by invisible characters: the reader sees one link.
        "<p>Visit http://ev&shy;il.example/ today</p>",
        "<p>Visit http://kit.example/k\u{200B}it/login today</p>",
        "<p>Visit http://kit.example/ki&#x2060;t/a&shy;b today</p>",
    ] {
        let v = run(&cfg, &feeds, &html_message(html)).await;
        assert!(rejected(&v), "{html}: {v:?}");
    }
}

const SVG: &str =
    "<svg xmlns=\"http://www.w3.org/2000/svg\" xmlns:xlink=\"http://www.w3.org/1999/xlink\">\
    <a xlink:href=\"https://evil.example/svg\"><text>Open</text></a></svg>";

const RTF: &str = "{\\rtf1\\ansi{\\field{\\*\\fldinst{HYPERLINK \"http://evil.example/rtf\"}}\
    {\\fldrslt{Invoice}}}\\par}";

fn docx_linking(target: &str) -> Vec<u8> {
    let rels = format!(
        "<?xml version=\"1.0\"?><Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">\
         <Relationship Id=\"rId9\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/hyperlink\" \
         Target=\"{target}\" TargetMode=\"External\"/></Relationships>"
    );
    docx(
        "Invoice attached",
        &[("word/_rels/document.xml.rels", rels.as_bytes())],
    )
}

// AL-1.3: links in HTML, SVG, Office and RTF attachments are checked like links in the body.
#[tokio::test]
async fn al_1_3_links_in_attachments() {
    let feed = Feed::new("attach", "evil.example\n");
    let feeds = feed.feeds();
    let cfg = UrlConfig::default();
    let docx_rel = docx_linking("https://evil.example/doc");
    let docx_field = docx(
        "</w:t></w:r><w:r><w:instrText xml:space=\"preserve\"> HYPERLINK \"https://evil.example/field\" </w:instrText></w:r><w:r><w:t>",
        &[],
    );
    let cases: [(&str, &str, &[u8]); 8] = [
        // The label does not decide: HTML called a PDF, an Office file called a PDF.
        (
            "invoice.html",
            "application/pdf",
            b"<html><a href=\"https://evil.example/p\">x</a>",
        ),
        ("scan.pdf", "application/pdf", &docx_rel),
        (
            "page.html",
            "text/html",
            b"<a href=\"https://evil.example/h\">x</a>",
        ),
        ("logo.svg", "image/svg+xml", SVG.as_bytes()),
        (
            "invoice.docx",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            &docx_rel,
        ),
        ("field.docx", "application/octet-stream", &docx_field),
        ("invoice.rtf", "application/rtf", RTF.as_bytes()),
        (
            "data.bin",
            "application/octet-stream",
            b"<svg><a href=\"https://evil.example/x\"/></svg>",
        ),
    ];
    for (name, ct, data) in cases {
        let v = run(&cfg, &feeds, &message_with(&[(name, ct, data)])).await;
        assert!(rejected(&v), "{name}: {v:?}");
    }
    // The same documents without a listed link pass.
    let clean = docx_linking("https://partner.example/doc");
    let v = run(
        &cfg,
        &feeds,
        &message_with(&[("ok.docx", "application/octet-stream", &clean)]),
    )
    .await;
    assert_eq!(v.action, Action::Accept, "{v:?}");
}

fn many_links(n: usize, listed_at: Option<usize>) -> Vec<u8> {
    let mut html = String::new();
    for i in 0..n {
        if Some(i) == listed_at {
            html.push_str("<a href=\"https://evil.example/x\">x</a>\n");
        } else {
            html.push_str(&format!(
                "<a href=\"https://shop.example/item/{i}\">item</a>\n"
            ));
        }
    }
    html_message(&html)
}

// AL-1.3: every URL is checked; past the bound the message is held, never passed.
#[tokio::test]
async fn al_1_3_every_url_checked_and_too_many_held() {
    let feed = Feed::new("many", "evil.example\n");
    let feeds = feed.feeds();
    let cfg = UrlConfig::default();
    // The listed link stands after 500 others: found.
    let v = run(&cfg, &feeds, &many_links(600, Some(500))).await;
    assert!(rejected(&v), "{v:?}");
    // More distinct URLs than the bound: held, with the reason.
    let v = run(&cfg, &feeds, &many_links(MAX_URLS + 1, None)).await;
    assert_eq!(v.action, Action::Quarantine, "{v:?}");
    assert!(
        v.reason.contains("too many URLs to inspect"),
        "{}",
        v.reason
    );
    // Exactly the bound: inspected in full.
    let v = run(&cfg, &feeds, &many_links(MAX_URLS, None)).await;
    assert_eq!(v.action, Action::Accept, "{v:?}");
    // A listed link still refuses a message with too many URLs.
    let v = run(&cfg, &feeds, &many_links(MAX_URLS + 10, Some(0))).await;
    assert!(rejected(&v), "{v:?}");
}

// AL-1.3: the same page written many ways counts once (bounded lookups).
#[test]
fn al_1_3_urls_deduplicated_by_host_and_path() {
    let mut html = String::new();
    for i in 0..3000 {
        html.push_str(&format!(
            "<a href=\"HTTPS://Shop.Example/./item/../offer?utm={i}#top\">x</a>\n"
        ));
    }
    let raw = html_message(&html);
    let msg = MessageParser::default().parse(&raw).unwrap();
    let ex = extract::extract(&msg, MAX_URLS);
    assert!(!ex.truncated);
    let keys: Vec<String> = ex.urls.iter().map(|u| u.url.key()).collect();
    assert_eq!(keys, vec!["shop.example/offer"]);
}

#[tokio::test]
async fn al_1_3_mismatched_anchor_text_is_a_phishing_signal() {
    let feeds = UrlFeeds::new(&[]);
    let raw = html_message("<a href=\"https://evil.example/login\">https://www.bank.example/</a>");
    let v = run(&UrlConfig::default(), &feeds, &raw).await;
    assert_eq!(v.action, Action::Accept, "not a block by itself");
    assert!(
        v.reason
            .contains("link text shows www.bank.example but leads to evil.example"),
        "{}",
        v.reason
    );
}

#[tokio::test]
async fn al_1_3_feed_reload_between_receive_and_delivery() {
    let feed = Feed::new("reload", "# empty at first\n");
    let feeds = feed.feeds();
    let cfg = UrlConfig::default();
    let raw = html_message("<a href=\"https://fresh-phish.example/a\">x</a>");
    let v = run(&cfg, &feeds, &raw).await;
    assert_eq!(v.action, Action::Accept, "receive time: not yet listed");
    // The feed is updated (new size and mtime) before delivery.
    std::fs::write(&feed.path, "# updated\nfresh-phish.example\n").unwrap();
    let f = std::fs::File::options()
        .write(true)
        .open(&feed.path)
        .unwrap();
    f.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5))
        .unwrap();
    let v = run(&cfg, &feeds, &raw).await;
    assert!(rejected(&v), "delivery time: listed now: {v:?}");
}

#[test]
fn config_defaults_and_unknown_fields() {
    let c: UrlConfig = toml::from_str(
        "uri_blocklists = [{ zone = \"multi.uribl.example\", codes = [\"127.0.0.2\"] }]",
    )
    .unwrap();
    assert!(!c.tempfail_on_dns_timeout);
    assert_eq!(c.uri_blocklists[0].codes.len(), 1);
    assert_eq!((c.max_urls, c.max_dns_queries), (MAX_URLS, MAX_DNS_QUERIES));
    assert!(toml::from_str::<UrlConfig>("bogus = true").is_err());
}

// Truncated and malformed input in every reader: no panic, nothing invented.
#[test]
fn al_1_3_odd_input_is_read_without_panic() {
    let odd = [
        "&",
        "&#",
        "&#x",
        "&#xZZ;",
        "&#99999999999999999999;",
        "<",
        "<a",
        "<a href",
        "<a href=",
        "<a href='",
        "<meta http-equiv=refresh content=",
        "<meta http-equiv=refresh content='0;url=",
        "<base href=\"http://[\">",
        "<!--",
        "<script>",
        "<a href=\"http://%\">",
        "http://[::1",
        "http://é:é/",
        "\u{10FFFF}:x",
        "{\\rtf1\\'",
        "{\\rtf1 HYPERLINK \"",
        "HYPERLINK",
        "<svg><a xlink:href=\"\u{0}\"/>",
        "http://0x/",
        "http://4294967296/",
        "http://1.2.3.4.5/",
    ];
    for s in odd {
        let raw = message_with(&[
            ("a.html", "text/html", s.as_bytes()),
            ("a.rtf", "application/rtf", s.as_bytes()),
            ("a.svg", "image/svg+xml", s.as_bytes()),
        ]);
        let msg = MessageParser::default().parse(&raw).unwrap();
        let ex = extract::extract(&msg, MAX_URLS);
        for u in &ex.urls {
            assert!(!u.url.host.is_empty(), "{s:?}: {u:?}");
        }
        let _ = html::links(s, "body", true);
        let _ = normalize_url(s);
    }
    // A zip that is not a readable Office file is reported, not skipped silently.
    let raw = message_with(&[("x.docx", "application/octet-stream", b"PK\x03\x04garbage")]);
    let msg = MessageParser::default().parse(&raw).unwrap();
    let ex = extract::extract(&msg, MAX_URLS);
    assert_eq!(ex.problems.len(), 1, "{:?}", ex.problems);
}

/// AL-1.3: links of a PDF attachment, its streams decoded: a /URI action and a link written in
/// compressed page text.
#[tokio::test]
async fn al_1_3_links_in_a_pdf_behind_stream_filters() {
    let feed = Feed::new("pdf", "evil.example\n");
    let feeds = feed.feeds();
    let cfg = UrlConfig::default();
    let action = crate::testutil::pdf_flate(
        b"BT (Invoice) Tj ET",
        "7 0 obj << /Type /Annot /A << /S /URI /URI (https://evil.example/pay) >> >> endobj",
    );
    let text = crate::testutil::pdf_flate(b"BT (Pay at https://evil.example/kit) Tj ET", "");
    let clean = crate::testutil::pdf_flate(b"BT (Pay at https://agency.example.gov/) Tj ET", "");
    for (name, pdf, listed) in [
        ("action", &action, true),
        ("text", &text, true),
        ("clean", &clean, false),
    ] {
        let raw = message_with(&[("invoice.pdf", "application/pdf", pdf)]);
        let v = run(&cfg, &feeds, &raw).await;
        assert_eq!(rejected(&v), listed, "{name}: {v:?}");
    }
}

/// AL-1.3: an HTML body in base64 with a character outside the alphabet on every line is
/// decoded as readers decode it (RFC 2045 section 6.8), and its links are read.
#[tokio::test]
async fn al_1_3_links_in_base64_with_stray_characters() {
    let feed = Feed::new("b64", "evil.example\n");
    let feeds = feed.feeds();
    let html = b"<html><body><a href=\"https://evil.example/pay\">Pay here</a></body></html>";
    let encoded: String = crate::testutil::base64_lines(html)
        .split("\r\n")
        .map(|l| format!("{l}!"))
        .collect::<Vec<_>>()
        .join("\r\n");
    let raw = format!(
        "From: a@sender.example\r\nTo: u@agency.example.gov\r\nSubject: x\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n{encoded}\r\n"
    );
    let v = run(&UrlConfig::default(), &feeds, raw.as_bytes()).await;
    assert!(rejected(&v), "{v:?}");
}
