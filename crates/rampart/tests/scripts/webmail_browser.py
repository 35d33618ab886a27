"""The webmail in a real browser (AL-4.1), driven by crates/rampart/tests/webmail_browser.rs.

usage: webmail_browser.py TEST --base https://mail.example.test:PORT --cert SERVER_CERT.pem
       --ca CA.pem --artefacts DIR [--mx-port N] [--password P]

TEST is one of: flow, narrow, keyboard, error, trusted. Each step asserts what the user sees; the script
exits non-zero (with the failing step) if any does not hold.
"""

import argparse
import email.utils
import os
import re
import smtplib
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import browser  # noqa: E402

ALICE = "alice@example.test"


def step(name):
    print("step:", name, flush=True)


def rows(b):
    """The message list as (subject, unread, element id, text) tuples, read in one script so
    that a redraw by push cannot leave half of it stale."""
    return [tuple(r) for r in b.driver.execute_script(
        "return Array.from(document.querySelectorAll('#message-list .row')).map(r => ["
        "r.querySelector('.subject').textContent, r.classList.contains('unread'), r.id,"
        "r.innerText])")]


def row(b, subject, what=None):
    return b.wait(lambda: next((r for r in rows(b) if r[0] == subject), None),
                  what or "a row with subject %r" % subject)


def click_row(b, subject):
    from selenium.webdriver.common.by import By

    def go():
        r = next((r for r in rows(b) if r[0] == subject), None)
        return r and (b.driver.find_element(By.ID, r[2]).click() or True)
    b.wait(go, "to open the row %r" % subject)


def open_mailbox(b, role):
    b.click('button.mailbox[data-role="%s"]' % role)
    b.wait(lambda: b.driver.execute_script(
        "return document.activeElement && document.activeElement.id === 'list-heading'"),
        "the %s list to load" % role)


def curl_status(args, url, cookie):
    out = subprocess.run(
        ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", args.ca,
         "--resolve", "%s:%s:127.0.0.1" % (browser.HOST, url.rsplit(":", 1)[1].split("/")[0]),
         "-H", "Cookie: __Host-rampart-session=" + cookie, url],
        capture_output=True, text=True, check=True)
    return int(out.stdout)


def no_sideways_scroll(b, where):
    w = b.driver.execute_script(
        "return [document.documentElement.scrollWidth, window.innerWidth]")
    assert w[0] <= w[1], "%s scrolls sideways: scrollWidth %d > innerWidth %d" % (where, w[0], w[1])


def test_flow(args):
    with browser.Browser(args.cert) as b:
        d = b.driver
        step("sign in")
        b.sign_in(args.base, ALICE, args.password)
        assert b.text_of("#list-heading") == "Inbox", b.text_of("#list-heading")

        step("the message sent over SMTP is in the Inbox, unread")
        subject, unread, _, text = row(b, "Lunch plans")
        assert unread, "the new message is not shown unread"
        assert "unread" in text, "no visible 'unread' text on the row: %r" % text
        assert "bob" in text.lower(), text
        inbox = b.one('button.mailbox[data-role="inbox"]')
        assert "unread" in inbox.get_attribute("aria-label"), inbox.get_attribute("aria-label")
        b.screenshot(args.artefacts, "inbox.png")

        step("open it: the text is shown and it is marked read")
        click_row(b, "Lunch plans")
        b.wait(lambda: "Shall we meet at noon" in b.text_of("#thread pre.body"), "the message text")
        assert b.active_id() == "reader-heading", "focus is on %r" % b.active_id()
        assert b.text_of("#reader-heading") == "Lunch plans"
        headers = b.text_of("#thread .headers")
        assert "bob@example.test" in headers and "alice@example.test" in headers, headers
        b.wait(lambda: not row(b, "Lunch plans")[1], "the opened message to be shown read")
        b.screenshot(args.artefacts, "message.png")

        step("reply with an attachment")
        b.click("#act-reply")
        b.wait(lambda: b.visible("#compose"), "the composer")
        assert "bob@example.test" in b.one("#c-to").get_attribute("value")
        assert b.one("#c-subject").get_attribute("value") == "Re: Lunch plans"
        b.one("#c-body").send_keys("Noon is fine, agenda attached.")
        attachment = os.path.join(tempfile.mkdtemp(prefix="rampart-wm-"), "agenda.txt")
        with open(attachment, "w") as f:
            f.write("1. soup\n2. bread\n")
        b.one("#c-files").send_keys(attachment)
        b.wait(lambda: "agenda.txt" in b.text_of("#c-attachments"), "the attachment to upload")
        b.click("#c-send")
        b.wait(lambda: b.text_of("#status") == "Message sent." or b.text_of("#alert"),
               "the message to be sent")
        assert b.text_of("#alert") == "", "alert after sending: " + b.text_of("#alert")

        step("the reply is in Sent")
        open_mailbox(b, "sent")
        row(b, "Re: Lunch plans", "the reply in Sent")
        click_row(b, "Re: Lunch plans")
        b.wait(lambda: "agenda.txt" in b.text_of("#thread .attachments"), "the attachment in Sent")
        link = b.css("#thread .attachments a")[0]
        assert "accept=application%2Foctet-stream" in link.get_attribute("href"), link.get_attribute("href")

        step("move a message to Trash")
        open_mailbox(b, "inbox")
        click_row(b, "Lunch plans")
        b.wait(lambda: b.text_of("#reader-heading") == "Lunch plans", "the message to open")
        b.click("#act-delete")
        b.wait(lambda: not any(s == "Lunch plans" for s, _, _, _ in rows(b)), "the message to leave the Inbox")
        open_mailbox(b, "trash")
        row(b, "Lunch plans", "the message in Trash")

        step("search finds a message by a word of its body")
        open_mailbox(b, "inbox")
        s = b.one("#search")
        s.send_keys("zucchini")
        b.click("#search-go")
        b.wait(lambda: b.text_of("#list-heading") == "Search: zucchini", "the search results")
        found = b.wait(lambda: [x[0] for x in rows(b)] or None, "search results")
        assert found == ["Budget figures"], found

        step("new mail appears without a reload")
        open_mailbox(b, "inbox")
        d.execute_script("window.rampartNoReload = 1")
        with smtplib.SMTP("127.0.0.1", args.mx_port, timeout=20) as smtp:
            smtp.sendmail("news@remote.test", [ALICE],
                          "From: <news@remote.test>\r\nTo: <%s>\r\nSubject: Pushed news\r\n"
                          "Message-ID: <push-1@remote.test>\r\n\r\nArrived while you looked.\r\n" % ALICE)
        # Mail from outside is tagged in its subject ("[External] ...") by the gateway.
        b.wait(lambda: any(x[0].endswith("Pushed news") for x in rows(b)),
               "the new message to appear by push")
        assert d.execute_script("return window.rampartNoReload") == 1, "the page was reloaded"

        step("sign out; the old cookie no longer works")
        cookie = b.cookie("__Host-rampart-session")
        assert cookie, "no session cookie"
        assert curl_status(args, args.base + "/jmap/session", cookie) == 200
        b.click("#sign-out")
        b.one("#username", "the sign-in page after signing out")
        assert curl_status(args, args.base + "/jmap/session", cookie) == 401


def test_narrow(args):
    with browser.Browser(args.cert, 375, 800) as b:
        d = b.driver
        # The viewport of a phone, whatever the smallest window the platform allows.
        d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                          {"width": 375, "height": 800, "deviceScaleFactor": 1, "mobile": True})
        step("sign in on a narrow screen")
        b.sign_in(args.base, ALICE, args.password)
        assert d.execute_script("return window.innerWidth") <= 600
        row_id = row(b, "Lunch plans")[2]
        no_sideways_scroll(b, "the list")
        assert b.visible("#mailboxes") and b.visible("#list-pane"), "the list is not shown"
        b.screenshot(args.artefacts, "narrow-list.png")

        step("open a message: the reader alone, with a Back button")
        click_row(b, "Lunch plans")
        b.wait(lambda: "Shall we meet at noon" in b.text_of("#thread pre.body"), "the message text")
        assert not b.visible("#list-pane"), "the list is still shown beside the reader"
        no_sideways_scroll(b, "the reader")
        b.screenshot(args.artefacts, "narrow-message.png")
        b.click("#reader-back")
        b.wait(lambda: b.visible("#list-pane") and b.active_id() == row_id,
               "the list again, focus on the row")
        no_sideways_scroll(b, "the list after Back")

        step("flag, junk and not junk from the phone")
        click_row(b, "Budget figures")
        b.wait(lambda: b.text_of("#reader-heading") == "Budget figures", "the message to open")
        b.click("#act-flag")
        b.wait(lambda: b.one("#act-flag").text == "Unflag", "the message to be flagged")
        b.click("#reader-back")
        b.wait(lambda: "flagged" in row(b, "Budget figures")[3], "the flagged mark in the list")
        click_row(b, "Budget figures")
        b.click("#act-junk")
        b.wait(lambda: not any(x[0] == "Budget figures" for x in rows(b)), "the message to leave the Inbox")
        open_mailbox(b, "junk")
        click_row(b, "Budget figures")
        b.wait(lambda: b.one("#act-junk").text == "Not junk", "the Not junk button in Junk")
        b.click("#act-junk")
        open_mailbox(b, "inbox")
        row(b, "Budget figures", "the message back in the Inbox")

        step("compose fits too")
        b.click("#compose-new")
        b.one("#c-to")
        no_sideways_scroll(b, "the composer")
        b.click("#c-close")

        step("vacation reply: on, with subject and text")
        b.click("#vacation-open")
        b.one("#v-subject").send_keys("Away")
        b.one("#v-text").send_keys("Back on Monday.")
        b.one("#v-on").click()
        no_sideways_scroll(b, "the vacation form")
        b.click("#v-save")
        b.wait(lambda: b.text_of("#status") == "Vacation reply is on.", "the vacation reply to be saved")


# WCAG 2 contrast of every visible piece of text against the background it is drawn on (the
# first ancestor with an opaque background), and the controls without an accessible name.
AUDIT_JS = """
function lum(c) {
  const m = c.match(/rgba?\\(([^)]+)\\)/); if (!m) return null;
  const p = m[1].split(',').map(parseFloat);
  if (p.length > 3 && p[3] < 1) return null;
  const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
  return 0.2126 * f(p[0]) + 0.7152 * f(p[1]) + 0.0722 * f(p[2]);
}
function bg(e) {
  for (; e; e = e.parentElement) {
    const c = getComputedStyle(e).backgroundColor;
    if (lum(c) !== null) return c;
  }
  return 'rgb(255, 255, 255)';
}
const low = [], unnamed = [];
for (const e of document.querySelectorAll('body *')) {
  const r = e.getBoundingClientRect();
  if (!r.width || !r.height || getComputedStyle(e).visibility === 'hidden') continue;
  const own = Array.from(e.childNodes).some((n) => n.nodeType === 3 && n.textContent.trim());
  if (own) {
    const s = getComputedStyle(e), fg = lum(s.color), b = lum(bg(e));
    if (fg !== null && b !== null) {
      const ratio = (Math.max(fg, b) + 0.05) / (Math.min(fg, b) + 0.05);
      const large = parseFloat(s.fontSize) >= 24 || (parseFloat(s.fontSize) >= 18.66 && parseInt(s.fontWeight, 10) >= 700);
      if (ratio < (large ? 3 : 4.5)) low.push((e.id || e.className || e.tagName) + ': ' + ratio.toFixed(2) + ' "' + e.textContent.trim().slice(0, 30) + '"');
    }
  }
  if (e.matches('button, a[href], input:not([type=hidden]), select, textarea')) {
    const labelled = (e.labels && e.labels.length) || e.getAttribute('aria-label') ||
      e.getAttribute('aria-labelledby') || e.getAttribute('title') || e.textContent.trim() ||
      (e.type === 'submit' && e.value);
    if (!labelled) unnamed.push(e.outerHTML.slice(0, 80));
  }
}
return [low, unnamed];
"""


def accessible(b, where):
    """Fails on text under 4.5:1 contrast (3:1 when large) or a control with no name."""
    low, unnamed = b.driver.execute_script(AUDIT_JS)
    assert not low, "%s: text below WCAG AA contrast: %s" % (where, low)
    assert not unnamed, "%s: controls without a name: %s" % (where, unnamed)


def test_keyboard(args):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    with browser.Browser(args.cert) as b:
        d = b.driver

        def press(*keys):
            ActionChains(d).send_keys(*keys).perform()

        step("Tab on the sign-in page: address, password, sign-in")
        d.get(args.base + "/")
        b.one("#username")
        assert b.active_id() == "username", "the address field is not focused at first"
        # Start from the top of the page: a click on the heading before the form.
        b.one("h1").click()
        order = []
        for _ in range(3):
            press(Keys.TAB)
            order.append(b.active_id())
        assert order == ["username", "password", "sign-in"], order
        accessible(b, "the sign-in page")
        d.execute_script("document.getElementById('username').focus()")
        press(ALICE, Keys.TAB, args.password, Keys.TAB, Keys.ENTER)
        b.wait(lambda: d.execute_script("return document.body.dataset.ready === '1'"), "the webmail")
        row(b, "Lunch plans")
        accessible(b, "the inbox")

        step("Tab reaches the mailbox list, then the message list")
        b.one("h1.brand").click()
        seen = []
        for _ in range(40):
            press(Keys.TAB)
            seen.append(d.execute_script(
                "const e = document.activeElement;"
                "return e.classList.contains('mailbox') ? 'mailbox' :"
                " e.classList.contains('row') ? 'row' : e.id"))
            if seen[-1] == "row":
                break
        assert "mailbox" in seen and seen[-1] == "row", seen
        assert seen.index("mailbox") < seen.index("row"), seen
        # The focus ring is visible.
        outline = d.execute_script("return getComputedStyle(document.activeElement).outlineStyle")
        assert outline not in ("none", ""), "no visible focus ring: " + outline

        step("Enter opens the message; Escape goes back to its row")
        focused = d.switch_to.active_element
        row_id = focused.get_attribute("id")
        press(Keys.ENTER)
        b.wait(lambda: b.active_id() == "reader-heading", "focus on the opened message's heading")
        assert b.text_of("#reader-heading") == "Lunch plans"
        accessible(b, "an open message")
        press(Keys.ESCAPE)
        b.wait(lambda: b.active_id() == row_id, "focus back on the row")

        step("j and k move between the rows")
        ids = [x[2] for x in rows(b)]
        assert len(ids) == 2 and ids[0] == row_id, ids
        press("j")
        assert b.active_id() == ids[1], b.active_id()
        press("k")
        assert b.active_id() == ids[0], b.active_id()

        step("shortcuts: / search, c compose, not while typing")
        press("/")
        assert b.active_id() == "search", b.active_id()
        press("c")
        assert b.active_id() == "search" and b.one("#search").get_attribute("value") == "c"
        b.one("#search").clear()
        d.execute_script("document.activeElement.blur()")
        press("c")
        b.wait(lambda: b.active_id() == "c-to", "the composer from the c shortcut")
        accessible(b, "the composer")


def test_error(args):
    with browser.Browser(args.cert) as b:
        step("sign in")
        b.sign_in(args.base, ALICE, args.password)
        step("a message over the size limit is refused in plain words")
        b.click("#compose-new")
        b.one("#c-to").send_keys("bob@example.test")
        b.one("#c-subject").send_keys("Too big")
        b.one("#c-body").send_keys("See the file.")
        big = os.path.join(tempfile.mkdtemp(prefix="rampart-wm-"), "big.bin")
        with open(big, "wb") as f:
            f.write(os.urandom(args.big))
        b.one("#c-files").send_keys(big)
        b.wait(lambda: "big.bin" in b.text_of("#c-attachments"), "the attachment to upload")
        assert b.text_of("#alert") == "", b.text_of("#alert")
        b.click("#c-send")
        alert = b.wait(lambda: b.text_of("#alert"), "an error in the alert region")
        assert "too large" in alert.lower(), alert
        a = b.css("#alert")[0]
        assert a.get_attribute("role") == "alert" and a.is_displayed(), "the alert is not visible"
        print("alert shown:", alert, flush=True)
        assert b.visible("#compose"), "the composer was closed"
        b.driver.execute_script("window.scrollTo(0, 0)")
        b.screenshot(args.artefacts, "error.png")

        assert "invalid" not in alert.lower(), "a consequence reported as an error: " + alert

        step("without the file the draft is saved, once")
        b.click('#c-attachments button[aria-label="Remove attachment big.bin"]')
        b.click("#c-save")
        b.wait(lambda: b.text_of("#status") == "Draft saved.", "the draft to be saved")
        b.one("#c-body").send_keys(" Changed.")
        b.click("#c-close")
        open_mailbox(b, "drafts")
        row(b, "Too big", "the draft in Drafts")
        drafts = [x[0] for x in rows(b)]
        assert drafts == ["Too big"], "one draft, not one per attempt: %r" % drafts

        step("a session that ended (401) sends the page back to sign-in")
        # Ended on the server (as by the idle timeout): signed out from elsewhere with curl.
        cookie = b.cookie("__Host-rampart-session")
        csrf = b.driver.execute_script(
            "return document.querySelector('meta[name=rampart-csrf]').content")
        port = args.base.rsplit(":", 1)[1]
        out = subprocess.run(
            ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", args.ca,
             "--resolve", "%s:%s:127.0.0.1" % (browser.HOST, port),
             "-H", "Cookie: __Host-rampart-session=" + cookie, "-H", "Origin: " + args.base,
             "--data", "csrf=" + csrf, args.base + "/logout"],
            capture_output=True, text=True, check=True).stdout
        assert out == "303", "sign-out from curl: " + out

        # The next request the page makes meets the 401: a click on the Inbox, or a fetch of its
        # own that a push arriving after the sign-out started (then the sign-in page is there
        # before the click). Either way the page must end on the sign-in form.
        def back_to_sign_in():
            if b.visible("#username"):
                return True
            for inbox in b.visible('button.mailbox[data-role="inbox"]')[:1]:
                inbox.click()
            return bool(b.visible("#username"))

        b.wait(back_to_sign_in, "the sign-in page after the session ended")


def test_trusted(args):
    """AL-1.2: the user's trusted senders: listed, one removed, a bad one refused, one added."""
    with browser.Browser(args.cert) as b:
        step("sign in")
        b.sign_in(args.base, ALICE, args.password)
        step("the trusted senders are listed")
        b.click("#trusted-open")
        b.wait(lambda: b.active_id() == "trusted-heading", "focus on the trusted senders")

        def listed():
            return b.driver.execute_script(
                "return Array.from(document.querySelectorAll('#trusted-list .trusted-email'))"
                ".map(e => e.textContent)")
        got = b.wait(lambda: listed() or None, "the list of trusted senders")
        assert sorted(got) == ["news@news.test", "partner@partner.test"], got
        assert not b.visible("#trusted-none"), "'no sender' shown beside a list"
        since = b.text_of("#trusted-list .trusted-since")
        assert "since" in since and any(c.isdigit() for c in since), repr(since)
        b.screenshot(args.artefacts, "trusted.png")
        step("one removed")
        b.click('#trusted-list button[aria-label="Stop trusting news@news.test"]')
        b.wait(lambda: listed() == ["partner@partner.test"] or None,
               "the list without it (alert: %r, status: %r)" % (b.text_of("#alert"), b.text_of("#status")))
        assert b.text_of("#status") == "You no longer trust news@news.test.", b.text_of("#status")
        assert b.text_of("#alert") == "", b.text_of("#alert")
        b.screenshot(args.artefacts, "trusted-removed.png")
        step("a word that is not an address is refused in plain words")
        b.one("#t-email").send_keys("not an address")
        b.click("#t-add")
        b.wait(lambda: "is not an address that can be trusted" in b.text_of("#alert") or None,
               "the refusal (alert: %r)" % b.text_of("#alert"))
        assert listed() == ["partner@partner.test"], listed()
        b.screenshot(args.artefacts, "trusted-refused.png")
        step("one added by hand")
        b.one("#t-email").clear()
        b.one("#t-email").send_keys(" Alerts@Bank.Example ")
        b.click("#t-add")
        b.wait(lambda: sorted(listed()) == ["alerts@bank.example", "partner@partner.test"] or None,
               "the list with it (alert: %r, status: %r)" % (b.text_of("#alert"), b.text_of("#status")))
        assert b.text_of("#status") == "You now trust alerts@bank.example.", b.text_of("#status")
        assert b.text_of("#alert") == "", b.text_of("#alert")
        assert b.one("#t-email").get_attribute("value") == "", "the field kept its text"
        b.screenshot(args.artefacts, "trusted-added.png")
        step("closed")
        b.click("#t-close")
        assert not b.visible("#trusted"), "the panel stayed open"


def test_junkwhy(args):
    """AL-1.2: a tagged message is in Junk and the reader says why; one moved there by hand not."""
    with smtplib.SMTP("127.0.0.1", args.mx_port, timeout=20) as smtp:
        smtp.sendmail("offers@remote.test", [ALICE],
                      "From: Offers <offers@remote.test>\r\nTo: <%s>\r\nSubject: Watches\r\n"
                      "Date: %s\r\nMessage-ID: <watches-1@remote.test>\r\n"
                      "X-Spam-Flag: NO\r\nX-Spam-Score: -50\r\n\r\n"
                      "Cheap replica watches, this week only.\r\n"
                      % (ALICE, email.utils.formatdate(usegmt=True)))
    with browser.Browser(args.cert) as b:
        step("sign in")
        b.sign_in(args.base, ALICE, args.password)
        step("the tagged message is in Junk, not in the Inbox")
        row(b, "Budget figures")
        assert not any(x[0].endswith("Watches") for x in rows(b)), rows(b)
        open_mailbox(b, "junk")
        b.wait(lambda: any(x[0].endswith("Watches") for x in rows(b)) or None, "the message in Junk")
        title = next(x[0] for x in rows(b) if x[0].endswith("Watches"))
        click_row(b, title)
        b.wait(lambda: "Cheap replica watches" in b.text_of("#thread pre.body"), "the message text")
        note = b.wait(lambda: b.text_of("#thread .spam-note") or None, "the note saying why")
        m = re.match(r"Why this is in Junk: the server's spam check scored it (-?[0-9]+\.[0-9]+) "
                     r"and tagged it as spam\. If you wanted it, choose Not junk: the filter "
                     r"learns from that\.$", note)
        assert m, repr(note)
        # The sender's own "X-Spam-Score: -50" went; the score is the server's, over the tag line.
        assert float(m.group(1)) >= 5, note
        b.screenshot(args.artefacts, "junk-why.png")
        step("a message filed in Junk by hand says nothing of the spam check")
        open_mailbox(b, "inbox")
        click_row(b, "Budget figures")
        b.wait(lambda: b.text_of("#reader-heading") == "Budget figures", "the message to open")
        assert not b.visible("#thread .spam-note"), b.text_of("#thread .spam-note")
        b.click("#act-junk")
        b.wait(lambda: not any(x[0] == "Budget figures" for x in rows(b)), "the message to leave the Inbox")
        open_mailbox(b, "junk")
        click_row(b, "Budget figures")
        b.wait(lambda: b.one("#act-junk").text == "Not junk", "the Not junk button in Junk")
        assert not b.visible("#thread .spam-note"), b.text_of("#thread .spam-note")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("test", choices=["flow", "narrow", "keyboard", "error", "trusted", "junkwhy"])
    p.add_argument("--base", required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--ca", required=True)
    p.add_argument("--artefacts", required=True)
    p.add_argument("--mx-port", type=int, default=0)
    p.add_argument("--password", default="correct horse battery staple")
    p.add_argument("--big", type=int, default=0)
    args = p.parse_args()
    browser.require()
    os.makedirs(args.artefacts, exist_ok=True)
    {"flow": test_flow, "narrow": test_narrow, "keyboard": test_keyboard, "error": test_error,
     "trusted": test_trusted, "junkwhy": test_junkwhy}[args.test](args)
    print("ok", flush=True)


if __name__ == "__main__":
    main()
