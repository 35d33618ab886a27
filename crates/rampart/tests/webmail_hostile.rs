//! Hostile mail in the webmail, shown in a real browser (headless Chromium from Debian's
//! packages, driven by Selenium: tests/scripts/webmail_hostile.py) against a real `rampart serve`:
//! scripts, event handlers, `javascript:` and `data:` links, meta refresh, `<base>`, forms, CSS
//! `expression()` and `url()`, SVG with script, `<object>`/`<embed>`/`<iframe>`, a tracking
//! pixel and a page-covering style. No script runs and nothing is fetched from the listener the
//! test watches until "Show remote content" (AL-1.3, AL-1.4: hostile content; NC-2.1.3: the
//! frame's headers). A screenshot lands in `target/test-artefacts/webmail/`.

use crate::common;

use common::browser::*;
use common::jmap::*;

#[test]
fn al_1_3_hostile_mail_runs_nothing_and_loads_nothing_in_the_browser() {
    let s = start_jmap();
    let text = run_script(&s, "webmail_hostile.py", &[]);
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
