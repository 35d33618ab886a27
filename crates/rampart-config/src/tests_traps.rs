//! The traps a new administrator falls into, each now an error or a warning with its line; the
//! checks' own settings validated like every other key; `config show`'s output.

use super::*;
use std::path::Path;

const HOST: &str = "hostname = \"mx.a.example\"\n";

fn parse(src: &str) -> Result<(Config, Vec<Warning>), ConfigErrors> {
    Config::parse_with_warnings(Path::new("/etc/rampart/rampart.toml"), src)
}

/// The errors, one line each.
fn errors(src: &str) -> Vec<String> {
    let err = parse(src).expect_err("the configuration is refused");
    let lines: Vec<String> = err.0.iter().map(|e| e.to_string()).collect();
    assert!(lines.iter().all(|l| !l.contains('\n')), "{lines:?}");
    assert_eq!(err.to_string().lines().count(), lines.len());
    lines
}

fn warnings(src: &str) -> Vec<String> {
    let (_, w) = parse(src).unwrap_or_else(|e| panic!("{e}"));
    w.iter().map(|w| w.to_string()).collect()
}

#[test]
fn nc_2_1_8_one_rate_limit_keeps_the_other_defaults() {
    let (c, _) = parse(&format!(
        "{HOST}[[rate_limit]]\nscope = \"user\"\nwhat = \"messages\"\nlimit = 2\nwindow_secs = 60\n"
    ))
    .unwrap();
    assert_eq!(
        c.rate_limits.len(),
        default_rate_limits().len(),
        "{:?}",
        c.rate_limits
    );
    let find = |scope, what| {
        c.rate_limits
            .iter()
            .find(|r| r.scope == scope && r.what == what)
            .map(|r| (r.limit, r.window_secs))
    };
    assert_eq!(find(RateScope::User, RateWhat::Messages), Some((2, 60)));
    assert_eq!(find(RateScope::Ip, RateWhat::Connections), Some((600, 60)));
    assert_eq!(
        find(RateScope::Global, RateWhat::Messages),
        Some((200_000, 3600))
    );
}

#[test]
fn nc_2_1_8_limit_zero_and_window_zero_are_refused() {
    let e = errors(&format!(
        "{HOST}[[rate_limit]]\nscope = \"ip\"\nwhat = \"messages\"\nlimit = 0\nwindow_secs = 0\n"
    ));
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(
        e[0].contains(":5: key `rate_limit[0].limit`: must be at least 1"),
        "{e:?}"
    );
    assert!(
        e[1].contains(":6: key `rate_limit[0].window_secs`"),
        "{e:?}"
    );
}

#[test]
fn nc_2_1_8_two_limits_on_the_same_thing_are_refused() {
    let one = "[[rate_limit]]\nscope = \"ip\"\nwhat = \"messages\"\nlimit = 5\nwindow_secs = 60\n";
    let e = errors(&format!("{HOST}{one}{one}"));
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].contains(":8: key `rate_limit[1].scope`"), "{e:?}");
}

#[test]
fn delivery_port_zero_is_refused() {
    let e = errors(&format!("{HOST}[delivery]\nport = 0\n"));
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].contains("rampart.toml:3: key `delivery.port`"),
        "{e:?}"
    );
}

#[test]
fn duplicate_disabled_name_is_refused() {
    let e = errors(&format!(
        "{HOST}[checks]\ndisabled = [\"spam\", \"dlp\", \"spam\"]\n"
    ));
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].contains(":3: key `checks.disabled[2]`") && e[0].contains("`spam` is listed twice"),
        "{e:?}"
    );
}

#[test]
fn hostname_missing_from_a_file_is_refused() {
    let e = errors("[limits]\nmax_errors = 5\n");
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].contains("key `hostname`: is not set"), "{e:?}");
    // The embedded demo keeps its example name.
    assert_eq!(
        Config::embedded_default().hostname.get_ref(),
        "mail.example.test"
    );
}

#[test]
fn a_check_switched_off_by_enabled_false_warns() {
    let w = warnings(&format!("{HOST}[checks.spam]\nenabled = false\n"));
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].starts_with(
            "configuration warning: /etc/rampart/rampart.toml:3: key `checks.spam.enabled`"
        ),
        "{w:?}"
    );
    let w = warnings(&format!("{HOST}[checks]\ndisabled = [\"urls\"]\n"));
    assert!(
        w.len() == 1 && w[0].contains("the urls check is switched off"),
        "{w:?}"
    );
    assert!(warnings(HOST).is_empty());
}

#[test]
fn nc_2_3_2_antivirus_fail_open_warns() {
    let w = warnings(&format!("{HOST}[checks.antivirus]\nfail_open = true\n"));
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].contains(":3: key `checks.antivirus.fail_open`") && w[0].contains("NC-2.3.2"),
        "{w:?}"
    );
}

#[test]
fn a_free_space_reserve_of_zero_warns() {
    let w = warnings(&format!("{HOST}[limits]\nmin_free_space = 0\n"));
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].contains(":3: key `limits.min_free_space`") && w[0].contains("nearly full"),
        "{w:?}"
    );
    assert!(warnings(&format!("{HOST}[limits]\nmin_free_space = 1048576\n")).is_empty());
}

#[test]
fn al_1_3_missing_url_feed_warns() {
    let w = warnings(&format!(
        "{HOST}[checks.urls]\nfeeds = [\"/nonexistent/feed.txt\"]\n"
    ));
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].contains(":3: key `checks.urls.feeds[0]`") && w[0].contains("/nonexistent/feed.txt"),
        "{w:?}"
    );
}

#[test]
fn al_1_5_bad_dlp_rules_are_reported_with_their_lines() {
    let e = errors(&format!(
        "{HOST}[[checks.dlp.patterns]]\nname = \"ids\"\npattern = \"EMP-(\\\\d\"\n\n\
         [[checks.dlp.dictionaries]]\nname = \"words\"\nkeywords = []\nthreshold = 0\n"
    ));
    assert_eq!(e.len(), 3, "{e:?}");
    assert!(
        e[0].contains(":4: key `checks.dlp.patterns[0].pattern`")
            && e[0].contains("not a valid regular expression"),
        "{e:?}"
    );
    assert!(
        e[1].contains(":8: key `checks.dlp.dictionaries[0].keywords`"),
        "{e:?}"
    );
    assert!(
        e[2].contains(":9: key `checks.dlp.dictionaries[0].threshold`"),
        "{e:?}"
    );
}

#[test]
fn al_2_4_bad_authentication_settings_are_reported_with_their_lines() {
    let e = errors(&format!(
        "{HOST}[checks.authentication]\nauthserv_id = \"not valid!\"\n\n\
         [checks.authentication.arc_seal]\ndomain = \"a.example\"\nselector = \"s1\"\n\
         key_file = \"/nonexistent/arc.key\"\n"
    ));
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(
        e[0].contains(":3: key `checks.authentication.authserv_id`"),
        "{e:?}"
    );
    assert!(
        e[1].contains(":8: key `checks.authentication.arc_seal.key_file`")
            && e[1].contains("/nonexistent/arc.key"),
        "{e:?}"
    );
}

#[test]
fn al_1_1_smarthost_tls_is_starttls_or_implicit() {
    let sh = "[delivery.smarthost]\nhost = \"relay.a.example\"\nport = 465\n";
    let (c, _) = parse(&format!("{HOST}{sh}tls = \"implicit\"\n")).unwrap();
    assert_eq!(c.delivery.smarthost.unwrap().tls, SmarthostTls::Implicit);
    let (c, _) = parse(&format!("{HOST}{sh}")).unwrap();
    assert_eq!(c.delivery.smarthost.unwrap().tls, SmarthostTls::Starttls);
    let e = errors(&format!("{HOST}{sh}tls = \"none\"\n"));
    assert!(
        e[0].contains(":5: key `delivery.smarthost.tls`") && e[0].contains("unknown variant"),
        "{e:?}"
    );
}

#[test]
fn every_bad_value_is_reported_together() {
    let e = errors(
        "[delivery]\nport = 0\n[checks]\ndisabled = [\"dlp\", \"dlp\"]\n[trace]\nretention_days = 7\n",
    );
    assert_eq!(e.len(), 4, "{e:?}");
}

#[test]
fn show_writes_every_default_and_reads_back_the_same() {
    let (c, _) = parse(&format!(
        "{HOST}[[listener]]\nrole = \"mx\"\naddress = \"127.0.0.1:25\"\n\
         [relay]\nnetworks = [\"10.0.0.0/8\", \"192.0.2.7\"]\n\
         [delivery.smarthost]\nhost = \"relay.a.example\"\nport = 587\n\
         username = \"u\"\npassword_file = \"/etc/rampart/pw\"\n"
    ))
    .unwrap();
    let shown = c.to_toml().unwrap();
    for written in [
        "hostname = \"mx.a.example\"",
        "max_recipients = 100",
        "networks = [\"10.0.0.0/8\", \"192.0.2.7/32\"]",
        "tls = \"starttls\"",
        "clamd = \"/run/clamav/clamd.ctl\"",
        "[[rate_limit]]",
    ] {
        assert!(shown.contains(written), "{written} missing from:\n{shown}");
    }
    let (again, _) = parse(&shown).unwrap_or_else(|e| panic!("{e}\n{shown}"));
    assert_eq!(again.to_toml().unwrap(), shown);
    // The embedded default is shown the same way.
    let demo = Config::embedded_default().to_toml().unwrap();
    assert!(demo.contains("address = \"127.0.0.1:2525\""), "{demo}");
}

/// AL-1.2: an allow rule on the sender's address that does not ask for authentication starts,
/// with a warning naming the file, the line and the rule; the bound form gives none.
#[test]
fn al_1_2_an_allow_rule_a_forged_from_earns_is_a_warning() {
    let dir = std::env::temp_dir().join(format!("rampart-allow-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("local.rules");
    let src = format!(
        "{HOST}[checks.spam]\nrule_files = [\"{}\"]\n",
        file.display()
    );
    std::fs::write(
        &file,
        "header PARTNER addr From =~ @partner\\.example$\nscore PARTNER -10\n",
    )
    .unwrap();
    let w = warnings(&src);
    let hit: Vec<&String> = w.iter().filter(|l| l.contains("rule PARTNER")).collect();
    assert_eq!(hit.len(), 1, "{w:?}");
    assert!(
        hit[0].contains("checks.spam.rule_files[0]")
            && hit[0].contains("local.rules:1")
            && hit[0].contains("from_authenticated"),
        "{hit:?}"
    );
    std::fs::write(
        &file,
        "header __PARTNER addr From =~ @partner\\.example$\ncheck __AUTH from_authenticated\n\
         meta PARTNER __PARTNER && __AUTH\nscore PARTNER -10\n",
    )
    .unwrap();
    let w = warnings(&src);
    assert!(w.iter().all(|l| !l.contains("rule PARTNER")), "{w:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// AL-1.2: Rspamd's addresses and the controller's password file are checked before start.
#[test]
fn al_1_2_rspamd_settings_that_cannot_work_are_refused() {
    let e = errors(&format!(
        "{HOST}[checks.spam.rspamd]\nurl = \"https://rspamd.a.example\"\n\
         controller_password_file = \"/nonexistent/rspamd.pass\"\n"
    ));
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(
        e[0].contains("key `checks.spam.rspamd.url`") && e[0].contains("only http://"),
        "{e:?}"
    );
    assert!(
        e[1].contains("key `checks.spam.rspamd.controller_password_file`")
            && e[1].contains("without `controller`"),
        "{e:?}"
    );
    let (c, _) = parse(&format!(
        "{HOST}[checks.spam.rspamd]\ncontroller = \"http://127.0.0.1:11334\"\n"
    ))
    .unwrap();
    let r = c.checks.spam.rspamd.unwrap();
    assert_eq!(r.controller.as_deref(), Some("http://127.0.0.1:11334"));
    assert_eq!(r.controller_password_file, None);
}
