"""The admin console in a real browser, driven by crates/rampart/tests/console_browser.rs.

usage: console_browser.py --base https://mail.example.test:PORT --cert CERT --name NAME
       --password PW --code TOTP --held QUEUE_ID --artefacts DIR
Prints `ok` last when every step passed; screenshots go to DIR.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import browser  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    for a in ("--base", "--cert", "--name", "--password", "--code", "--held", "--artefacts"):
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
        assert args.name in d.find_element(By.ID, "who").text
        d.save_screenshot(os.path.join(args.artefacts, "console-dashboard.png"))

        d.get(args.base + "/quarantine")
        b.wait(lambda: d.find_elements(By.ID, "quarantine"), "the quarantine")
        assert args.held in d.find_element(By.ID, "quarantine").text
        d.save_screenshot(os.path.join(args.artefacts, "console-quarantine.png"))
        d.find_element(By.LINK_TEXT, args.held).click()
        b.wait(lambda: d.find_elements(By.ID, "release"), "the held message")
        d.find_element(By.ID, "release").click()
        b.wait(lambda: d.current_url.endswith("/quarantine"), "back at the quarantine")
        assert args.held not in d.find_element(By.ID, "quarantine").text
        b.wait(lambda: "released from quarantine by " + args.name in d.page_source, "the release history")
        print("released", args.held)

        d.get(args.base + "/trace")
        d.find_element(By.ID, "t-queue-id").send_keys(args.held)
        d.find_element(By.ID, "search").click()
        b.wait(lambda: d.find_elements(By.ID, "timeline"), "the timeline")
        assert "quarantined" in d.find_element(By.ID, "timeline").text
        print("found in the trace")

        d.get(args.base + "/bans")
        d.find_element(By.ID, "ban-network").send_keys("198.51.100.9")
        d.find_element(By.ID, "ban").click()
        b.wait(lambda: "198.51.100.9/32" in d.find_element(By.ID, "bans").text, "the ban")
        d.find_element(By.CSS_SELECTOR, "#bans .unban").click()
        b.wait(lambda: d.find_elements(By.ID, "confirm"), "the confirmation")
        d.find_element(By.ID, "confirm").click()
        b.wait(lambda: d.current_url.endswith("/bans"), "back at the bans")
        assert "198.51.100.9" not in d.find_element(By.ID, "bans").text
        print("banned and unbanned")
    print("ok")


if __name__ == "__main__":
    main()
