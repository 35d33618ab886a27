#!/usr/bin/env bash
# The test command: installs what the tests need on a fresh Debian machine, then runs every test,
# rustfmt and clippy. .ci/run calls this same script.
set -euo pipefail
cd "$(dirname "$0")/.."

# Clients we did not write, for the end-to-end tests: Python's smtplib (python3), swaks, curl.
# A real ClamAV daemon (the tests start their own clamd with generated signatures; the official
# database is not needed).
need=()
command -v swaks >/dev/null || need+=(swaks)
# swaks's STARTTLS needs Perl's TLS modules, which are only recommended by the package.
perl -MNet::SSLeay -MIO::Socket::SSL -e1 2>/dev/null || need+=(libnet-ssleay-perl libio-socket-ssl-perl)
command -v python3 >/dev/null || need+=(python3)
[ -x /usr/sbin/clamd ] || need+=(clamav-daemon)
# Debian's Rspamd 3.4: the optional second spam engine, started by tests/spam_rspamd.rs on a
# loopback port with a private configuration (AL-1.2); its own service stays stopped.
[ -x /usr/bin/rspamd ] || need+=(rspamd)
# Redis keeps Rspamd 3.4's Bayes: tests/spam_rspamd_learn.rs starts one of its own beside it.
[ -x /usr/bin/redis-server ] || need+=(redis-server)
# curl (with HTTP/2) for the https listener's end-to-end tests.
command -v curl >/dev/null || need+=(curl)
# DANE tests (tests/dane.rs, tests/mta_sts_serve.rs): unbound validates a zone signed by
# dnssec-signzone (bind9-utils); ldns-dane (ldnsutils) cross-checks the TLSA records printed.
[ -x /usr/sbin/unbound ] || need+=(unbound)
command -v dnssec-signzone >/dev/null || need+=(bind9-utils)
command -v ldns-dane >/dev/null || need+=(ldnsutils)
# Debian's mail(1) from bsd-mailx: a real caller of the sendmail command (NC-2.1.9).
command -v bsd-mailx >/dev/null || need+=(bsd-mailx)
# Debian's Postfix: the primary server of a null client in one test (NC-2.1.9), and the MTA that
# bsd-mailx's package asks for (with it in the same install, apt pulls in no other MTA).
[ -x /usr/sbin/postfix ] || need+=(postfix)
# OpenLDAP's slapd and its tools: the directory for recipient verification (issue 14), started by
# tests/recipient_verify.rs on a loopback port with a generated directory and TLS.
[ -x /usr/sbin/slapd ] || need+=(slapd)
command -v ldapsearch >/dev/null || need+=(ldap-utils)
# openssl(1): the self-signed "snakeoil" certificate of the Debian-defaults Postfix that
# tests/audit_remote.rs audits (rampart audit --remote).
command -v openssl >/dev/null || need+=(openssl)
# Headless Chromium and its WebDriver, for the webmail's browser tests (tests/webmail_browser.rs).
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -x /usr/bin/chromedriver ] || need+=(chromium-driver)
# oathtool (Debian's oath-toolkit): an independent RFC 6238 implementation whose codes the
# console's TOTP login must accept (tests/console_http.rs).
command -v oathtool >/dev/null || need+=(oathtool)
# Debian's nftables: `nft -c -f` checks the ruleset `rampart firewall` prints (NC-2.3.1), and the
# firewall test loads it inside a network namespace of its own.
[ -x /usr/sbin/nft ] || need+=(nftables)
# The Debian package's checks (scripts/check-package.sh): lintian, systemd-analyze (systemd),
# man (man-db); fail2ban-regex (fail2ban) for the sample filter (tests/logging.rs).
command -v lintian >/dev/null || need+=(lintian)
command -v systemd-analyze >/dev/null || need+=(systemd)
command -v man >/dev/null || need+=(man-db)
command -v fail2ban-regex >/dev/null || need+=(fail2ban)
# promtool (Debian's prometheus): `promtool check metrics` lints the /metrics text (metrics.rs).
command -v promtool >/dev/null || need+=(prometheus)
# PostgreSQL 15 (Debian's postgresql): the shared store's tests start their own cluster with its
# initdb and pg_ctl in a temporary directory (crates/rampart-store-pg/src/cluster.rs); the
# package's own service is not started (policy-rc.d below).
[ -x /usr/lib/postgresql/15/bin/initdb ] || need+=(postgresql)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Packages must not start services here (no init system; the tests start what they need).
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  rm -f /usr/sbin/policy-rc.d
fi

# jmapc: an independent JMAP client for the end-to-end tests of the https listener (AL-4.1).
if ! python3 -c "import jmapc" 2>/dev/null; then
  echo "installing: jmapc (PyPI)"
  python3 -m pip install -q --disable-pip-version-check jmapc
fi

# Selenium drives that Chromium for the webmail's browser tests.
if ! python3 -c "import selenium" 2>/dev/null; then
  echo "installing: selenium (PyPI)"
  python3 -m pip install -q --disable-pip-version-check selenium
fi

# dkimpy (with PyNaCl for Ed25519): an independent DKIM implementation for interoperability tests.
if ! python3 -c "import dkim, nacl" 2>/dev/null; then
  echo "installing: dkimpy pynacl (PyPI)"
  python3 -m pip install -q --disable-pip-version-check dkimpy pynacl
fi

# compliance-trestle: OSCAL models generated from NIST's schema, to validate `rampart audit --oscal`.
if ! python3 -c "import trestle.oscal.assessment_results" 2>/dev/null; then
  echo "installing: compliance-trestle (PyPI)"
  python3 -m pip install -q --disable-pip-version-check compliance-trestle
fi

# parsedmarc: an independent reader of TLS reports (RFC 8460), run offline by the TLS-RPT tests.
if ! python3 -c "import parsedmarc" 2>/dev/null; then
  echo "installing: parsedmarc (PyPI)"
  python3 -m pip install -q --disable-pip-version-check parsedmarc
fi

# Each step's time, and the disk left after it, are printed, so a slow CI run shows where its
# minutes went and a run that ran out of disk shows which step took it.
free_gb() { df -P . | awk 'NR == 2 { printf "%.1f", $4 / 1048576 }'; }
step() {
  local t=$SECONDS
  "$@"
  echo "test.sh: $((SECONDS - t)) s for: $* ($(free_gb) GB free)"
}
echo "test.sh: $(free_gb) GB free at the start"

# A run builds everything once: incremental state would only take disk (gigabytes for the test
# binaries) and time to write.
export CARGO_INCREMENTAL=0

step cargo fmt --all -- --check
step cargo clippy --workspace --all-targets -- -D warnings

# Reliability, short forms (the long forms are documented in each script and fuzz/README.md):
# SIGKILL under load loses nothing acknowledged; abuse ends in clear replies or closes while a
# well-behaved client is served; the parsers survive a short fuzzing run.
step cargo build --release -p rampart -p rampart-testdns
step python3 bench/crash_suite.py --all-checks --binary target/release/rampart
step python3 bench/abuse.py --quick --binary target/release/rampart
FUZZ_SECONDS=10 step fuzz/smoke.sh
step cargo test --workspace --no-fail-fast

# Issue 22: the Debian package from that same release build: contents, lintian, the unit, and
# an install with apt that starts it, uses it and purges it. Last, because installing an MTA
# replaces this machine's Postfix, which the tests above use (check-install.sh puts it back).
step bash scripts/check-package.sh
