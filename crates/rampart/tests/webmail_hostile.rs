//! Hostile mail in the webmail, shown in a real browser (headless Chromium from Debian's
//! packages, driven by Selenium: tests/scripts/webmail_hostile.py) against a real `rampart serve`:
//! scripts, event handlers, `javascript:` and `data:` links, meta refresh, `<base>`, forms, CSS
//! `expression()` and `url()`, SVG with script, `<object>`/`<embed>`/`<iframe>`, a tracking
//! pixel and a page-covering style. No script runs and nothing is fetched from the listener the
//! test watches until "Show remote content" (AL-1.3, AL-1.4: hostile content; NC-2.1.3: the
//! frame's headers). A screenshot lands in `target/test-artefacts/webmail/`.

mod common;

use common::jmap::*;
use common::{BIN, PASSWORD};
use std::path::Path;
use std::process::Command;

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/scripts/webmail_hostile.py"
);

#[test]
fn al_1_3_hostile_mail_runs_nothing_and_loads_nothing_in_the_browser() {
    for p in ["/usr/bin/chromium", "/usr/bin/chromedriver"] {
        assert!(
            Path::new(p).exists(),
            "{p} is missing: the webmail's browser tests need chromium and chromium-driver; \
             run scripts/test.sh to install them"
        );
    }
    let s = start_jmap();
    let artefacts = Path::new(BIN)
        .parent()
        .and_then(Path::parent)
        .expect("the target directory")
        .join("test-artefacts")
        .join("webmail");
    let out = Command::new("python3")
        .arg(SCRIPT)
        .arg("--base")
        .arg(s.https_base())
        .arg("--cert")
        .arg(&s.pki.cert)
        .arg("--ca")
        .arg(s.ca_file())
        .arg("--password")
        .arg(PASSWORD)
        .arg("--artefacts")
        .arg(&artefacts)
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3 ({e}); run scripts/test.sh"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "webmail_hostile.py failed:\n{text}");
    for line in [
        "control: the hostile page runs outside the webmail",
        "safe: script",
        "safe: svg-script",
        "safe: form",
        "safe: overlay",
        "safe: mismatched-link",
        "remote content loads only when asked",
        "\nok",
    ] {
        assert!(text.contains(line), "no `{line}` in:\n{text}");
    }
}
