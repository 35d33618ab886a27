"""A headless Chromium for the webmail's browser tests (Selenium with Debian's chromium and
chromium-driver), shared by the webmail tests and the hostile-mail suite.

Real TLS: Chromium trusts exactly the test server's key (--ignore-certificate-errors-spki-list
pins the SHA-256 of its SubjectPublicKeyInfo; every other certificate is still verified), and
mail.example.test resolves to 127.0.0.1 so the name in the certificate matches.
Each browser gets a fresh profile in a temporary directory, removed when it quits.
"""

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
HOST = "mail.example.test"
MISSING = "run scripts/test.sh to install them (chromium, chromium-driver from Debian; selenium from PyPI)"


def require():
    """Fails (exit 3) with a line saying what to install when a piece is missing."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("python3 selenium")
    if missing:
        print("browser tests need %s: %s" % (", ".join(missing), MISSING), file=sys.stderr)
        sys.exit(3)


def spki_pin(cert_pem_path):
    """base64(SHA-256(SubjectPublicKeyInfo)) of the certificate in a PEM file."""
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization

        with open(cert_pem_path, "rb") as f:
            cert = x509.load_pem_x509_certificate(f.read())
        der = cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    except ImportError:
        pub = subprocess.run(
            ["openssl", "x509", "-in", cert_pem_path, "-noout", "-pubkey"],
            check=True, capture_output=True,
        ).stdout
        der = subprocess.run(
            ["openssl", "pkey", "-pubin", "-outform", "DER"],
            input=pub, check=True, capture_output=True,
        ).stdout
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


class Browser:
    """One headless Chromium with its own profile. Use as a context manager."""

    def __init__(self, cert_pem_path, width=1280, height=900):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        self.profile = tempfile.mkdtemp(prefix="rampart-chromium-")
        o = webdriver.ChromeOptions()
        o.binary_location = CHROMIUM
        for arg in (
            "--headless=new",
            "--user-data-dir=" + self.profile,
            "--ignore-certificate-errors-spki-list=" + spki_pin(cert_pem_path),
            "--host-resolver-rules=MAP %s 127.0.0.1" % HOST,
            "--window-size=%d,%d" % (width, height),
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--lang=en-US",
        ):
            o.add_argument(arg)
        # The console, for the report when a step fails.
        o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        if os.geteuid() == 0:
            # Chromium's own sandbox cannot start as root (containers, CI).
            o.add_argument("--no-sandbox")
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=o)
        self.driver.set_page_load_timeout(30)
        self.driver.set_script_timeout(30)
        if width and height:
            # The window's inner size: what a phone of this width shows.
            self.driver.set_window_size(width, height)

    def __enter__(self):
        return self

    def __exit__(self, kind, value, tb):
        if kind is not None:
            self.report()
        self.quit()

    def report(self):
        """What the page showed when a step failed: address, alert, console."""
        try:
            d = self.driver
            print("page:", d.current_url, file=sys.stderr)
            print("alert:", self.text_of("#alert") or self.text_of(".error"), file=sys.stderr)
            for entry in d.get_log("browser"):
                print("console:", entry.get("level"), entry.get("message"), file=sys.stderr)
        except Exception as e:
            print("no report from the browser:", repr(e), file=sys.stderr)

    def quit(self):
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)

    # ---- waiting: conditions polled within a bound, never a fixed sleep ----

    def wait(self, cond, what, timeout=20):
        """Polls cond() until it returns something true; fails naming `what`."""
        end = time.monotonic() + timeout
        last = None
        while time.monotonic() < end:
            try:
                v = cond()
                if v:
                    return v
            except Exception as e:  # an element not there yet, a stale one
                last = e
            time.sleep(0.05)
        raise AssertionError("timed out waiting for %s (last error: %r)" % (what, last))

    def css(self, selector):
        from selenium.webdriver.common.by import By

        return self.driver.find_elements(By.CSS_SELECTOR, selector)

    def one(self, selector, what=None):
        return self.wait(lambda: next(iter(self.visible(selector)), None), what or selector)

    def click(self, selector, what=None):
        """Clicks the first visible match, again if the page redrew it in between (push)."""
        self.wait(lambda: self.visible(selector)[0].click() or True, what or "to click " + selector)

    def visible(self, selector):
        return [e for e in self.css(selector) if e.is_displayed()]

    def text_of(self, selector):
        return " ".join(e.text for e in self.css(selector))

    def active_id(self):
        return self.driver.execute_script("return document.activeElement && document.activeElement.id")

    def screenshot(self, directory, name):
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, name)
        self.driver.save_screenshot(path)
        return path

    # ---- the webmail ----

    def sign_in(self, base, user, password):
        """Signs in through the form and waits until the webmail has loaded its lists."""
        d = self.driver
        d.get(base + "/")
        self.one("#username").send_keys(user)
        self.one("#password").send_keys(password)
        self.one("#sign-in").click()
        self.wait(lambda: d.execute_script("return document.body.dataset.ready === '1'"),
                  "the webmail to load after sign-in")

    def cookie(self, name):
        c = self.driver.get_cookie(name)
        return c["value"] if c else None
