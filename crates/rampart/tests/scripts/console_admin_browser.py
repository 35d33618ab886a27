"""The admin console's roles, queue and directory in a real browser, driven by
crates/rampart/tests/console_admin_browser.rs.

usage: console_admin_browser.py --base URL --cert CERT --artefacts DIR --password PW
       --root-secret B32 --op-secret B32 --aud-secret B32 --held QID --virus QID
       --deferred QID --new-user ADDRESS --new-password PW

Each administrator signs in with the password and a TOTP code that oathtool computes at that
moment. In order:
- the auditor sees no action button on a held message, a queued message or the users, and a
  release POST forged in the page is refused (403);
- the operator sees no release button on a message in virus quarantine, and a forged release
  is refused (403);
- the administrator releases the virus-quarantined message, retries the deferred message (its
  receiver is up now) until it leaves the queue, and adds a user.
Prints `ok` last when every step passed; screenshots go to DIR.
"""

import argparse
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import browser  # noqa: E402


def totp(secret):
    out = subprocess.run(["oathtool", "--totp", "-b", secret], check=True, capture_output=True)
    return out.stdout.decode().strip()


def sign_in(b, base, name, password, secret):
    from selenium.webdriver.common.by import By

    d = b.driver
    d.get(base + "/login")
    d.find_element(By.ID, "name").send_keys(name)
    d.find_element(By.ID, "password").send_keys(password)
    d.find_element(By.ID, "code").send_keys(totp(secret))
    d.find_element(By.ID, "sign-in").click()
    b.wait(lambda: name in d.find_element(By.ID, "who").text, "%s signed in" % name)


def forged_post(b, path):
    """A form the page never offered, posted with the session's own CSRF token (from the sign-out
    form): only the role can refuse it. Returns the page's text."""
    d = b.driver
    d.execute_script(
        "var f = document.createElement('form'); f.method = 'post'; f.action = arguments[0];"
        "var t = document.createElement('input'); t.type = 'hidden'; t.name = 'csrf';"
        "t.value = document.querySelector('header input[name=csrf]').value; f.appendChild(t);"
        "document.body.appendChild(f); f.submit();",
        path,
    )
    b.wait(lambda: b.css("#refused"), "the refusal of " + path)
    return b.text_of("#refused")


def no_buttons(b, ids, where):
    for i in ids:
        assert not b.css("#" + i), "%s: button #%s is shown" % (where, i)


def main():
    p = argparse.ArgumentParser()
    for a in ("--base", "--cert", "--artefacts", "--password", "--root-secret", "--op-secret",
              "--aud-secret", "--held", "--virus", "--deferred", "--new-user", "--new-password"):
        p.add_argument(a, required=True)
    a = p.parse_args()
    browser.require()
    from selenium.webdriver.common.by import By

    # The auditor reads everything and may change nothing.
    with browser.Browser(a.cert) as b:
        d = b.driver
        sign_in(b, a.base, "aud", a.password, a.aud_secret)
        d.get(a.base + "/quarantine/" + a.held)
        b.wait(lambda: b.css("#verdicts"), "the held message")
        no_buttons(b, ["release", "delete"], "auditor, quarantine")
        d.get(a.base + "/queue/" + a.deferred)
        b.wait(lambda: b.css("#recipients"), "the queued message")
        no_buttons(b, ["retry", "hold", "release", "delete", "bounce"], "auditor, queue")
        d.get(a.base + "/users")
        b.wait(lambda: b.css("#users"), "the users")
        no_buttons(b, ["add-user"], "auditor, users")
        d.get(a.base + "/quarantine/" + a.held)
        b.wait(lambda: b.css("#verdicts"), "the held message")
        refused = forged_post(b, "/quarantine/%s/release" % a.held)
        assert "auditor" in refused and "operator" in refused, refused
        print("auditor: no buttons, forged release refused")

    # The operator may not release from virus quarantine.
    with browser.Browser(a.cert) as b:
        d = b.driver
        sign_in(b, a.base, "op", a.password, a.op_secret)
        d.get(a.base + "/quarantine/" + a.virus)
        b.wait(lambda: b.css("#verdicts"), "the virus-quarantined message")
        assert "antivirus" in b.text_of("#reason"), b.text_of("#reason")
        no_buttons(b, ["release", "delete"], "operator, virus quarantine")
        refused = forged_post(b, "/quarantine/%s/release" % a.virus)
        assert "administrator" in refused, refused
        print("operator: virus release refused")

    # The administrator releases it, retries the deferred message and adds a user.
    with browser.Browser(a.cert) as b:
        d = b.driver
        sign_in(b, a.base, "root", a.password, a.root_secret)
        d.get(a.base + "/quarantine/" + a.virus)
        b.click("#release")
        b.wait(lambda: d.current_url.endswith("/quarantine"), "back at the quarantine")
        assert a.virus not in d.find_element(By.ID, "quarantine").text
        print("administrator: released", a.virus)

        d.get(a.base + "/queue")
        b.wait(lambda: a.deferred in b.text_of("#queue"), "the deferred message in the queue")
        d.find_element(By.LINK_TEXT, a.deferred).click()
        b.wait(lambda: "deferred" in b.text_of("#timeline"), "its deferred attempt")
        d.save_screenshot(os.path.join(a.artefacts, "console-queue-message.png"))
        b.click("#retry")

        def gone():
            d.get(a.base + "/queue/" + a.deferred)
            return b.css("#not-queued")

        b.wait(gone, "the retried message to leave the queue", timeout=60)
        print("administrator: retried", a.deferred)

        d.get(a.base + "/users")
        b.one("#new-address").send_keys(a.new_user)
        b.one("#new-password").send_keys(a.new_password)
        b.click("#add-user")
        b.wait(lambda: b.text_of("#address") == a.new_user, "the new user's page")
        assert b.text_of("#state") == "enabled", b.text_of("#state")
        assert "$argon2" not in d.page_source
        # A token for the new user, for submission only: shown once, on the page that answers.
        name = b.one("#token-name")
        name.clear()
        name.send_keys("printer")
        b.click("#token-jmap")
        b.click("#token-submission")
        b.click("#token-add")
        b.wait(lambda: b.css("#new-token"), "the new token's page")
        d.save_screenshot(os.path.join(a.artefacts, "console-token.png"))
        print("token:", b.text_of("#new-token"))
        d.get(a.base + "/users")
        b.wait(lambda: a.new_user in b.text_of("#users"), "the new user in the list")
        d.save_screenshot(os.path.join(a.artefacts, "console-users.png"))
        d.get(a.base + "/domains")
        b.wait(lambda: b.css("#aliases"), "the domains and aliases")
        d.save_screenshot(os.path.join(a.artefacts, "console-domains.png"))
        print("administrator: added", a.new_user)
    print("ok")


if __name__ == "__main__":
    main()
