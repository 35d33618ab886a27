//! AL-1.2, round 3 of the corpus measurements (docs/ANTISPAM.md): the one rule that lowers the
//! score, `SOLICITED_BULK`, fires on a newsletter's consistent shape and on nothing a spammer
//! gets for free; `mismatched_link` counts once; `outlook` is no brand.

use super::tests_samples::{names, score};
use crate::testutil::LOCAL;

const DATE: &str = "Date: Tue, 02 Dec 2026 09:12:00 +0000";

fn newsletter(from: &str, unsubscribe: &str, message_id: &str) -> String {
    format!(
        "From: Weekly News <{from}>\nTo: user@{LOCAL}\nSubject: This week at the shop\n{DATE}\n\
         Message-ID: <{message_id}>\nList-Unsubscribe: {unsubscribe}\nPrecedence: bulk\n\
         MIME-Version: 1.0\nContent-Type: text/plain\n\nOur new catalogue is out: see \
         https://www.shop.example/catalogue\n"
    )
}

fn bulk_points(raw: &str) -> Option<f32> {
    score(raw)
        .content
        .iter()
        .find(|h| h.name == "SOLICITED_BULK")
        .map(|h| h.score)
}

#[test]
fn al_1_2_solicited_bulk_lowers_the_score() {
    // List-Unsubscribe (mailto and https) at the sender's organisation, Message-ID minted there.
    let m = newsletter(
        "news@mailings.shop.example",
        "<mailto:leave-123@lists.shop.example>, <https://www.shop.example/unsub?u=1>",
        "20261202.123@mta7.shop.example",
    );
    assert_eq!(bulk_points(&m), Some(-2.0), "{:?}", names(&score(&m)));
    assert!(score(&m).total < 0.0);
    // The https form alone is enough.
    let m = newsletter(
        "news@shop.example",
        "<https://shop.example/u/1>",
        "1@shop.example",
    );
    assert_eq!(bulk_points(&m), Some(-2.0));
}

#[test]
fn al_1_2_solicited_bulk_needs_the_whole_shape() {
    let good = newsletter(
        "news@shop.example",
        "<mailto:leave@shop.example>",
        "1@shop.example",
    );
    // Unsubscribe elsewhere, Message-ID elsewhere, no List-Unsubscribe, no Date, a bad Date.
    for m in [
        good.replace("leave@shop.example", "leave@bulk-sender.example"),
        good.replace("<1@shop.example>", "<1@mta.bulk-sender.example>"),
        good.replace("List-Unsubscribe: <mailto:leave@shop.example>\n", ""),
        good.replace(&format!("{DATE}\n"), ""),
        good.replace(DATE, "Date: someday soon"),
    ] {
        assert_eq!(bulk_points(&m), None, "{m}");
    }
    // A free mail sender gets all three for nothing: no rebate.
    let free = newsletter(
        "deals@gmail.com",
        "<mailto:deals@gmail.com>",
        "CAB1@mail.gmail.com",
    );
    assert_eq!(bulk_points(&free), None);
    // Nor with a brand look-alike among the links (a phish dressed as a newsletter).
    let phish = good.replace(
        "https://www.shop.example/catalogue",
        "https://paypa1-secure.example/login",
    );
    assert_eq!(bulk_points(&phish), None, "{:?}", names(&score(&phish)));
}

#[test]
fn al_1_2_mismatched_link_counts_once() {
    let html = |links: usize| {
        let a: String = (0..links)
            .map(|i| {
                format!("<p><a href=\"http://click.tracker.example/{i}\">https://www.shop.example/item{i}</a></p>")
            })
            .collect();
        format!(
            "From: news@shop.example\nTo: user@{LOCAL}\nSubject: Items\n{DATE}\n\
             Message-ID: <2@shop.example>\nMIME-Version: 1.0\nContent-Type: text/html\n\n{a}\n"
        )
    };
    let weight = |raw: &str| -> f32 {
        score(raw)
            .rules
            .iter()
            .filter(|r| r.rule == "mismatched_link")
            .map(|r| r.weight)
            .sum()
    };
    assert_eq!(weight(&html(1)), 1.5);
    assert_eq!(weight(&html(3)), 1.5);
}

#[test]
fn al_1_2_outlook_is_a_word_not_a_brand() {
    let m = format!(
        "From: news@shop.example\nTo: user@{LOCAL}\nSubject: Items\n{DATE}\n\
         Message-ID: <3@shop.example>\nMIME-Version: 1.0\nContent-Type: text/plain\n\n\
         Our sponsor: http://outlook.4team.biz/ and the economic outlook at \
         https://www.outlooksecure.com/\n"
    );
    assert!(!names(&score(&m)).contains(&"BRAND_LOOKALIKE".to_string()));
    // Microsoft look-alikes are still caught by name.
    let m = m.replace(
        "http://outlook.4team.biz/",
        "http://microsoft-login.example/",
    );
    assert!(names(&score(&m)).contains(&"BRAND_LOOKALIKE".to_string()));
}
