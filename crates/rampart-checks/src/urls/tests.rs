//! AL-1.3 with local feeds (DNS lists: tests/dns_lists.rs).

use super::*;
use crate::testutil::ctx;
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

async fn run(cfg: &UrlConfig, feeds: &UrlFeeds, raw: &[u8], direction: Direction) -> Verdict {
    let parsed = MessageParser::default().parse(raw).unwrap();
    check(cfg, feeds, None, &ctx(raw, &parsed, direction)).await
}

fn rejected(v: &Verdict) -> bool {
    matches!(&v.action, Action::Reject(r) if r.code == 554 && r.status == "5.7.1")
}

#[tokio::test]
async fn al_1_3_feed_hits_domain_host_and_url() {
    let feed = Feed::new("hits", FEED);
    let feeds = UrlFeeds::new(std::slice::from_ref(&feed.path));
    let cfg = UrlConfig {
        feeds: vec![feed.path.clone()],
        ..UrlConfig::default()
    };
    for html in [
        "<a href=\"https://www.EVIL.example/x\">here</a>",
        "<a href=\"http://login.shared.example/\">log in</a>",
        "<a href=\"http://sites.example/phish/login.php?x=1#y\">x</a>",
        "Plain text link: https://sites.example/phish/login.php",
    ] {
        let v = run(&cfg, &feeds, &html_message(html), Direction::Inbound).await;
        // AL-1.3: a listed page stays listed whatever query follows.
        assert!(rejected(&v), "{html}: {v:?}");
        assert!(v.reason.contains("feed.txt"), "{}", v.reason);
    }
    for clean in [
        "<a href=\"http://other.shared.example/\">x</a>",
        "<a href=\"https://notevil.example/\">x</a>",
    ] {
        let v = run(&cfg, &feeds, &html_message(clean), Direction::Inbound).await;
        assert_eq!(v.action, Action::Accept, "{clean}: {v:?}");
    }
    // Quarantine when configured.
    let q = UrlConfig {
        action: PolicyAction::Quarantine,
        ..cfg.clone()
    };
    let v = run(
        &q,
        &feeds,
        &html_message("https://evil.example/"),
        Direction::Inbound,
    )
    .await;
    assert_eq!(v.action, Action::Quarantine);
    // Outbound is not inspected unless configured.
    let v = run(
        &cfg,
        &feeds,
        &html_message("https://evil.example/"),
        Direction::Outbound,
    )
    .await;
    assert_eq!(v.action, Action::Accept);
    let out = UrlConfig {
        check_outbound: true,
        ..cfg.clone()
    };
    let v = run(
        &out,
        &feeds,
        &html_message("https://evil.example/"),
        Direction::Outbound,
    )
    .await;
    assert!(rejected(&v));
}

#[tokio::test]
async fn al_1_3_idn_and_tricks_are_normalised_before_matching() {
    let feed = Feed::new("idn", "xn--bcher-kva.example\n203.0.113.7\n");
    let feeds = UrlFeeds::new(std::slice::from_ref(&feed.path));
    let cfg = UrlConfig::default();
    for html in [
        "<a href=\"http://bücher.example/\">x</a>",
        "<a href=\"http://B%C3%BCcher.example./\">x</a>",
        "<a href=\"http://trusted.example@bücher.example/\">x</a>",
        "<a href=\"http://3405803783/\">x</a>",
    ] {
        let v = run(&cfg, &feeds, &html_message(html), Direction::Inbound).await;
        assert!(rejected(&v), "{html}: {v:?}");
    }
}

#[tokio::test]
async fn al_1_3_mismatched_anchor_text_is_a_phishing_signal() {
    let feeds = UrlFeeds::new(&[]);
    let raw = html_message("<a href=\"https://evil.example/login\">https://www.bank.example/</a>");
    let v = run(&UrlConfig::default(), &feeds, &raw, Direction::Inbound).await;
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
    let feeds = UrlFeeds::new(std::slice::from_ref(&feed.path));
    let cfg = UrlConfig::default();
    let raw = html_message("<a href=\"https://fresh-phish.example/a\">x</a>");
    let v = run(&cfg, &feeds, &raw, Direction::Inbound).await;
    assert_eq!(v.action, Action::Accept, "receive time: not yet listed");
    // The feed is updated (new size and mtime) before delivery.
    std::fs::write(&feed.path, "# updated\nfresh-phish.example\n").unwrap();
    let f = std::fs::File::options()
        .write(true)
        .open(&feed.path)
        .unwrap();
    f.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5))
        .unwrap();
    let v = run(&cfg, &feeds, &raw, Direction::Inbound).await;
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
    assert!(toml::from_str::<UrlConfig>("bogus = true").is_err());
}
