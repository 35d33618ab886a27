"""Opens `rampart audit --html`'s page in headless Chromium (Debian's chromium with Selenium):
every control is there, the page loaded nothing from anywhere else, and a screenshot and a
printed PDF are kept as test artefacts.

usage: audit_report.py REPORT.html CERT.pem ARTEFACT_DIR CONTROL_COUNT
"""

import base64
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import browser  # noqa: E402


def main():
    report, cert, artefacts, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    browser.require()
    with browser.Browser(cert, width=1200, height=1600) as b:
        d = b.driver
        d.get("file://" + os.path.abspath(report))
        b.wait(lambda: d.find_elements("css selector", "article.control"), "the controls")
        articles = d.find_elements("css selector", "article.control")
        assert len(articles) == count, "%d controls shown, %d expected" % (len(articles), count)
        assert d.title.startswith("Compliance evidence"), d.title
        assert d.find_elements("css selector", "svg[role=img] rect"), "no chart"
        # Self-contained: no resource was fetched besides the page itself.
        fetched = d.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name)")
        assert fetched == [], "the page fetched %r" % fetched
        d.save_screenshot(os.path.join(artefacts, "audit-report.png"))
        pdf = d.print_page() if hasattr(d, "print_page") else None
        if pdf:
            with open(os.path.join(artefacts, "audit-report.pdf"), "wb") as f:
                f.write(base64.b64decode(pdf))
    print("ok")


if __name__ == "__main__":
    main()
