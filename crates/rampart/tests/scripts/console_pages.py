"""The console's DKIM and audit pages in a real browser, driven by
crates/rampart/tests/console_browser_pages.rs.

usage: console_pages.py --base https://mail.example.test:PORT --cert CERT --name NAME
       --password PW --code TOTP --artefacts DIR
Prints `ok` last when every step passed; screenshots go to DIR.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import browser  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    for a in ("--base", "--cert", "--name", "--password", "--code", "--artefacts"):
        p.add_argument(a, required=True)
    args = p.parse_args()
    browser.require()
    from selenium.webdriver.common.by import By

    with browser.Browser(args.cert) as b:
        d = b.driver
        d.get(args.base + "/login")
        d.find_element(By.ID, "name").send_keys(args.name)
        d.find_element(By.ID, "password").send_keys(args.password)
        d.find_element(By.ID, "code").send_keys(args.code)
        d.find_element(By.ID, "sign-in").click()
        b.wait(lambda: d.find_elements(By.ID, "chart"), "the dashboard")

        d.find_element(By.LINK_TEXT, "DKIM").click()
        b.wait(lambda: d.find_elements(By.ID, "keys"), "the DKIM page")
        assert "s1" in d.find_element(By.ID, "keys").text
        states = [e.text for e in d.find_elements(By.CSS_SELECTOR, "#records tr.record td.state")]
        assert "match" in states and "missing" in states, states
        d.save_screenshot(os.path.join(args.artefacts, "console-dkim.png"))
        print("dkim page", states)

        d.find_element(By.LINK_TEXT, "Audit").click()
        b.wait(lambda: d.find_elements(By.ID, "run-audit"), "the audit page")
        d.find_element(By.ID, "run-audit").click()
        b.wait(lambda: d.find_elements(By.ID, "generated"), "the audit report", timeout=300)
        assert d.find_elements(By.ID, "download")
        # The framed report is the audit's own page, shown inside the console.
        d.switch_to.frame(d.find_element(By.ID, "report"))
        b.wait(lambda: "Compliance evidence" in d.page_source, "the framed report")
        d.switch_to.default_content()
        d.save_screenshot(os.path.join(args.artefacts, "console-audit.png"))
        print("audit page")
    print("ok")


if __name__ == "__main__":
    main()
