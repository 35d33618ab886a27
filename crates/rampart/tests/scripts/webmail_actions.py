"""The webmail's actions in a real browser (AL-4.1), driven by crates/rampart/tests/webmail_actions.rs.

usage: webmail_actions.py TEST --base https://mail.example.test:PORT --cert SERVER_CERT.pem
       --ca CA.pem --artefacts DIR --expected FILE [--password P]

TEST is one of: reply-all, paging, drafts, refusals. Each step asserts what the user sees; the
script exits non-zero (with the failing step) if any does not hold. The Rust side then checks the
server's state through JMAP.
"""

import argparse
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import browser  # noqa: E402
from webmail_browser import click_row, open_mailbox, row, rows, step  # noqa: E402

ALICE = "alice@example.test"
BOB = "bob@example.test"


def value(b, selector):
    return b.one(selector).get_attribute("value")


def sent_ok(b):
    """Waits for the outcome of Send and fails with the alert if it was refused."""
    b.wait(lambda: b.text_of("#status") == "Message sent." or b.text_of("#alert"),
           "the message to be sent (status: %r)" % b.text_of("#status"), timeout=60)
    assert b.text_of("#alert") == "", "alert after sending: " + b.text_of("#alert")


def refused(b):
    """Waits for a refusal in the alert region; returns its text."""
    alert = b.wait(lambda: b.text_of("#alert"),
                   "an error in the alert region (status: %r)" % b.text_of("#status"), timeout=60)
    a = b.css("#alert")[0]
    assert a.get_attribute("role") == "alert" and a.is_displayed(), "the alert is not visible"
    assert b.visible("#compose"), "the composer was closed"
    print("alert shown:", alert, flush=True)
    return alert


def fetch(args, url, cookie):
    """GET with the page's session cookie (curl, not the browser's download UI): status,
    headers (lower-case names), body."""
    port = args.base.rsplit(":", 1)[1]
    with tempfile.TemporaryDirectory(prefix="rampart-wm-") as tmp:
        body, head = os.path.join(tmp, "body"), os.path.join(tmp, "head")
        subprocess.run(
            ["curl", "-sS", "--cacert", args.ca, "--resolve", "%s:%s:127.0.0.1" % (browser.HOST, port),
             "-H", "Cookie: __Host-rampart-session=" + cookie, "-D", head, "-o", body, url],
            check=True)
        with open(head, "rb") as f:
            lines = f.read().decode("latin-1").split("\r\n")
        with open(body, "rb") as f:
            data = f.read()
    code = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    return code, headers, data


def jmap(args, b, calls):
    """JMAP method calls with the page's cookie and CSRF token, as another client of the same
    account would make them (curl); the accountId filled in. Returns methodResponses."""
    import json

    port = args.base.rsplit(":", 1)[1]
    cookie = b.cookie("__Host-rampart-session")
    csrf = b.driver.execute_script("return document.querySelector('meta[name=rampart-csrf]').content")
    base = ["curl", "-sS", "--cacert", args.ca, "--resolve", "%s:%s:127.0.0.1" % (browser.HOST, port),
            "-H", "Cookie: __Host-rampart-session=" + cookie, "-H", "X-Rampart-CSRF: " + csrf,
            "-H", "Origin: " + args.base]
    session = json.loads(subprocess.run(base + [args.base + "/jmap/session"], check=True,
                                        capture_output=True).stdout)
    acc = session["primaryAccounts"]["urn:ietf:params:jmap:mail"]
    calls = [[n, dict(a, accountId=acc), i] for n, a, i in calls]
    body = json.dumps({"using": ["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail"],
                       "methodCalls": calls})
    out = subprocess.run(base + ["-H", "Content-Type: application/json", "--data-binary", body,
                                 args.base + "/jmap/api"], check=True, capture_output=True).stdout
    return json.loads(out)["methodResponses"]


def compose(b, to, subject, body):
    b.click("#compose-new")
    b.one("#c-to").send_keys(to)
    b.one("#c-subject").send_keys(subject)
    b.one("#c-body").send_keys(body)


def test_reply_all(args):
    with browser.Browser(args.cert) as b:
        step("sign in and open the message sent to alice and two others")
        b.sign_in(args.base, ALICE, args.password)
        click_row(b, "Quarterly report")
        b.wait(lambda: "report is attached" in b.text_of("#thread pre.body"), "the message text")

        step("the attachment is listed and downloads as an attachment, byte for byte")
        b.wait(lambda: "report.csv" in b.text_of("#thread .attachments"), "the attachment")
        listed = b.text_of("#thread .attachments")
        assert "text/csv" in listed, listed
        href = b.css("#thread .attachments a")[0].get_attribute("href")
        code, headers, data = fetch(args, href, b.cookie("__Host-rampart-session"))
        assert code == 200, (code, headers)
        disposition = headers.get("content-disposition", "")
        assert disposition.startswith("attachment"), disposition
        assert "report.csv" in disposition, disposition
        assert headers.get("x-content-type-options") == "nosniff", headers
        with open(args.expected, "rb") as f:
            expected = f.read()
        assert data == expected, "the downloaded bytes differ: %r" % data[:80]

        step("reply all: the others stay in To and Cc, alice's own address is left out")
        b.click("#act-reply-all")
        b.wait(lambda: b.visible("#compose"), "the composer")
        to, cc = value(b, "#c-to"), value(b, "#c-cc")
        assert to == "Bob <bob@example.test>", to
        assert cc == "Carol <carol@remote.test>, dan@remote.test", cc
        assert "alice" not in (to + cc).lower(), (to, cc)
        assert value(b, "#c-subject") == "Re: Quarterly report"
        b.one("#c-body").send_keys("Thanks, all.")
        b.driver.execute_script("window.scrollTo(0, 0)")
        b.screenshot(args.artefacts, "compose-reply-all.png")
        b.click("#c-send")
        sent_ok(b)

        step("forward: the original's attachment goes along")
        open_mailbox(b, "inbox")
        click_row(b, "Quarterly report")
        b.wait(lambda: b.text_of("#reader-heading") == "Quarterly report", "the message to open")
        b.click("#act-forward")
        b.wait(lambda: "report.csv" in b.text_of("#c-attachments"), "the attachment in the composer")
        assert value(b, "#c-subject") == "Fwd: Quarterly report"
        assert "The report is attached." in value(b, "#c-body")
        b.one("#c-to").send_keys(BOB)
        b.click("#c-send")
        sent_ok(b)

        step("both are in the Sent list")
        open_mailbox(b, "sent")
        row(b, "Re: Quarterly report", "the reply-all in Sent")
        row(b, "Fwd: Quarterly report", "the forward in Sent")
        assert len(rows(b)) == 2, rows(b)


def pager(b):
    return b.driver.execute_script(
        "return [document.getElementById('page-info').textContent,"
        " document.getElementById('page-newer').disabled,"
        " document.getElementById('page-older').disabled,"
        " document.querySelectorAll('#message-list .row').length]")


def test_paging(args):
    from selenium.webdriver.support.ui import Select

    with browser.Browser(args.cert) as b:
        step("sign in: the first page of 50, newest first")
        b.sign_in(args.base, ALICE, args.password)
        row(b, "Paged 55")
        assert pager(b) == ["1–50 of 55", True, False, 50], pager(b)
        subjects = [r[0] for r in rows(b)]
        assert subjects[0] == "Paged 55" and subjects[-1] == "Paged 06", subjects

        step("Older shows the last five; Newer goes back")
        b.click("#page-older")
        b.wait(lambda: pager(b) == ["51–55 of 55", False, True, 5], "the second page")
        assert [r[0] for r in rows(b)] == ["Paged %02d" % i for i in range(5, 0, -1)], rows(b)
        b.click("#page-newer")
        b.wait(lambda: pager(b) == ["1–50 of 55", True, False, 50], "the first page again")

        step("Move through the mailbox chooser")
        click_row(b, "Paged 55")
        b.wait(lambda: b.text_of("#reader-heading") == "Paged 55", "the message to open")
        # Picked again if a push redrew the list meanwhile; Move must then still take Archive.
        b.wait(lambda: Select(b.one("#act-move-to")).select_by_visible_text("Archive") or True,
               "to choose Archive")
        step("a push redraws the mailboxes meanwhile; the choice stays")
        # Read inside a wait: a push may redraw (and so replace) the element between the two.
        inbox = b.wait(lambda: b.one('button.mailbox[data-role="inbox"]').get_attribute("aria-label"),
                       "the Inbox's label")
        archive = b.wait(lambda: b.one("#act-move-to").get_attribute("value"), "the choice")
        res = jmap(args, b, [["Email/query", {"filter": {"subject": "Paged 01"}}, "q"]])
        target = res[0][1]["ids"][0]
        jmap(args, b, [["Email/set", {"update": {target: {"keywords/$seen": True}}}, "s"]])
        b.wait(lambda: b.one('button.mailbox[data-role="inbox"]').get_attribute("aria-label") != inbox,
               "the unread count to change by push")
        chosen = b.one("#act-move-to").get_attribute("value")
        assert chosen == archive, "the redraw reset the chooser to %r" % chosen
        b.click("#act-move")
        b.wait(lambda: not any(r[0] == "Paged 55" for r in rows(b)), "the message to leave the Inbox")
        assert b.text_of("#status") == "Moved to Archive.", b.text_of("#status")
        open_mailbox(b, "archive")
        row(b, "Paged 55", "the message in Archive")
        open_mailbox(b, "inbox")

        step("mark unread: the opened message shows unread again")
        click_row(b, "Paged 54")
        b.wait(lambda: not row(b, "Paged 54")[1], "the opened message to be shown read")
        b.wait(lambda: b.one("#act-unread").text == "Mark unread", "the Mark unread button")
        b.click("#act-unread")
        b.wait(lambda: row(b, "Paged 54")[1], "the message to be shown unread in the list")
        assert b.one("#act-unread").text == "Mark read", b.one("#act-unread").text

        step("delete: to Trash, then for good after the confirm")
        click_row(b, "Paged 53")
        b.wait(lambda: b.text_of("#reader-heading") == "Paged 53", "the message to open")
        b.wait(lambda: b.one("#act-delete").text == "Delete", "the Delete button")
        b.click("#act-delete")
        b.wait(lambda: not any(r[0] == "Paged 53" for r in rows(b)), "the message to leave the Inbox")
        open_mailbox(b, "trash")
        click_row(b, "Paged 53")
        b.wait(lambda: b.one("#act-delete").text == "Delete for good", "the Delete for good button")
        step("dismissing the confirm keeps it")
        b.click("#act-delete")
        b.wait(lambda: b.driver.switch_to.alert, "the confirm dialog").dismiss()
        assert any(r[0] == "Paged 53" for r in rows(b)), rows(b)
        step("accepting it deletes it")
        b.click("#act-delete")
        confirm = b.wait(lambda: b.driver.switch_to.alert, "the confirm dialog")
        assert "for good" in confirm.text, confirm.text
        confirm.accept()
        b.wait(lambda: not any(r[0] == "Paged 53" for r in rows(b)), "the message to leave Trash")
        assert b.text_of("#status") == "Deleted for good.", b.text_of("#status")


def test_drafts(args):
    with browser.Browser(args.cert) as b:
        step("sign in and write a message with an attachment; Save draft")
        b.sign_in(args.base, ALICE, args.password)
        compose(b, BOB, "Plans for Monday", "First half.")
        notes = os.path.join(tempfile.mkdtemp(prefix="rampart-wm-"), "notes.txt")
        with open(notes, "w") as f:
            f.write("bring the slides\n")
        b.one("#c-files").send_keys(notes)
        b.wait(lambda: "notes.txt" in b.text_of("#c-attachments"), "the attachment to upload")
        b.click("#c-save")
        b.wait(lambda: b.text_of("#status") == "Draft saved.", "the draft to be saved")
        b.click("#c-close")
        b.wait(lambda: not b.visible("#compose"), "the composer to close")

        step("the draft is in Drafts; reopen it: everything is back")
        open_mailbox(b, "drafts")
        click_row(b, "Plans for Monday")
        b.click("#act-edit", "the Edit draft button")
        b.wait(lambda: b.visible("#compose"), "the composer")
        assert value(b, "#c-to") == BOB, value(b, "#c-to")
        assert value(b, "#c-subject") == "Plans for Monday"
        assert value(b, "#c-body") == "First half.", value(b, "#c-body")
        assert "notes.txt" in b.text_of("#c-attachments"), b.text_of("#c-attachments")

        step("finish and send it: it leaves Drafts and is in Sent")
        b.one("#c-body").send_keys(" Second half.")
        b.click("#c-send")
        sent_ok(b)
        open_mailbox(b, "drafts")
        b.wait(lambda: not any(r[0] == "Plans for Monday" for r in rows(b)), "the draft to leave Drafts")
        open_mailbox(b, "sent")
        row(b, "Plans for Monday", "the message in Sent")
        click_row(b, "Plans for Monday")
        b.wait(lambda: "First half. Second half." in b.text_of("#thread pre.body"), "the sent text")


def test_refusals(args):
    with browser.Browser(args.cert) as b:
        step("sign in")
        b.sign_in(args.base, ALICE, args.password)

        step("AL-1.5: a card number is refused by DLP, in plain words")
        compose(b, BOB, "Card number", "My card: 4111 1111 1111 1111, expires 12/29.")
        b.click("#c-send")
        alert = refused(b)
        assert "data-loss prevention" in alert, alert
        assert "4111" not in alert, "the refusal repeats the card number: " + alert
        assert not any(c in alert for c in ("550", "5.7.1", "forbiddenToSend")), \
            "codes instead of words: " + alert
        b.driver.execute_script("window.scrollTo(0, 0)")
        b.screenshot(args.artefacts, "dlp-error.png")
        b.click("#c-close")
        b.wait(lambda: not b.visible("#compose"), "the composer to close")

        step("a harmless message goes")
        compose(b, BOB, "Harmless", "Nothing to see.")
        b.click("#c-send")
        sent_ok(b)

        step("NC-2.1.8: the third in the hour is refused by the rate limit, in plain words")
        compose(b, BOB, "One too many", "Hello again.")
        b.click("#c-send")
        alert = refused(b)
        assert "sending too much mail" in alert, alert
        assert not any(c in alert for c in ("451", "4.7.1", "rateLimit")), "codes instead of words: " + alert
        b.click("#c-close")
        open_mailbox(b, "drafts")
        row(b, "One too many", "the refused message kept in Drafts")
        row(b, "Card number", "the refused message kept in Drafts")


def main():
    p = argparse.ArgumentParser()
    tests = {"reply-all": test_reply_all, "paging": test_paging, "drafts": test_drafts,
             "refusals": test_refusals}
    p.add_argument("test", choices=sorted(tests))
    p.add_argument("--base", required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--ca", required=True)
    p.add_argument("--artefacts", required=True)
    p.add_argument("--expected", required=True)
    p.add_argument("--password", default="correct horse battery staple")
    args = p.parse_args()
    browser.require()
    os.makedirs(args.artefacts, exist_ok=True)
    tests[args.test](args)
    print("ok", flush=True)


if __name__ == "__main__":
    main()
