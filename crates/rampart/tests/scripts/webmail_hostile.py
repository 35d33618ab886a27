"""Hostile mail shown in a real browser (headless Chromium from Debian, driven by Selenium).

usage: webmail_hostile.py --base https://mail.example.test:PORT --cert SERVER_CERT.pem --ca CA.pem
       --password PASSWORD --artefacts DIR

Each case is a message whose HTML tries to run script, reach a listener this script watches, or
cover the page. Every case is imported into Alice's mailbox over JMAP and opened in the webmail;
the test then asserts that no script ran (a sentinel global is never set, in the page or in the
message's frame) and that the watched listener received no connection at all (a browser that
upgrades http to https still connects, so any attempt counts). Then "Show remote content" on the
tracking-pixel case: now the listener is reached, which shows the watch itself works.

Control: the same hostile HTML served as a bare page by the watched listener itself (not through
the webmail) sets the sentinel and calls the listener, so a test that sees nothing is not blind.

Prints one line per step; exits non-zero on the first failure.
"""
import base64
import json
import os
import socket
import ssl
import sys
import threading
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import browser  # noqa: E402  (the webmail's browser harness, tests/scripts/browser.py)

import argparse  # noqa: E402

_p = argparse.ArgumentParser()
for _a in ("--base", "--cert", "--ca", "--password", "--artefacts"):
    _p.add_argument(_a, required=True)
ARGS = _p.parse_args()
BASE = ARGS.base
ca_file, password, artefacts = ARGS.ca, ARGS.password, ARGS.artefacts
https_port = BASE.rsplit(":", 1)[1]
HOST = "mail.example.test"
ALICE = "alice@example.test"


class Watch:
    """A TCP listener on 127.0.0.1 that records every connection (and its first bytes)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.hits = []
        self.control = b""
        self.lock = threading.Lock()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            c.settimeout(2)
            try:
                first = c.recv(512)
            except OSError:
                first = b""
            with self.lock:
                self.hits.append(first)
            page = self.control if first.startswith(b"GET /control ") else b""
            status = b"200 OK" if page else b"404 Not Found"
            try:
                c.sendall(b"HTTP/1.1 " + status + b"\r\nContent-Type: text/html\r\nContent-Length: "
                          + str(len(page)).encode() + b"\r\nConnection: close\r\n\r\n" + page)
            except OSError:
                pass
            c.close()

    def count(self):
        with self.lock:
            return len(self.hits)

    def paths(self):
        with self.lock:
            return [h.split(b"\r\n", 1)[0].decode("latin-1") for h in self.hits]


watch = Watch()
W = f"http://127.0.0.1:{watch.port}"
PWN = "window.__rampart_pwned=1;try{top.__rampart_pwned=1}catch(e){}"

# name -> HTML body. Each tries to run script (sets the sentinel, calls the watcher) or to load
# something from the watcher.
CASES = {
    "script": f"<p>hello</p><script>{PWN}fetch('{W}/script')</script>",
    "onerror": f"<img src=x onerror=\"{PWN}fetch('{W}/onerror')\"><p>text</p>",
    "body-onload": f"<body onload=\"{PWN}fetch('{W}/onload')\"><p>text</p></body>",
    "svg-onload": f"<svg onload=\"{PWN}fetch('{W}/svgonload')\"><circle r=5 /></svg>",
    "svg-script": f"<svg><script>{PWN}fetch('{W}/svgscript')</script></svg><p>x</p>",
    "javascript-link": f"<a id=js href=\"javascript:{PWN}fetch('{W}/jslink')\">click</a>",
    "entity-javascript": f"<a id=js href=\"&#106;avascript:{PWN}\">click</a>",
    "data-link": "<a id=js href=\"data:text/html;base64,"
    + base64.b64encode(f"<script>{PWN}fetch('{W}/datalink')</script>".encode()).decode()
    + "\">click</a>",
    "meta-refresh": f"<meta http-equiv=refresh content=\"0;url={W}/refresh\"><p>x</p>",
    "base-href": f"<base href=\"{W}/base/\"><img src=\"pixel.png\"><a href=\"rel\">rel</a>",
    "form": f"<form id=f action=\"{W}/form\" method=post><input name=a value=b>"
    f"<button id=go>Go</button></form><img src=x onerror=\"document.getElementById('f').submit()\">",
    "css-expression": "<div style=\"width:expression(alert(1));color:red\">expr</div>",
    "css-url": f"<div style=\"background:url({W}/cssurl);color:blue\">bg</div>"
    f"<style>@import url({W}/import); body{{background:url({W}/stylebg)}}</style>",
    "object-embed-iframe": f"<object data=\"{W}/object\"></object><embed src=\"{W}/embed\">"
    f"<iframe src=\"{W}/iframe\"></iframe><p>x</p>",
    "link-stylesheet": f"<link rel=stylesheet href=\"{W}/link\"><p>x</p>",
    "srcset-video": f"<img srcset=\"{W}/srcset 2x\"><video poster=\"{W}/poster\"></video>",
    "tracking-pixel": f"<p>Newsletter</p><img src=\"{W}/pixel.gif\" width=1 height=1>",
    "overlay": "<div id=overlay style=\"position:fixed;top:0;left:0;width:100%;height:100%;"
    "z-index:2147483647;background:red\">Click here</div>",
    "mismatched-link": "<a id=bank href=\"https://evil.example/login\">https://www.bank.example/</a>",
}


def jmap(method_calls):
    """A JMAP request as Alice with HTTP Basic; the methodResponses."""
    ctx = ssl.create_default_context(cafile=ca_file)
    body = json.dumps({
        "using": ["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail"],
        "methodCalls": method_calls,
    }).encode()
    return _request("/jmap/api", body, "application/json", ctx)["methodResponses"]


def _request(path, body, ctype, ctx):
    auth = base64.b64encode(f"{ALICE}:{password}".encode()).decode()
    req = urllib.request.Request(
        "https://127.0.0.1:" + https_port + path, data=body, method="POST" if body else "GET",
        headers={"Content-Type": ctype, "Authorization": "Basic " + auth, "Host": f"{HOST}:{https_port}"})
    # The certificate names mail.example.test: check it against that name.
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_REQUIRED
    with urllib.request.urlopen(req, context=ctx, timeout=30) as r:
        return json.loads(r.read())


def import_case(name, html, account, inbox):
    raw = (
        f"From: Mallory <mallory@attacker.example>\r\nTo: {ALICE}\r\n"
        f"Subject: hostile {name}\r\nMessage-ID: <{name}@attacker.example>\r\n"
        "Date: Thu, 03 Dec 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/html; charset=utf-8\r\n\r\n" + html + "\r\n"
    ).encode()
    ctx = ssl.create_default_context(cafile=ca_file)
    blob = _request(f"/jmap/upload/{account}", raw, "message/rfc822", ctx)["blobId"]
    r = jmap([["Email/import", {"accountId": account, "emails": {
        "c": {"blobId": blob, "mailboxIds": {inbox: True}, "keywords": {}}}}, "0"]])
    created = r[0][1].get("created") or {}
    assert "c" in created, f"import of {name} failed: {r}"
    return created["c"]["id"]


def rows(d):
    return d.execute_script(
        "return Array.from(document.querySelectorAll('#message-list .row')).map(r => ["
        "r.querySelector('.subject').textContent, r.id])")


def open_case(b, name):
    """Opens the message of case `name` in the webmail; its frame, loaded."""
    from selenium.webdriver.common.by import By

    d = b.driver
    subject = "hostile " + name

    opened = []

    def go():
        r = next((r for r in rows(d) if r[0] == subject), None)
        if r:
            d.find_element(By.ID, r[1]).click()
            opened.append(r[1][len("row-"):])
        return bool(r)

    b.wait(go, "the row of %r" % subject)
    # The frame of this message (the one before it may still be on its way out).
    path = "/" + opened[-1]

    def frame():
        return next((f for f in b.css("#reader .html iframe")
                     if (f.get_attribute("src") or "").split("?")[0].endswith(path)), None)

    loaded(b, b.wait(frame, "the frame of " + name), name)
    return b.wait(frame, "the frame of " + name)


def loaded(b, frame, name):
    """Waits until the frame's document has loaded (with everything it asked for)."""
    d = b.driver

    def complete():
        d.switch_to.frame(frame)
        try:
            return d.execute_script("return document.readyState") == "complete"
        finally:
            d.switch_to.default_content()

    b.wait(complete, "the frame of %s to load" % name)


def main():
    os.makedirs(artefacts, exist_ok=True)
    session = _request("/jmap/session", None, "application/json",
                       ssl.create_default_context(cafile=ca_file))
    account = session["primaryAccounts"]["urn:ietf:params:jmap:mail"]
    r = jmap([["Mailbox/get", {"accountId": account, "properties": ["role"]}, "0"]])
    inbox = next(m["id"] for m in r[0][1]["list"] if m["role"] == "inbox")
    for name, html in CASES.items():
        import_case(name, html, account, inbox)
    print("imported", len(CASES), flush=True)

    browser.require()
    with browser.Browser(ARGS.cert) as b:
        d = b.driver
        # Control: the hostile HTML as a plain page runs and calls the watcher.
        watch.control = CASES["script"].encode()
        d.get(W + "/control")
        b.wait(lambda: any(p.startswith("GET /script") for p in watch.paths()),
               "the control page's script to call the watcher")
        assert d.execute_script("return window.__rampart_pwned") == 1, "control sentinel unset"
        print("control: the hostile page runs outside the webmail", flush=True)
        d.get("about:blank")
        before = watch.count()

        b.sign_in(BASE, ALICE, password)
        for name in CASES:
            frame = open_case(b, name)
            sandbox = frame.get_attribute("sandbox")
            assert sandbox is not None and "allow-scripts" not in sandbox \
                and "allow-same-origin" not in sandbox, f"{name}: sandbox {sandbox!r}"
            d.switch_to.frame(frame)
            try:
                # What a reader would click: links (javascript:, data:) and buttons (the form).
                if name in ("javascript-link", "entity-javascript", "data-link", "form"):
                    for el in d.find_elements("css selector", "a, button"):
                        try:
                            el.click()
                        except Exception:  # noqa: BLE001  (an inert element)
                            pass
                in_frame = d.execute_script("return window.__rampart_pwned")
                if name == "overlay":
                    pos = d.execute_script(
                        "var e=document.querySelector('div');"
                        "return e?getComputedStyle(e).position:'gone'")
                    assert pos != "fixed", f"overlay kept position:{pos}"
                if name == "mismatched-link":
                    a = d.execute_script(
                        "var e=document.querySelector('a');"
                        "return [e.className, e.title, e.rel, e.target]")
                    assert a[0] == "rampart-mismatch" and "evil.example" in a[1], a
                    assert "noopener" in a[2] and "noreferrer" in a[2] and a[3] == "_blank", a
            finally:
                d.switch_to.default_content()
            assert in_frame is None, f"{name}: script ran in the frame"
            assert d.execute_script("return window.__rampart_pwned") is None, f"{name}: page"
            assert len(d.window_handles) == 1, f"{name}: a window was opened"
            assert watch.count() == before, f"{name}: reached the watcher: {watch.paths()[before:]}"
            if name == "mismatched-link":
                warn = b.text_of("#reader .warning")
                assert "lead to another" in warn, warn
            print("safe:", name, flush=True)

        open_case(b, "tracking-pixel")
        b.screenshot(artefacts, "hostile-remote-blocked.png")
        assert watch.count() == before, "the tracking pixel loaded before it was allowed"
        b.one("#reader button.remote", "the show remote content button").click()
        b.wait(lambda: watch.count() > before, "the pixel to load after 'show remote content'")
        print("remote content loads only when asked", flush=True)
    print("ok")


if __name__ == "__main__":
    main()
