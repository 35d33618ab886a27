//! AL-1.2 content rules: each rule kind, the file format's errors, overrides, the default set.

use super::*;
use crate::testutil::{below, ctx, LOCAL};
use crate::Direction;
use mail_parser::MessageParser;

fn set(text: &str) -> RuleSet {
    RuleSet::from_sources(&[("test.rules".into(), text.into())]).unwrap()
}

fn errors(text: &str) -> Vec<RuleError> {
    RuleSet::from_sources(&[("test.rules".into(), text.into())]).unwrap_err()
}

/// The names of the rules of `set` that score on `raw`, with `code` as code rule hits.
fn fired_with(set: &RuleSet, raw: &str, code: &[&str]) -> Vec<String> {
    fired_signals(set, raw, code, &crate::spam::SpamSignals::default())
}

/// The same, with what other checks found.
fn fired_signals(
    set: &RuleSet,
    raw: &str,
    code: &[&str],
    signals: &crate::spam::SpamSignals<'_>,
) -> Vec<String> {
    let raw = raw.replace('\n', "\r\n");
    let parsed = MessageParser::default().parse(raw.as_bytes()).unwrap();
    let c = ctx(raw.as_bytes(), &parsed, Direction::Inbound);
    let facts = Facts::gather(&c, signals);
    set.evaluate(&facts, code)
        .into_iter()
        .map(|h| h.name)
        .collect()
}

fn fired(set: &RuleSet, raw: &str) -> Vec<String> {
    fired_with(set, raw, &[])
}

const PLAIN: &str = "From: Ann <ann@partner.example>\nTo: user@agency.example.gov\n\
    Subject: Minutes of Tuesday's meeting\nDate: Tue, 1 Jan 2030 10:00:00 +0000\n\
    Message-ID: <abc@partner.example>\n\nHello, the minutes are below.\n";

#[test]
fn al_1_2_header_rules() {
    let s = set("header H_SUBJ Subject =~ (?i)minutes\n\
         header H_NOT Subject !~ (?i)lottery\n\
         header H_EXISTS exists Message-ID\n\
         header H_ABSENT absent X-Mailer\n\
         header H_MISSING absent Date\n\
         header H_ALL ALL =~ (?m)^message-id: abc@\n\
         header H_NOPE From =~ evil\n");
    assert_eq!(
        fired(&s, PLAIN),
        ["H_SUBJ", "H_NOT", "H_EXISTS", "H_ABSENT", "H_ALL"]
    );
    // RFC 2047 is decoded before matching.
    let enc = PLAIN.replace(
        "Subject: Minutes of Tuesday's meeting",
        "Subject: =?utf-8?B?V0lOIFRIRSBMT1RURVJZ?=",
    );
    let s = set("header H_ENC Subject =~ LOTTERY\n");
    assert_eq!(fired(&s, &enc), ["H_ENC"]);
}

#[test]
fn al_1_2_addr_reading_sees_addresses_not_display_names() {
    let s = set("header A_PARTNER addr From =~ @partner\\.example$\n\
         header A_DISPLAY addr From =~ evil\n\
         header A_TEXT From =~ evil\n\
         header A_TO addr To =~ ^bob@agency\\.example\\.gov$\n\
         header A_NOT_TO addr To !~ @elsewhere\\.example$\n\
         header A_NO_CC addr Cc =~ .\n");
    // The display name claims another address; only the address itself is read, lower case.
    let raw = PLAIN
        .replace(
            "From: Ann <ann@partner.example>",
            "From: \"ann@evil.example\" <Ann@Partner.Example>",
        )
        .replace(
            "To: user@agency.example.gov",
            "To: user@agency.example.gov, Bob <BOB@agency.example.gov>",
        );
    assert_eq!(fired(&s, &raw), ["A_PARTNER", "A_TEXT", "A_TO", "A_NOT_TO"]);
    // The other way round: the partner's address in the display name does not count.
    let forged = PLAIN.replace(
        "From: Ann <ann@partner.example>",
        "From: \"ann@partner.example\" <ann@evil.example>",
    );
    assert_eq!(fired(&s, &forged), ["A_DISPLAY", "A_TEXT", "A_NOT_TO"]);
}

#[test]
fn al_1_2_addr_reading_is_for_address_fields_in_header_rules() {
    let e = errors("header A addr Subject =~ x\n");
    assert!(e[0].message.contains("address fields only"), "{e:?}");
    assert!(e[0].message.contains("`subject`"), "{e:?}");
    let e = errors("body B addr x\n");
    assert!(e[0].message.contains("`header` rule"), "{e:?}");
    let e = errors("header A addr ALL =~ x\n");
    assert!(e[0].message.contains("address fields only"), "{e:?}");
}

#[test]
fn al_1_2_from_authenticated_binds_an_allow_rule_to_the_sender() {
    let s = set("header __PARTNER addr From =~ @partner\\.example$\n\
         check __AUTHENTICATED from_authenticated\n\
         meta PARTNER_TRUSTED __PARTNER && __AUTHENTICATED\n\
         score PARTNER_TRUSTED -10\n");
    let authenticated = crate::spam::SpamSignals {
        from_authenticated: true,
        ..Default::default()
    };
    assert_eq!(
        fired_signals(&s, PLAIN, &[], &authenticated),
        ["PARTNER_TRUSTED"]
    );
    // The same From without authentication (forged, or the check did not run): nothing.
    assert!(fired(&s, PLAIN).is_empty());
    // Authenticated, but another sender.
    let other = PLAIN.replace("ann@partner.example", "ann@other.example");
    assert!(fired_signals(&s, &other, &[], &authenticated).is_empty());
    assert_eq!(s.get("PARTNER_TRUSTED").unwrap().score, -10.0);
}

#[test]
fn al_1_2_body_rules_read_normalised_and_deobfuscated_text() {
    let s = set("body B_PLAIN (?i)\\bviagra\\b\nbody B_DEOBF deobf \\bviagra\\b\nbody B_OBF obfuscated \\bviagra\\b\n");
    let msg = PLAIN.replace("Hello, the minutes are below.", "Buy V1AGRA now");
    assert_eq!(fired(&s, &msg), ["B_DEOBF", "B_OBF"]);
    let msg = PLAIN.replace("Hello, the minutes are below.", "Buy v.i.a.g.r.a now");
    assert_eq!(fired(&s, &msg), ["B_DEOBF", "B_OBF"]);
    // Spelt plainly, the word is not "obfuscated".
    let msg = PLAIN.replace("Hello, the minutes are below.", "Buy Viagra now");
    assert_eq!(fired(&s, &msg), ["B_PLAIN", "B_DEOBF"]);
    // A zero-width space inside the word is removed by the pipeline's normalisation.
    let msg = PLAIN.replace("Hello, the minutes are below.", "Buy via\u{200B}gra now");
    assert_eq!(fired(&s, &msg), ["B_PLAIN", "B_DEOBF"]);
    // HTML is read as shown: tags and entities do not split words.
    let html = format!(
        "{}MIME-Version: 1.0\nContent-Type: text/html\n\n<p>Buy <b>vi</b>&#97;gra</p>\n",
        PLAIN.split("\n\n").next().unwrap().to_string() + "\n"
    );
    assert_eq!(fired(&s, &html), ["B_PLAIN", "B_DEOBF"]);
}

#[test]
fn al_1_2_uri_and_raw_rules() {
    let s = set("uri U_IP ^https?://(\\d+\\.){3}\\d+/\n\
         uri U_OTHER example\\.org\n\
         raw R_HDR (?m)^X-Campaign-Id:\n");
    let msg = PLAIN.replace(
        "Hello, the minutes are below.",
        "See http://192.0.2.7/login now",
    );
    assert_eq!(fired(&s, &msg), ["U_IP"]);
    let msg = format!("X-Campaign-Id: 42\n{PLAIN}");
    assert_eq!(fired(&s, &msg), ["R_HDR"]);
}

#[test]
fn al_1_2_meta_rules_with_counts_and_negation() {
    let s = set(
        "body __A (?i)minutes\nbody __B (?i)hello\nbody __C (?i)lottery\n\
         meta M_TWO (__A + __B + __C) >= 2\n\
         meta M_THREE (__A + __B + __C) >= 3\n\
         meta M_NOT __A && !__C\n\
         meta M_CODE M_NOT && reply_to_mismatch\n",
    );
    assert_eq!(fired(&s, PLAIN), ["M_TWO", "M_NOT"]);
    // Meta rules read the spam check's code rules too.
    assert_eq!(
        fired_with(&s, PLAIN, &["reply_to_mismatch"]),
        ["M_TWO", "M_NOT", "M_CODE"]
    );
    // `__` rules never score, whatever their score line says.
    let s = set("body __A (?i)minutes\nscore __A 5\n");
    assert!(fired(&s, PLAIN).is_empty());
}

#[test]
fn al_1_2_check_rules() {
    let s = set(
        "check C_CAPS subject_caps >= 0.8\ncheck C_NODATE date_invalid\n\
         check C_EXT external_sender\n",
    );
    let msg = PLAIN.replace(
        "Minutes of Tuesday's meeting",
        "CHEAP V1AGRA LOTTERY WINNER",
    );
    assert_eq!(fired(&s, &msg), ["C_CAPS", "C_EXT"]);
    let own = PLAIN.replace("ann@partner.example", &format!("ann@{LOCAL}"));
    assert!(fired(&s, &own).is_empty());
    let bad_date = PLAIN.replace("Tue, 1 Jan 2030 10:00:00 +0000", "yesterday-ish");
    assert_eq!(fired(&s, &bad_date), ["C_NODATE", "C_EXT"]);
}

#[test]
fn al_1_2_parse_errors_name_file_line_and_rule() {
    let e = errors("# comment\n\nbody OK (?i)fine\nbody BAD_RE (unclosed\nscore GHOST 2\n");
    assert_eq!(e.len(), 2, "{e:?}");
    assert_eq!((e[0].line, e[0].rule.as_deref()), (4, Some("BAD_RE")));
    assert!(
        e[0].to_string()
            .starts_with("test.rules:4: rule BAD_RE: not a valid regular expression"),
        "{}",
        e[0]
    );
    assert_eq!((e[1].line, e[1].rule.as_deref()), (5, Some("GHOST")));

    for (text, needle) in [
        ("frobnicate X y\n", "unknown statement"),
        ("body 9LIVES x\n", "not a rule name"),
        ("body EMPTY\n", "regular expression is missing"),
        ("header H Subject ~ x\n", "expected `=~`"),
        ("check C nonsense\n", "unknown function"),
        ("check C body_caps >= many\n", "not a number"),
        ("meta M (A && \n", "ends too early"),
        ("meta M UNKNOWN_RULE\n", "not a rule"),
        ("meta A B\nmeta B A\n", "cycle"),
        ("body R x\nscore R lots\n", "not a number"),
        ("body html_form x\n", "built-in rule"),
    ] {
        let e = errors(text);
        assert!(
            e.iter().any(|e| e.message.contains(needle) && e.line >= 1),
            "{text:?}: {e:?}"
        );
    }
    // A pattern too large for the size bound is refused, not compiled.
    let huge = format!("body HUGE (?i){}\n", "\\w{1000}".repeat(20));
    assert!(errors(&huge)[0].message.contains("regular expression"));
}

#[test]
fn al_1_2_admin_rules_override_and_disable_defaults() {
    let dir = std::env::temp_dir().join(format!("rampart-rules-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("local.rules");
    std::fs::write(
        &file,
        "# ours\nscore SUBJ_LOTTERY 0\nbody LOCAL_PROJECT (?i)project nightingale\nscore LOCAL_PROJECT 7\n\
         header BODY_PHARMA Subject =~ (?i)minutes\n",
    )
    .unwrap();
    let s = RuleSet::load(std::slice::from_ref(&file)).unwrap();
    let defaults = builtin();
    assert_eq!(defaults.get("SUBJ_LOTTERY").unwrap().score, 1.5);
    assert_eq!(s.get("SUBJ_LOTTERY").unwrap().score, 0.0);
    assert_eq!(s.get("LOCAL_PROJECT").unwrap().score, 7.0);
    // Redefined by name: the admin's test, the default's score and description.
    let r = s.get("BODY_PHARMA").unwrap();
    assert!(r.origin.ends_with("local.rules:5"), "{}", r.origin);
    assert_eq!(r.score, defaults.get("BODY_PHARMA").unwrap().score);

    let msg = PLAIN
        .replace("Minutes of Tuesday's meeting", "LOTTERY results")
        .replace("Hello, the minutes are below.", "About Project Nightingale");
    let with_admin = fired(&s, &msg);
    assert!(
        with_admin.contains(&"LOCAL_PROJECT".to_string()),
        "{with_admin:?}"
    );
    assert!(
        !with_admin.contains(&"SUBJ_LOTTERY".to_string()),
        "{with_admin:?}"
    );
    assert!(fired(defaults, &msg).contains(&"SUBJ_LOTTERY".to_string()));

    // A missing file is an error naming it; config_problems gives its key.
    let gone = dir.join("gone.rules");
    let p = config_problems(&[file.clone(), gone.clone()]);
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].0, "rule_files.1");
    assert!(
        p[0].1.contains("gone.rules") && p[0].1.contains("cannot read"),
        "{p:?}"
    );
    std::fs::write(&gone, "body BROKEN (\n").unwrap();
    let p = config_problems(&[file, gone]);
    assert_eq!(p[0].0, "rule_files.1");
    assert!(p[0].1.contains("gone.rules:1: rule BROKEN"), "{p:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn al_1_2_default_rules_compile() {
    let s = RuleSet::from_sources(&[(DEFAULT_NAME.into(), DEFAULT_RULES.into())]);
    let s = s.unwrap_or_else(|e| panic!("{e:?}"));
    assert!(s.rules().len() > 50);
    assert!(s
        .rules()
        .iter()
        .filter(|r| !r.name.starts_with("__"))
        .all(|r| !r.description.is_empty()));
}

#[test]
fn al_1_2_documented_example_rule_file_loads() {
    // docs/CHECKS.md shows a local.rules; it must be a valid rule file on top of the defaults.
    let doc = include_str!("../../../../../docs/CHECKS.md");
    let start = doc
        .find("Example `local.rules`")
        .expect("the example in docs/CHECKS.md");
    let block = &doc[start..];
    let body = block.split("```text\n").nth(1).unwrap();
    let example = body.split("```").next().unwrap();
    let s = RuleSet::from_sources(&[
        (DEFAULT_NAME.into(), DEFAULT_RULES.into()),
        ("docs local.rules".into(), example.into()),
    ])
    .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(s.get("BULK_MAILER").unwrap().score, 0.0);
    assert_eq!(s.get("LOCAL_CODEWORD").unwrap().score, 6.0);
    assert!(s.get("GIFT_CARDS_EXT").is_some());
}

/// AL-1.2: meta rules may name the classifier (`bayes`) and Rspamd (`rspamd`); each matches
/// when its contribution to the score is above zero, and no rule file may define them.
#[test]
fn al_1_2_meta_rules_see_bayes_and_rspamd() {
    use crate::spam::{score_rules, RuleHit, Score, SpamSignals};
    let s = set("meta BOTH_ENGINES bayes && rspamd\nscore BOTH_ENGINES 2\n\
                 meta ENGINE_AND_FORM (bayes || rspamd) && html_form\nscore ENGINE_AND_FORM 1\n");
    let raw = PLAIN.replace('\n', "\r\n");
    let parsed = MessageParser::default().parse(raw.as_bytes()).unwrap();
    let c = ctx(raw.as_bytes(), &parsed, Direction::Inbound);
    let run = |code: &[(&'static str, f32)]| {
        let mut score = Score::default();
        for (rule, weight) in code {
            score.total += weight;
            score.rules.push(RuleHit {
                rule,
                weight: *weight,
                detail: String::new(),
            });
        }
        score_rules(&s, &SpamSignals::default(), &c, &mut score);
        let names: Vec<String> = score.content.iter().map(|h| h.name.clone()).collect();
        (names, score.total)
    };
    let (names, total) = run(&[("bayes", 6.0), ("rspamd", 3.0)]);
    assert_eq!(names, vec!["BOTH_ENGINES"]);
    assert_eq!(total, 11.0);
    // Rspamd's negative (ham) score is not a match.
    let (names, _) = run(&[("bayes", 6.0), ("rspamd", -1.0)]);
    assert!(names.is_empty(), "{names:?}");
    let (names, _) = run(&[("rspamd", 4.0), ("html_form", 3.0)]);
    assert_eq!(names, vec!["ENGINE_AND_FORM"]);
    let e = errors("body bayes (?i)viagra\n");
    assert!(e[0].message.contains("built-in rule"), "{e:?}");
}

/// Issue 23: a case-insensitive body rule is searched, where it can be, as the same expression
/// without `(?i)` in the lower-cased body; only expressions for which the two agree are.
#[test]
fn al_1_2_case_insensitive_rules_read_the_lower_case_body_only_where_alike() {
    for p in [
        r"(?i)\b(act now|buy now)\b",
        r"(?i)(?:abc|def)\s+\d{2,4}%",
        r"(?i)[a-z]+ [^a-z]",
    ] {
        assert!(parse::for_lower_case(p).is_some(), "{p}");
    }
    for p in [
        r"\bbuy now\b",     // case-sensitive already
        r"(?i)\bBuy now",   // a capital
        r"(?i)\D+",         // an escape in capitals
        r"(?i)\p{ll}",      // a Unicode class that names a case
        r"(?i)[[:upper:]]", // a POSIX class that names a case
        r"(?i)\x41",        // a character by number (A)
        r"(?i)\u{0041}",    // the same
        r"(?i)a(?-i:bc)",   // case-sensitivity turned back on
        r"(?i)café",        // not ASCII
    ] {
        assert!(parse::for_lower_case(p).is_none(), "{p}");
    }
    assert_eq!(lower_case("CHEAP Viagra"), "cheap viagra");
    assert_eq!(lower_case("ÉTÉ İstanbul ΣΟΦΙΑ"), "été İstanbul σοφια");

    // Every default body rule so read agrees with its case-insensitive form, on texts made of
    // its own words in every mix of cases, with digits, money and letters outside ASCII
    // between them (a fixed seed, so a failure repeats).
    let (mut rewritten, mut matched_some) = (0, 0);
    let mut next = below(0x2545_F491_4F6C_DD1D);
    for r in builtin().rules() {
        let Test::Body {
            re,
            lower: Some(lower),
            ..
        } = &r.test
        else {
            continue;
        };
        rewritten += 1;
        let mut words: Vec<String> = re
            .as_str()
            .split(|c: char| !c.is_ascii_alphanumeric() && c != '\'')
            .filter(|w| w.len() > 1)
            .map(str::to_string)
            .collect();
        words.extend(
            [
                "İ",
                "É",
                "ß",
                "Σ",
                "ǅ",
                "$",
                "€",
                "1,000,000",
                "48",
                "50%",
                "k",
                "s",
                "3 million dollars",
                "150% weekly returns",
            ]
            .map(String::from),
        );
        let seps = [" ", "  ", "\n", ", ", "-", "", ". "];
        let mut agreed = [0, 0];
        let own = words.len() - 14;
        for _ in 0..1000 {
            let mut text = String::new();
            for _ in 0..1 + next(8) {
                // Half the time two of the rule's words in the order it names them.
                let i = next(words.len());
                let w = if i < own - 1 && next(2) == 0 {
                    format!("{} {}", words[i], words[i + 1])
                } else {
                    words[i].clone()
                };
                for c in w.chars() {
                    if next(3) == 0 {
                        text.extend(c.to_uppercase());
                    } else {
                        text.push(c);
                    }
                }
                text.push_str(seps[next(seps.len())]);
            }
            let want = re.is_match(&text);
            assert_eq!(
                lower.is_match(&lower_case(&text)),
                want,
                "{} on {text:?}",
                r.name
            );
            agreed[usize::from(want)] += 1;
        }
        if agreed[1] > 0 {
            matched_some += 1;
        }
    }
    assert!(rewritten >= 10, "only {rewritten} default rules rewritten");
    // Most rules met texts they match, or the comparison would prove little.
    assert!(
        matched_some * 3 >= rewritten * 2,
        "only {matched_some} of {rewritten} rules matched any text"
    );
}

/// Issue 23: BODY_ADVANCE_FEE and BODY_GUARANTEED were one expression each, searched from every
/// digit of the body; split into building blocks joined by a meta rule, they match exactly
/// where the one expression did (random texts of their words, numbers and money).
#[test]
fn al_1_2_split_rules_match_as_the_one_expression_did() {
    let cases: [(&str, &str, &[&str]); 2] = [
        (
            "BODY_ADVANCE_FEE",
            r"(?i)\b(transfer of (the )?(sum|fund)s?|(\$|usd|us\$|€|eur|£)\s?\d{1,3}([,.]\d{3}){2,}|\d+(\.\d+)? million (us )?(dollars|usd|euros?|pounds))\b",
            &["__FEE_TRANSFER", "__FEE_AMOUNT", "__FEE_MILLIONS"],
        ),
        (
            "BODY_GUARANTEED",
            r"(?i)\b(guaranteed (income|profit|returns?)|risk[- ]free (investment|profit)|double your (money|bitcoin|investment)|\d{2,4}% (weekly|daily|monthly) (returns?|profit))\b",
            &["__GUARANTEED_WORDS", "__GUARANTEED_RATE"],
        ),
    ];
    let words = [
        "transfer",
        "of",
        "the",
        "sum",
        "sums",
        "fund",
        "funds",
        "$",
        "usd",
        "US$",
        "€",
        "eur",
        "£",
        "1,000,000",
        "12.500.000",
        "3",
        "4.5",
        "million",
        "us",
        "dollars",
        "USD",
        "euro",
        "pounds",
        "guaranteed",
        "income",
        "profit",
        "returns",
        "risk-free",
        "risk free",
        "investment",
        "double",
        "your",
        "money",
        "bitcoin",
        "150%",
        "20%",
        "weekly",
        "daily",
        "monthly",
        "return",
        "x1",
        "é",
        "transfer of the funds",
        "US$ 1,000,000",
        "3 million dollars",
        "guaranteed income",
        "150% weekly returns",
    ];
    let seps = [" ", "", "\n", ", ", "-"];
    let mut next = below(0x9E37_79B9_7F4A_7C15);
    for (name, one, parts) in cases {
        let one = regex::Regex::new(one).unwrap();
        let parts: Vec<&regex::Regex> = parts
            .iter()
            .map(|p| match &builtin().get(p).unwrap().test {
                Test::Body { re, .. } => re,
                other => panic!("{p} is not a body rule: {other:?}"),
            })
            .collect();
        assert!(matches!(builtin().get(name).unwrap().test, Test::Meta(_)));
        let mut hits = 0;
        for _ in 0..3000 {
            let mut text = String::new();
            for _ in 0..1 + next(6) {
                let w = words[next(words.len())];
                if next(4) == 0 {
                    text.push_str(&w.to_uppercase());
                } else {
                    text.push_str(w);
                }
                text.push_str(seps[next(seps.len())]);
            }
            let want = one.is_match(&text);
            assert_eq!(
                parts.iter().any(|p| p.is_match(&text)),
                want,
                "{name} on {text:?}"
            );
            hits += usize::from(want);
        }
        assert!(hits > 30, "{name}: only {hits} texts matched");
    }
    // And through the rule set: the meta rule scores as the body rule did.
    let raw = "From: a@sender.example\nTo: user@example.test\nSubject: hi\n\nWe will transfer US$ 10,500,000 to you.\n";
    assert!(fired(builtin(), raw).contains(&"BODY_ADVANCE_FEE".to_string()));
    let raw =
        "From: a@sender.example\nTo: user@example.test\nSubject: hi\n\nEarn 150% weekly returns.\n";
    assert!(fired(builtin(), raw).contains(&"BODY_GUARANTEED".to_string()));
}

#[test]
fn al_1_2_an_allow_rule_on_the_sender_without_authentication_is_found() {
    let s = set("header FORGEABLE addr From =~ @partner\\.example$\n\
         score FORGEABLE -5\n\
         header __REPLY Reply-To =~ partner\n\
         meta FORGEABLE_META __REPLY && !auth_failed\n\
         score FORGEABLE_META -3\n\
         header __PARTNER addr From =~ @partner\\.example$\n\
         check __AUTH from_authenticated\n\
         meta BOUND __PARTNER && __AUTH\n\
         score BOUND -10\n\
         header BLOCK addr From =~ @spam\\.example$\n\
         score BLOCK 20\n\
         body KIND_WORDS (?i)minutes of the meeting\n\
         score KIND_WORDS -1\n");
    let found: Vec<&str> = s
        .unauthenticated_allows()
        .iter()
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(found, ["FORGEABLE", "FORGEABLE_META"]);
    // The default set's one negative rule reads no sender field (its safeguards: CHECKS.md).
    assert!(builtin().unauthenticated_allows().is_empty());
}
