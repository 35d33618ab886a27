#!/usr/bin/env bash
# Issue 22: installs the Debian package on this machine with `apt-get install ./rampart_*.deb`,
# starts the service as its unit does, checks that it answers and that a local user who is not
# root can hand mail to sendmail (NC-2.1.9), then purges it and checks that nothing is left.
# An MTA it replaced (Postfix here) is installed again at the end.
#
#   scripts/check-install.sh target/debian/rampart_0.1.0_amd64.deb
#
# Needs root (it installs a package and creates the service user). This sandbox has no systemd
# as PID 1, so the unit's own command lines are run the way systemd would run them: as the
# `rampart` user with CAP_NET_BIND_SERVICE as its only (ambient) capability, via setpriv(1).
# Port 25 on 127.0.0.1 must be free: the installed configuration listens there, as it will on a
# fresh machine.
set -euo pipefail
deb=$(realpath "$1")
fail() { echo "check-install: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "must run as root (it installs the package)"
if dpkg -s rampart >/dev/null 2>&1; then fail "a rampart package is already installed here"; fi

work=$(mktemp -d)
pid=""
cleanup() {
  if [ -n "${clamd_pid:-}" ]; then kill "$clamd_pid" 2>/dev/null || true; rm -f /run/clamav/clamd.ctl; fi
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill "$pid"; wait "$pid" 2>/dev/null || true; fi
  if dpkg -s rampart >/dev/null 2>&1; then DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq rampart >/dev/null 2>&1 || true; fi
  restore
  rm -f /usr/sbin/policy-rc.d
  rm -rf "$work"
}
trap cleanup EXIT

# Rampart is a mail-transport-agent: apt replaces another MTA (Postfix, which the other tests
# use) and what depends on it. Those are noted first and put back after the purge.
removed=$(apt-get -s install --no-install-recommends "$deb" 2>/dev/null | sed -n 's/^Remv \([^ ]*\) .*/\1/p' | tr '\n' ' ')
restore() {
  [ -n "$removed" ] || return 0
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $removed >/dev/null 2>&1 \
    || echo "check-install: could not reinstall $removed" >&2
  removed=""
}
# No service is started by maintainer scripts (policy-rc.d), as in a container build.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
chmod +x /usr/sbin/policy-rc.d
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$deb" >/dev/null \
  || fail "apt-get install $deb failed"
getent passwd rampart >/dev/null || fail "no rampart user after install"
[ "$(stat -c '%a %U' /var/lib/rampart)" = "750 rampart" ] || fail "/var/lib/rampart is not 0750 rampart"
[ "$(stat -c '%a %U' /var/spool/rampart/drop)" = "3733 rampart" ] || fail "the drop directory is not 3733 rampart"

# clamd where Debian's clamav-daemon puts its socket, as the installed configuration expects
# (antivirus is on by default and fails closed, NC-2.3.2). freshclam cannot run here, so this
# clamd has a one-signature database of its own.
clamd_pid=""
if ! [ -S /run/clamav/clamd.ctl ]; then
  mkdir -p /run/clamav "$work/db"
  printf 'Rampart.Install.Check:0:*:72616d706172742d696e7374616c6c2d636865636b\n' > "$work/db/local.ndb"
  printf 'Foreground yes\nLocalSocket /run/clamav/clamd.ctl\nLocalSocketMode 666\nDatabaseDirectory %s\nPidFile %s\nTemporaryDirectory %s\nLogFile %s\n' \
    "$work/db" "$work/clamd.pid" "$work" "$work/clamd.log" > "$work/clamd.conf"
  /usr/sbin/clamd -c "$work/clamd.conf" >/dev/null 2>&1 &
  clamd_pid=$!
  for _ in $(seq 1 600); do [ -S /run/clamav/clamd.ctl ] && break; sleep 0.1; done
  [ -S /run/clamav/clamd.ctl ] || fail "clamd did not start (see $work/clamd.log)"
fi

# The administrator's first step: name the host (the listeners stay on loopback here).
sed -i 's/^hostname = "localhost.localdomain"$/hostname = "mail.agency.example"/' /etc/rampart/rampart.toml
grep -q '^hostname = "mail.agency.example"$' /etc/rampart/rampart.toml || fail "no hostname line in the installed configuration"

# sendmail(8) and mailq(1) through the alternatives system (NC-2.1.9). Where another MTA's
# package owns /usr/sbin/sendmail as a plain file (Postfix is installed for other tests here),
# the alternative is registered but cannot take the path; on a machine without one it does.
# The query's output is read whole before it is searched: update-alternatives writes line by
# line, so a `| grep -q` that exits at its match can make the next write die of SIGPIPE, which
# pipefail reports as a failure. That is the one way found in which this check fails while the
# alternative exists (a CI run failed here; it did not reproduce on this machine in 1,100 tries).
# On failure the query's output is printed, so that another cause would show itself.
alts=$(update-alternatives --query sendmail 2>&1) || { echo "$alts" >&2; fail "no sendmail alternative"; }
grep -q '^Alternative: /usr/sbin/rampart$' <<<"$alts" \
  || { echo "$alts" >&2; fail "no sendmail alternative for /usr/sbin/rampart"; }
if ! dpkg -S /usr/sbin/sendmail >/dev/null 2>&1; then
  [ "$(readlink -f /usr/sbin/sendmail)" = /usr/sbin/rampart ] || fail "/usr/sbin/sendmail is not rampart"
  [ "$(readlink -f /usr/bin/mailq)" = /usr/sbin/rampart ] || fail "/usr/bin/mailq is not rampart"
fi

# The unit's ExecStartPre and ExecStart, as the unit runs them.
unit=/lib/systemd/system/rampart.service
pre=$(sed -n 's/^ExecStartPre=//p' "$unit")
start=$(sed -n 's/^ExecStart=//p' "$unit")
as_service() {
  setpriv --reuid=rampart --regid=rampart --init-groups \
    --inh-caps=+net_bind_service --ambient-caps=+net_bind_service -- "$@"
}
# shellcheck disable=SC2086
as_service $pre >/dev/null || fail "ExecStartPre ($pre) failed"
# Not through the function: $! must be the server itself, so that it can be stopped.
# shellcheck disable=SC2086
setpriv --reuid=rampart --regid=rampart --init-groups \
  --inh-caps=+net_bind_service --ambient-caps=+net_bind_service -- $start >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 1 300); do
  grep -q '^listening on 127.0.0.1:25 ' "$work/out" 2>/dev/null && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/err" >&2; fail "the service exited at start"; }
  sleep 0.1
done
grep -q '^listening on 127.0.0.1:25 ' "$work/out" || { cat "$work/err" >&2; fail "the service did not listen on 127.0.0.1:25"; }
code=$(python3 -c 'import smtplib; s=smtplib.SMTP("127.0.0.1", 25, timeout=10); print(s.ehlo()[0]); s.quit()')
[ "$code" = 250 ] || fail "EHLO on 127.0.0.1:25 answered $code"

# A local user who is not root hands a message to sendmail (NC-2.1.9): it is written durably to
# the drop directory (exit 0), picked up by the service and delivered. Its sender is the
# caller's login at the domain of hostname (nobody@agency.example), which must be a local account.
cli() { as_service /usr/sbin/rampart --config /etc/rampart/rampart.toml "$@"; }
cli domain add agency.example >/dev/null || fail "rampart domain add failed"
head -c 24 /dev/urandom | base64 | cli user add nobody@agency.example --password-stdin >/dev/null \
  || fail "rampart user add failed"
printf 'Subject: install check\n\nfrom an unprivileged user\n' \
  | setpriv --reuid=nobody --regid=nogroup --clear-groups -- \
      /usr/sbin/rampart --config /etc/rampart/rampart.toml sendmail nobody@agency.example \
  || fail "sendmail as nobody failed"
delivered=""
for _ in $(seq 1 300); do
  listed=$(cli mailbox list nobody@agency.example --json 2>/dev/null || true)
  if grep -q '"sender":"nobody@agency.example"' <<<"$listed"; then delivered=1; break; fi
  sleep 0.1
done
if [ -z "$delivered" ]; then
  cli trace --since 10m >&2 || true
  fail "the message handed to sendmail was not delivered"
fi

kill "$pid"
wait "$pid" || fail "the service did not stop cleanly on SIGTERM"
pid=""

# Purge removes the data, the spool, the configuration and the user (and what needs an MTA,
# such as bsd-mailx: noted to be put back).
removed="$removed $(apt-get -s purge rampart 2>/dev/null | sed -n 's/^\(Purg\|Remv\) \([^ ]*\) .*/\2/p' | { grep -vx rampart || true; } | tr '\n' ' ')"
removed=$(echo $removed)
DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq rampart >/dev/null || fail "apt-get purge failed"
for p in /var/lib/rampart /var/spool/rampart /etc/rampart /usr/sbin/rampart; do
  [ ! -e "$p" ] || fail "$p is left after purge"
done
if getent passwd rampart >/dev/null; then fail "the rampart user is left after purge"; fi
if [ -n "$removed" ]; then
  names=$removed
  restore
  # shellcheck disable=SC2086
  dpkg -s $names >/dev/null 2>&1 || fail "could not put back $names"
fi
echo "check-install: ok (installed, started as the unit does, sendmail from an unprivileged user delivered, purged)"
