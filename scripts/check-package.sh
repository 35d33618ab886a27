#!/usr/bin/env bash
# Issue 22: builds the Debian package (scripts/package.sh, from the release binary the test
# command has built) and checks it: its contents (dpkg-deb -c), lintian with no error, the
# systemd unit (systemd-analyze verify on the installed tree, security score "OK" or better,
# offline: this sandbox does not run systemd as PID 1), that the manual pages render, and
# (scripts/check-install.sh) that it installs, starts, takes mail and purges cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."

deb=$(scripts/package.sh)
echo "package: $deb"
fail() { echo "check-package: $*" >&2; exit 1; }

contents=$(dpkg-deb -c "$deb")
for f in ./usr/sbin/rampart ./etc/rampart/rampart.toml ./lib/systemd/system/rampart.service \
         ./usr/share/man/man8/rampart.8.gz ./usr/share/man/man8/rampart-serve.8.gz \
         ./usr/share/man/man8/rampart-domain.8.gz ./usr/share/man/man5/rampart.toml.5.gz \
         ./usr/share/bash-completion/completions/rampart ./usr/share/zsh/vendor-completions/_rampart \
         ./usr/share/fish/vendor_completions.d/rampart.fish ./usr/share/doc/rampart/copyright \
         ./usr/share/doc/rampart/LOGGING.md; do
  grep -q " $f\$" <<<"$contents" || fail "$f missing from the package"
done
# The configuration is a conffile, and the maintainer scripts are there.
ctrl=$(mktemp -d)
trap 'rm -rf "$ctrl"' EXIT
dpkg-deb -e "$deb" "$ctrl/DEBIAN"
grep -qx /etc/rampart/rampart.toml "$ctrl/DEBIAN/conffiles" || fail "rampart.toml is not a conffile"
for s in postinst prerm postrm; do [ -x "$ctrl/DEBIAN/$s" ] || fail "no $s"; done
grep -q 'adduser --system' "$ctrl/DEBIAN/postinst" || fail "postinst creates no system user"
# No listener on a public address in the installed configuration.
dpkg-deb -x "$deb" "$ctrl/root"
if grep -E '^address = "(0\.0\.0\.0|\[::\])' "$ctrl/root/etc/rampart/rampart.toml"; then
  fail "the installed configuration listens on a public address"
fi

# lintian: errors fail the check; warnings are printed for the reader.
lintian --tag-display-limit 0 "$deb" | tee "$ctrl/lintian.txt" || true
if grep -q '^E: ' "$ctrl/lintian.txt"; then fail "lintian reported errors"; fi

# The unit, with the binary it runs taken from the unpacked tree (its only change) and the
# manual pages its Documentation= names looked up there.
unit="$ctrl/root/lib/systemd/system/rampart.service"
mkdir -p "$ctrl/unit"
sed "s#/usr/sbin/rampart#$ctrl/root/usr/sbin/rampart#g" "$unit" > "$ctrl/unit/rampart.service"
verify=$(MANPATH="$ctrl/root/usr/share/man" systemd-analyze verify "$ctrl/unit/rampart.service" 2>&1) \
  || { echo "$verify"; fail "systemd-analyze verify failed"; }
if [ -n "$verify" ]; then
  echo "$verify"
  fail "systemd-analyze verify is not clean"
fi
score=$(systemd-analyze security --offline=true "$unit" 2>&1 | sed -n 's/.*Overall exposure level for rampart.service: \([0-9.]*\) \([A-Z]*\).*/\1 \2/p')
echo "systemd-analyze security: $score"
case "$score" in
  *" OK"|*" SAFE"|*" PERFECT") ;;
  *) fail "security exposure is not OK or better: $score" ;;
esac

# Manual pages render.
for page in "$ctrl"/root/usr/share/man/man8/rampart.8.gz "$ctrl"/root/usr/share/man/man5/rampart.toml.5.gz; do
  out=$(MANWIDTH=80 man -l "$page" 2>&1 >/dev/null) || fail "man -l $page failed"
  [ -z "$out" ] || { echo "$out"; fail "man -l $page warned"; }
done
# Installed with apt on this machine, started as the unit starts it, used, purged.
bash scripts/check-install.sh "$deb"
echo "check-package: ok"
