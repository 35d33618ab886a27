#!/usr/bin/env bash
# bench/run.sh: inbound SMTP throughput and latency of Rampart against Postfix, on this machine,
# over loopback. Each server (a fresh instance per run) goes through three phases, each followed
# by a wait for full local delivery and a count of the mailbox:
#   1. smtp-source (Postfix's load generator), plain SMTP: the headline msg/s, CPU and memory;
#   2. rampart-loadgen (ours), plain SMTP: msg/s and DATA-to-250 latency (p50, p99);
#   3. rampart-loadgen --starttls: msg/s, DATA-to-250 latency, set-up time, TLS resumptions.
#
#   bench/run.sh            full matrix: 1 KB, 10 KB, 100 KB x 1, 10, 50, 200 sessions, 3 runs
#                           each (12.5 min measured on the 2-core VM it was written on)
#   bench/run.sh --quick    10 KB at 50 sessions only (~1.5 min); same as QUICK=1
#
# Optional environment:
#   SIZES="1024 10240"      message payload sizes in bytes (body only, headers extra)
#   SESSIONS="1 50"         parallel sessions
#   MSGS=2000               smtp-source messages per cell for every cell (default: scaled per
#                           cell, see msgs_for)
#   LOADGEN=0               skip the two rampart-loadgen phases (and its build): smtp-source only,
#                           as before; also for commits older than 0d7c78d, which have no loadgen
#   LOADGEN_MSGS=1000       messages per rampart-loadgen phase for every cell (default: half the
#                           cell's smtp-source count, at least 100)
#   REPS=3                  runs of each cell, Rampart and Postfix alternating; the report gives
#                           the median and the range (default 3: the machine is shared, one run
#                           can be disturbed by someone else's build)
#   SETTLE=0                do not `sync` before each timed part (default 1: the dirty pages the
#                           previous run left, the other server's, are written back first, untimed,
#                           so that no run pays for the one before it)
#   SMTP_SOURCE_EXTRA="-d"  extra smtp-source flags, e.g. -d to send all messages of a session over
#                           one connection (default: one connection per message, as an MX sees)
#   RAMPART_CHECKS=on       run Rampart's content checks (all but antivirus); default off, since
#                           this Postfix runs no content filter. Their DNS lookups (SPF, DMARC,
#                           lists) go to a rampart-testdns started by the script: an SPF record
#                           for remote.test that passes 127.0.0.0/8, no DMARC record
#   RESULTS_DIR=DIR         where the report and logs go (default: a new /tmp/rampart-bench-results.*)
#   RAMPART_REV=HEAD        build and measure this commit's tree instead of the working tree
#   RAMPART_BIN=path        measure this rampart binary as it is, without building (an A/B of two
#                           builds on the same machine minutes apart); needs LOADGEN=0 and
#                           RAMPART_CHECKS=off (no rampart-loadgen or rampart-testdns is built)
#   WORK_BASE=/tmp          file system for both servers' data and queues (default /tmp; the full
#                           run keeps about 6 GB there until it ends)
#
# Must run as root: it installs Postfix if missing and starts a Postfix master (which runs as root
# and drops to the postfix user for its daemons). Every server it starts is stopped on exit,
# including on failure or Ctrl-C; message data, the throwaway CA and the TLS key live in a temp
# directory removed on exit.

# Functions called from traps and through wait_for look unreachable to shellcheck.
# shellcheck disable=SC2317
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PROCSTAT="$REPO/bench/procstat.py"

QUICK=${QUICK:-0}
for arg in "$@"; do
    case "$arg" in
        --quick) QUICK=1 ;;
        -h|--help) sed -n '2,/^$/p' "$0" | grep '^#'; exit 0 ;;
        *) echo "unknown argument: $arg (try --help)" >&2; exit 2 ;;
    esac
done
if [[ "$QUICK" == 1 ]]; then
    SIZES=${SIZES:-10240}
    SESSIONS=${SESSIONS:-50}
else
    SIZES=${SIZES:-1024 10240 102400}
    SESSIONS=${SESSIONS:-1 10 50 200}
fi
SMTP_SOURCE_EXTRA=${SMTP_SOURCE_EXTRA:-}
read -r -a EXTRA <<<"$SMTP_SOURCE_EXTRA"    # several flags: split into words once, here
REPS=${REPS:-3}
SETTLE=${SETTLE:-1}
LOADGEN=${LOADGEN:-1}
[[ "$LOADGEN" == 0 || "$LOADGEN" == 1 ]] || { echo "LOADGEN must be 0 or 1" >&2; exit 2; }

FROM=sender@remote.test
RCPT=alice@example.test

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "error: $*"; exit 1; }

[[ $EUID -eq 0 ]] || die "run as root (installs Postfix, starts a Postfix master)"

# Messages per cell and run. smtp-source only knows counts, not durations, so counts are chosen
# from rates measured on this 2-core machine (Postfix about 150-700 msg/s, Rampart about 100-2,500)
# to give the slower server roughly 5-10 s of load per run and keep the smtp-source phases of the
# full run (3 runs per cell) under 15 minutes.
msgs_for() {
    local size=$1 sess=$2
    if [[ -n "${MSGS:-}" ]]; then echo "$MSGS"; return; fi
    if [[ "$QUICK" == 1 ]]; then echo 3000; return; fi
    local n
    case "$sess" in
        1) n=800 ;;
        10) n=2000 ;;
        *) n=3000 ;;
    esac
    # 100 KB messages cost more in copying and disk writes for both servers.
    [[ "$size" -ge 102400 ]] && n=$(( n / 2 ))
    echo "$n"
}

# Messages per rampart-loadgen phase: half the smtp-source count, so that the two loadgen phases
# together send as many messages as the smtp-source phase and the full run stays under 20 minutes
# here (STARTTLS to Postfix at 1 session runs at about 50 msg/s). At least 100, so that p99 is
# not simply the slowest message.
loadgen_msgs_for() {
    local smtp_source_msgs=$1
    if [[ -n "${LOADGEN_MSGS:-}" ]]; then echo "$LOADGEN_MSGS"; return; fi
    local n=$(( smtp_source_msgs / 2 ))
    (( n < 100 )) && n=100
    echo "$n"
}

# ---------------------------------------------------------------------------------------------
# (a) Dependencies. Postfix is installed with debconf answering "No configuration", so the
# package neither writes /etc/postfix/main.cf nor starts a system-wide Postfix; we only use its
# binaries with our own configuration directory.
install_deps() {
    if ! command -v postfix >/dev/null || [[ ! -x /usr/sbin/smtp-source ]]; then
        log "installing postfix (no configuration, not started)"
        echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postfix >/dev/null \
            || { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive \
                 apt-get install -y --no-install-recommends postfix >/dev/null; }
    fi
    if ! command -v openssl >/dev/null; then
        log "installing openssl (the throwaway CA and certificate for STARTTLS)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends openssl >/dev/null
    fi
    if ! command -v python3 >/dev/null; then
        log "installing python3 (free ports, /proc sampling)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 >/dev/null
    fi
    SMTP_SOURCE=$(command -v smtp-source || echo /usr/sbin/smtp-source)
    [[ -x "$SMTP_SOURCE" ]] || die "smtp-source not found (it ships with Debian's postfix package)"
    POSTFIX_VERSION=$(postconf -d -h mail_version)
}

# (b) Build. By default the working tree, into the repository's target/ (other builds may hold
# cargo's lock on it; cargo then waits). With RAMPART_REV=<commit> the committed tree of that
# revision is exported to /var/tmp and built there with its own target dir, so the numbers belong
# to a known commit even while the working tree is being edited. The binaries (rampart and, unless
# LOADGEN=0, rampart-loadgen) are then copied into the work dir, so a rebuild by someone else
# during the run cannot swap them underneath us.
BUILD_CACHE=/var/tmp/rampart-bench-build
build_rampart() {
    local src target
    if [[ -n "${RAMPART_BIN:-}" ]]; then
        [[ "$LOADGEN" == 0 && "${RAMPART_CHECKS:-off}" == off ]] \
            || die "RAMPART_BIN needs LOADGEN=0 and RAMPART_CHECKS=off (nothing else is built)"
        [[ -x "$RAMPART_BIN" ]] || die "RAMPART_BIN=$RAMPART_BIN is not an executable file"
        RAMPART="$WORK/rampart"
        cp "$RAMPART_BIN" "$RAMPART"
        RAMPART_DESC="the binary $RAMPART_BIN (RAMPART_BIN, not built by the script)"
        log "measuring $RAMPART_BIN as it is (RAMPART_BIN)"
        return 0
    fi
    local packages=(-p rampart) what=rampart
    [[ "$LOADGEN" == 1 ]] && { packages+=(-p rampart-loadgen); what+=" and rampart-loadgen"; }
    [[ "${RAMPART_CHECKS:-off}" == on ]] && { packages+=(-p rampart-testdns); what+=" and rampart-testdns"; }
    if [[ -n "${RAMPART_REV:-}" ]]; then
        local sha
        sha=$(git -C "$REPO" rev-parse --verify "${RAMPART_REV}^{commit}")
        src="$BUILD_CACHE/src-$sha"
        target="$BUILD_CACHE/target"
        if [[ ! -f "$src/Cargo.toml" ]]; then
            mkdir -p "$src"
            git -C "$REPO" archive "$sha" | tar -x -C "$src"
        fi
        RAMPART_DESC="commit $sha (RAMPART_REV=$RAMPART_REV, built from the committed tree)"
        log "building $what $sha (release, committed tree in $src)"
    else
        src=$REPO
        target="$REPO/target"
        RAMPART_DESC="working tree at $(git -C "$REPO" rev-parse --short HEAD)"
        [[ -z $(git -C "$REPO" status --porcelain -- crates Cargo.toml Cargo.lock) ]] \
            || RAMPART_DESC+=" + uncommitted changes"
        log "building $what (release, working tree)"
    fi
    [[ "$LOADGEN" == 0 || -f "$src/crates/rampart-loadgen/Cargo.toml" ]] \
        || die "$src has no crates/rampart-loadgen (it came in commit 0d7c78d): use a later commit or LOADGEN=0"
    cargo build --release "${packages[@]}" --quiet --manifest-path "$src/Cargo.toml" \
        --target-dir "$target"
    [[ -x "$target/release/rampart" ]] || die "build produced no $target/release/rampart"
    RAMPART="$WORK/rampart"
    cp "$target/release/rampart" "$RAMPART"
    if [[ "$LOADGEN" == 1 ]]; then
        [[ -x "$target/release/rampart-loadgen" ]] \
            || die "build produced no $target/release/rampart-loadgen"
        LOADGEN_BIN="$WORK/rampart-loadgen"
        cp "$target/release/rampart-loadgen" "$LOADGEN_BIN"
    fi
    if [[ "${RAMPART_CHECKS:-off}" == on ]]; then
        [[ -x "$target/release/rampart-testdns" ]] \
            || die "build produced no $target/release/rampart-testdns"
        TESTDNS_BIN="$WORK/rampart-testdns"
        cp "$target/release/rampart-testdns" "$TESTDNS_BIN"
    fi
}

# RAMPART_CHECKS=on: one local DNS server for the whole run, so the checks' lookups (SPF, DMARC,
# blocklists) are answered at once and the same way every run; the sandbox's resolver drops
# concurrent lookups, which Rampart answers with 451 (failing closed). The server stops when its
# stdin closes: the script holds the write end of a FIFO, so it ends with the script.
start_testdns() {
    local d="$WORK/dns"
    mkdir -p "$d"
    printf '%s\n' '# SPF passes the bench senders (127.0.0.1); no DMARC record, so DMARC is none.' \
        'remote.test TXT "v=spf1 ip4:127.0.0.0/8 -all"' >"$d/records"
    mkfifo "$d/stdin"
    "$TESTDNS_BIN" --records "$d/records" <"$d/stdin" >"$d/stdout" 2>"$d/stderr" &
    TESTDNS_PID=$!
    exec {TESTDNS_FD}>"$d/stdin"
    wait_for 15 grep -qs '^listening on ' "$d/stdout" \
        || die "rampart-testdns did not start: $(cat "$d/stderr")"
    TESTDNS_ADDR=$(sed -n 's/^listening on \(127\.0\.0\.1:[0-9][0-9]*\)$/\1/p' "$d/stdout" | head -1)
    [[ -n "$TESTDNS_ADDR" ]] || die "no address from rampart-testdns: $(cat "$d/stdout")"
    log "test DNS for the checks on $TESTDNS_ADDR"
}

stop_testdns() {
    [[ -n "${TESTDNS_FD:-}" ]] && { exec {TESTDNS_FD}>&-; TESTDNS_FD=""; }
    alive "$TESTDNS_PID" || { TESTDNS_PID=""; return 0; }
    kill -TERM "$TESTDNS_PID"
    wait "$TESTDNS_PID" 2>/dev/null || true
    TESTDNS_PID=""
}

# A throwaway CA and an ECDSA P-256 leaf for localhost (SAN DNS:localhost, IP:127.0.0.1), valid
# for 2 days, in $WORK/tls. Both servers get the leaf; rampart-loadgen trusts only the CA and
# checks the name localhost. The keys are PKCS#8 PEM, readable by root only: Rampart runs as
# root here, and Postfix's smtpd reads its key as root before dropping privileges.
make_certificates() {
    TLS_DIR="$WORK/tls"
    mkdir -p "$TLS_DIR"
    local d=$TLS_DIR
    {
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -noenc -days 2 -sha256 \
            -subj "/CN=Rampart bench throwaway CA" -keyout "$d/ca.key" -out "$d/ca.pem" \
            -addext "basicConstraints=critical,CA:TRUE" \
            -addext "keyUsage=critical,keyCertSign,cRLSign"
        openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -noenc \
            -subj "/CN=localhost" -keyout "$d/key.pem" -out "$d/leaf.csr"
        printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
            "extendedKeyUsage=serverAuth" "subjectAltName=DNS:localhost,IP:127.0.0.1" >"$d/leaf.ext"
        openssl x509 -req -in "$d/leaf.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
            -days 2 -sha256 -extfile "$d/leaf.ext" -out "$d/cert.pem"
        openssl verify -CAfile "$d/ca.pem" "$d/cert.pem"
    } >"$d/openssl.log" 2>&1 || die "making the TLS certificates failed: $(cat "$d/openssl.log")"
    chmod 600 "$d/ca.key" "$d/key.pem"
    TLS_DESC="ECDSA P-256 leaf for localhost (SAN DNS:localhost, IP:127.0.0.1), signed by a throwaway CA"
}

# ---------------------------------------------------------------------------------------------
# Bookkeeping for cleanup: whatever is running is recorded here and stopped on exit.
WORK=""
RAMPART_PID=""
PF_CONF=""
PF_MASTER=""
SAMPLER_PID=""
TESTDNS_PID=""
TESTDNS_ADDR=""

cleanup() {
    local rc=$?
    set +e
    [[ -n "$SAMPLER_PID" ]] && kill "$SAMPLER_PID" 2>/dev/null
    stop_rampart
    stop_postfix
    stop_testdns
    [[ -n "$WORK" && -d "$WORK" ]] && rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
# set -e stops silently; say where.
trap 'log "failed (exit $?) at line $LINENO: $BASH_COMMAND"' ERR
trap 'exit 130' INT
trap 'exit 143' TERM

# Polls "$@" (a command) every 0.1 s until it succeeds or $1 seconds pass.
wait_for() {
    local secs=$1; shift
    local end=$(( SECONDS + secs ))
    until "$@"; do
        (( SECONDS < end )) || return 1
        sleep 0.1
    done
}

alive() { [[ -n "$1" ]] && kill -0 "$1" 2>/dev/null; }

# Waits for a PID we started to disappear; true when it did.
wait_gone() {
    local pid=$1 secs=$2
    wait_for "$secs" bash -c "! kill -0 $pid 2>/dev/null"
}

# ---------------------------------------------------------------------------------------------
# (c) Rampart: a fresh data directory per run, listener on 127.0.0.1:0 (the kernel picks the
# port; Rampart prints it).
case "${RAMPART_CHECKS:-off}" in
    off) RAMPART_DISABLED='["antivirus", "attachments", "urls", "spam", "dlp", "external", "authentication"]' ;;
    on) RAMPART_DISABLED='["antivirus"]' ;;
    *) echo "RAMPART_CHECKS must be off or on" >&2; exit 2 ;;
esac

start_rampart() {
    local dir=$1
    mkdir -p "$dir"
    R_CONF="$dir/rampart.toml"
    cat >"$R_CONF" <<EOF
hostname = "mail.example.test"
data_dir = "$dir/data"
# Short grace so a stuck session cannot hold up the benchmark at shutdown.
shutdown_grace_secs = 5
[log]
level = "warn"
[tls]
# The bench's ECDSA P-256 leaf. Session resumption stays at Rampart's default (rustls': an
# in-memory session cache, TLS 1.3 tickets that refer to it).
cert = "$TLS_DIR/cert.pem"
key = "$TLS_DIR/key.pem"
[[listener]]
role = "mx"
address = "127.0.0.1:0"
greeting_delay_ms = 0
[limits]
# All load comes from 127.0.0.1: the per-address cap (default 50) would refuse 200 sessions.
max_connections_per_ip = 1000
max_messages_per_session = 100000
[ids]
# Every bench client connects from 127.0.0.1, thousands of connections a minute: without this,
# intrusion prevention bans loopback as a connection flood (300 in 60 s) after the first 300
# messages and every later connection gets 554. Postfix runs no anvil limits here either.
allow = ["127.0.0.0/8"]
[checks]
# Comparable work (RAMPART_CHECKS=off, the default): Postfix here runs no content filter, so
# Rampart's checks are off too. RAMPART_CHECKS=on measures them (all but antivirus: no clamd).
disabled = $RAMPART_DISABLED
EOF
    if [[ -n "$TESTDNS_ADDR" ]]; then
        printf '[dns]\n# The script'"'"'s rampart-testdns (RAMPART_CHECKS=on).\nservers = ["%s"]\n' \
            "$TESTDNS_ADDR" >>"$R_CONF"
    fi
    # bench/pg_nodes.sh: RAMPART_EXTRA_TOML adds tables (its [store]); RAMPART_SETUP=0 skips
    # the domain and user, which a second node on the same database already has.
    [[ -n "${RAMPART_EXTRA_TOML:-}" ]] && printf '%s\n' "$RAMPART_EXTRA_TOML" >>"$R_CONF"
    if [[ "${RAMPART_SETUP:-1}" == 1 ]]; then
        "$RAMPART" --config "$R_CONF" domain add example.test >/dev/null
        printf 'a-long-password-123\n' \
            | "$RAMPART" --config "$R_CONF" user add "$RCPT" --password-stdin >/dev/null
    fi
    "$RAMPART" --config "$R_CONF" serve >"$dir/stdout" 2>"$dir/stderr" &
    RAMPART_PID=$!
    R_STDERR="$dir/stderr"
    wait_for 15 grep -qs '^data directory:' "$dir/stdout" \
        || die "rampart did not start: $(cat "$dir/stderr")"
    PORT=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9][0-9]*\) (mx)$/\1/p' "$dir/stdout" | head -1)
    [[ -n "$PORT" ]] || die "no 'listening on' line from rampart: $(cat "$dir/stdout")"
    SERVER_PID=$RAMPART_PID
}

stop_rampart() {
    alive "$RAMPART_PID" || { RAMPART_PID=""; return 0; }
    kill -TERM "$RAMPART_PID"
    wait_gone "$RAMPART_PID" 20 || { log "rampart ignored SIGTERM; killing"; kill -KILL "$RAMPART_PID"; }
    wait "$RAMPART_PID" 2>/dev/null || true
    RAMPART_PID=""
}

rampart_delivered() {
    "$RAMPART" --config "$R_CONF" mailbox list "$RCPT" | wc -l
}

# Postfix: its own configuration directory, queue and data directories, a loopback listener on a
# port chosen now, mydestination = example.test, and alias alice -> a Maildir, so local(8)
# delivers each message to a file (as user nobody, Postfix's default_privs for alias
# destinations). STARTTLS is offered (security level may) with the bench's certificate.
# Everything else is Postfix's default: in particular cleanup(8) fsyncs each queue file before
# smtpd answers 250, and local(8) fsyncs each Maildir file before it reports success; for TLS, no
# session cache database (smtpd_tls_session_cache_database empty) and session tickets on, their
# keys from tlsmgr(8), which master.cf therefore runs; randomness from tls_random_source's default
# dev:/dev/urandom, reachable since nothing is chrooted.
# chroot is off (column 5) because the chroot would need copies of /etc files.
start_postfix() {
    local dir=$1
    local conf="$dir/conf"
    mkdir -p "$conf" "$dir/queue" "$dir/data" "$dir/maildir"
    chmod 755 "$dir"                          # local(8) runs as nobody and must reach the Maildir
    chown postfix "$dir/data"
    chown nobody:nogroup "$dir/maildir"
    PORT=$(python3 "$PROCSTAT" freeport)
    cat >"$conf/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $dir/queue
data_directory = $dir/data
myhostname = postfix.example.test
mydomain = example.test
mydestination = example.test
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
alias_maps = hash:$conf/aliases
alias_database = hash:$conf/aliases
# Log to a file (no syslog daemon here) through postlogd, as Postfix 3.4+ does without syslog.
maillog_file = $dir/maillog
maillog_file_prefixes = $dir
# Default is 100 processes per service: 200 sessions need 200 smtpd processes at once.
default_process_limit = 250
biff = no
# STARTTLS offered, not required (as on a public MX).
smtpd_tls_security_level = may
smtpd_tls_cert_file = $TLS_DIR/cert.pem
smtpd_tls_key_file = $TLS_DIR/key.pem
EOF
    cat >"$conf/master.cf" <<EOF
# service type  private unpriv  chroot  wakeup  maxproc command
127.0.0.1:$PORT inet n  -       n       -       -       smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
EOF
    echo "${RCPT%@*}: $dir/maildir/" >"$conf/aliases"
    postalias -c "$conf" "$conf/aliases"
    PF_CONF=$conf
    PF_LOG="$dir/maillog"
    PF_MAILDIR="$dir/maildir"
    # "check" creates the queue subdirectories with Postfix's own owners and modes.
    postfix -c "$conf" check >"$dir/postfix-start.log" 2>&1 \
        || die "postfix check failed: $(cat "$dir/postfix-start.log")"
    postfix -c "$conf" start >>"$dir/postfix-start.log" 2>&1 \
        || die "postfix start failed: $(cat "$dir/postfix-start.log" "$dir/maillog" 2>/dev/null)"
    wait_for 15 test -s "$dir/queue/pid/master.pid" || die "postfix did not start: $(cat "$PF_LOG")"
    PF_MASTER=$(tr -d ' \n' <"$dir/queue/pid/master.pid")
    wait_for 15 bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT" 2>/dev/null \
        || die "postfix does not accept on port $PORT: $(cat "$PF_LOG")"
    SERVER_PID=$PF_MASTER
}

stop_postfix() {
    [[ -n "$PF_CONF" ]] || return 0
    postfix -c "$PF_CONF" stop >/dev/null 2>&1 || true
    if alive "$PF_MASTER" && ! wait_gone "$PF_MASTER" 20; then
        log "postfix master $PF_MASTER still running; aborting it"
        postfix -c "$PF_CONF" abort >/dev/null 2>&1 || kill -KILL "$PF_MASTER" 2>/dev/null || true
        wait_gone "$PF_MASTER" 5 || true
    fi
    PF_CONF=""
    PF_MASTER=""
}

# Counts messages delivered to alice's Maildir; a message only counts once the queue is empty too.
postfix_delivered() {
    find "$PF_MAILDIR/new" -type f 2>/dev/null | wc -l
}

postfix_queue_empty() {
    grep -q '^Mail queue is empty' <<<"$(postqueue -c "$PF_CONF" -p 2>/dev/null)"
}

# ---------------------------------------------------------------------------------------------
# (d) One measurement: a fresh server, three phases on it, each followed by a delivery check,
# then stop.
#
# Phase 1, smtp-source. The warm-up (2 messages per session) is not timed: it lets Postfix spawn
# its smtpd/cleanup processes and Rampart its threads, so the timed part is the steady state, for
# both alike. "accept" rate: messages / wall time of smtp-source, i.e. until the last 250 after
# DATA. "e2e" rate: messages / time until every message is in alice's mailbox (polled every 0.1 s
# after smtp-source ends). Server CPU, memory and TCP counters cover this phase only: the memory
# sampler is stopped, and Rampart's VmHWM read, before phase 2 starts.
#
# Phases 2 and 3 (unless LOADGEN=0), rampart-loadgen plain, then with STARTTLS, on the same
# server: each phase has its own warm-up of LG_WARMUP messages per session (for STARTTLS, it also
# fills the client's TLS session cache, so the timed part resumes where the server allows), then
# the timed messages; then a wait until all of them, warm-up included, are in the mailbox.
# rampart-loadgen's rate is messages / time from its first connect to its last 250, like
# smtp-source's; its DATA-to-250 latency runs from writing <CRLF>.<CRLF> to reading the 250.
LG_WARMUP=1

# Lines in the server's log so far; phase boundaries in the log are taken this way, so that
# each phase is judged by the log lines written during it (approximately: Postfix writes its
# log through postlogd, a line may land a moment later).
log_lines() {
    local f=$R_STDERR
    [[ $1 == postfix ]] && f=$PF_LOG
    if [[ -f "$f" ]]; then wc -l <"$f"; else echo 0; fi
}

# Postfix warnings that are no failure, counted apart and shown as notes: qmgr's warning that
# one destination fills the active queue (local delivery is slower than reception here), and
# cleanup's "file system clock is 1 seconds ahead of local clock" (file time stamps are finer
# grained than time(2) and can cross a second boundary first; Postfix then resets the stamps,
# which costs it a little).
PF_NOTES='active queue entries|you may need to increase|please avoid flushing|lots of deferred mail|qmgr_clog_warn_time|file system clock is .* ahead of local clock|resetting file time stamps'

# Judges one phase by its lines FROM+1 .. TO (TO empty: to the end) of the server log LOG, after
# the ISSUES already found (";"-separated, may be empty). Problem lines go to OUT: Rampart's
# stderr beyond the warnings this set-up causes ("running as root"; each check "switched off"
# with RAMPART_CHECKS=off; the 2-day certificate "expires soon"; no integrity baseline in /etc);
# Postfix's lines at warning level or worse, rejections
# and failed TLS handshakes, apart from PF_NOTES. Echoes the status: the issues and the number
# of problem lines; or "ok", with the notes in brackets if any.
phase_status() {
    local server=$1 log=$2 from=$3 to=$4 out=$5 issues=$6
    awk -v a="$from" -v b="$to" 'NR > a && (b == "" || NR <= b)' "$log" >"$out.part"
    if [[ $server == rampart ]]; then
        grep -Ev 'running as root|checks? (is )?switched off|certificate expires soon|no integrity baseline' "$out.part" >"$out" || true
    else
        grep -E 'warning:|error:|fatal:|panic:|reject:|SSL_accept error' "$out.part" \
            | grep -Ev "$PF_NOTES" >"$out" || true
    fi
    local problems
    problems=$(wc -l <"$out")
    (( problems > 0 )) && issues+="${issues:+;}$problems server log lines"
    local notes=()
    if [[ $server == postfix ]]; then
        grep -q 'active queue entries' "$out.part" && notes+=("qmgr: local delivery congested")
        grep -q 'file system clock is' "$out.part" && notes+=("cleanup: file system clock ahead")
    fi
    rm -f "$out.part"
    if [[ -n $issues ]]; then
        echo "$issues"
    elif (( ${#notes[@]} )); then
        local joined
        joined=$(printf '%s, ' "${notes[@]}")
        echo "ok (${joined%, })"
    else
        echo ok
    fi
}

# One rampart-loadgen phase (plain or starttls) against the running server; BASE = messages in the
# mailbox before it. Measures, waits for delivery and leaves the row without its status in
# LG_ROW[phase] and the problems found so far in LG_ISSUES[phase]; run_cell adds what the
# server's log says once the server has stopped, and writes the row.
declare -A LG_ROW LG_ISSUES
LG_GOT=0
loadgen_phase() {
    local phase=$1 server=$2 size=$3 sess=$4 m=$5 logs=$6 base=$7
    local tls=()
    [[ $phase == starttls ]] && tls=(--starttls --tls-ca "$TLS_DIR/ca.pem" --tls-name localhost)
    local out="$logs/loadgen-$phase"
    local rc=0 cpu0 cpu1 ovf0 syn0 ovf1 syn1
    read -r ovf0 syn0 < <(python3 "$PROCSTAT" tcp)
    cpu0=$(python3 "$PROCSTAT" cpu "$SERVER_PID")
    TIMEFORMAT='%3R %3U %3S'
    { time timeout 900 "$LOADGEN_BIN" --server "127.0.0.1:$PORT" --sessions "$sess" \
        --messages "$m" --size "$size" --from "$FROM" --to "$RCPT" --warmup "$LG_WARMUP" \
        --timeout-secs 60 "${tls[@]}" >"$out.json" 2>"$out.err"; } 2>"$out.time" || rc=$?
    local want=$(( base + sess * LG_WARMUP + m ))
    wait_for 300 all_delivered "$want" || true
    cpu1=$(python3 "$PROCSTAT" cpu "$SERVER_PID")
    read -r ovf1 syn1 < <(python3 "$PROCSTAT" tcp)
    local got
    got=$(delivered)
    LG_GOT=$got

    local ok errs cerr wok wfail wall rate p50 p90 p99 max sp50 sp99 conns resumed
    read -r ok errs cerr wok wfail wall rate p50 p90 p99 max sp50 sp99 conns resumed \
        < <(python3 "$REPO/bench/report.py" loadgen-fields "$out.json")
    local issues=()
    [[ $rc -ne 0 ]] && issues+=("rampart-loadgen rc=$rc")
    [[ $ok -ne $m ]] && issues+=("$ok of $m got 250")
    [[ $errs != - ]] && issues+=("errors $errs")
    [[ $cerr -ne 0 ]] && issues+=("$cerr connect errors")
    [[ $wfail -ne 0 ]] && issues+=("$wfail warm-up messages failed")
    [[ $got -ne $want ]] && issues+=("delivered $(( got - base )) of $(( want - base ))")
    (( ovf1 - ovf0 > 0 )) && issues+=("listen queue overflowed $(( ovf1 - ovf0 ))x, $(( syn1 - syn0 )) SYN retransmits")
    LG_ISSUES[$phase]=$(IFS=';'; echo "${issues[*]}")

    local el us sy
    read -r el us sy <"$out.time" || { el=0; us=0; sy=0; }
    # Columns (bench/report.py reads them; status is added last by run_cell): server size
    # sessions run phase msgs messages_ok errors connect_errors warmup_ok warmup_failed wall_secs
    # msgs_per_sec p50 p90 p99 max setup_p50 setup_p99 (us) connections tls_resumed delivered
    # expected (both for this phase) server_cpu gen_cpu (CPU seconds over the whole phase:
    # warm-up and the wait for delivery included) listen_overflows syn_retransmits
    LG_ROW[$phase]=$(printf '%s\t' "$server" "$size" "$sess" "$RUN" "$phase" "$m" "$ok" "$errs" \
        "$cerr" "$wok" "$wfail" "$wall" "$rate" "$p50" "$p90" "$p99" "$max" "$sp50" "$sp99" \
        "$conns" "$resumed" "$(( got - base ))" "$(( want - base ))" \
        "$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN{printf "%.2f", b-a}')" \
        "$(awk -v u="$us" -v s="$sy" 'BEGIN{printf "%.2f", u+s}')" \
        $(( ovf1 - ovf0 )) $(( syn1 - syn0 )))
    local resumed_note=""
    [[ $phase == starttls ]] && resumed_note=", $resumed/$conns resumed, set-up p50 $(ms "$sp50") ms"
    log "$CELL loadgen $phase: $ok msgs at $(printf '%.0f' "$rate") msg/s, DATA-to-250 p50 $(ms "$p50") p99 $(ms "$p99") ms$resumed_note${LG_ISSUES[$phase]:+; ${LG_ISSUES[$phase]}}"
}

ms() { awk -v us="$1" 'BEGIN { printf "%.2f", us / 1000 }'; }

run_cell() {
    local server=$1 size=$2 sess=$3 n=$4 lg_n=$5 run=$6
    local cell="$server-${size}B-${sess}s-run$run"
    local dir="$WORK/$cell"
    local warm=$(( sess * 2 ))
    local logs="$RESULTS_DIR/logs/$cell"
    mkdir -p "$logs"
    CELL=$cell
    RUN=$run

    if [[ $server == rampart ]]; then start_rampart "$dir"; else start_postfix "$dir"; fi
    python3 "$PROCSTAT" sample "$SERVER_PID" "$logs/mem" 0.5 &
    SAMPLER_PID=$!

    delivered() {
        if [[ $server == rampart ]]; then rampart_delivered; else postfix_delivered; fi
    }
    all_delivered() {
        local want=$1
        [[ $(delivered) -ge $want ]] || return 1
        [[ $server == rampart ]] || postfix_queue_empty
    }

    # Phase 1: smtp-source.
    local rc=0
    "$SMTP_SOURCE" -s "$sess" -m "$warm" -l "$size" -f "$FROM" -t "$RCPT" "${EXTRA[@]}" \
        "127.0.0.1:$PORT" >"$logs/warmup.out" 2>&1 || rc=$?
    wait_for 60 all_delivered "$warm" || true

    local cpu0 busy0 t0 t2 ovf0 syn0 ovf1 syn1
    # Neither server pays for the other's files: what the run before left for the kernel to
    # write back (its mailbox, queue and database pages) is written now, untimed (SETTLE=0: not).
    [[ "$SETTLE" == 1 ]] && sync
    grep -E '^(Dirty|Writeback):' /proc/meminfo | tr -s ' ' >"$logs/dirty-at-start"
    read -r ovf0 syn0 < <(python3 "$PROCSTAT" tcp)
    cpu0=$(python3 "$PROCSTAT" cpu "$SERVER_PID")
    busy0=$(python3 "$PROCSTAT" busy)       # taken last, right before t0: see "other%"
    t0=$(date +%s.%N)
    # smtp-source gives up on the first unexpected reply (no -A), so any 4xx/5xx shows as rc != 0
    # and its message lands in smtp-source.err.
    TIMEFORMAT='%3R %3U %3S'
    { time timeout 900 "$SMTP_SOURCE" -s "$sess" -m "$n" -l "$size" -f "$FROM" -t "$RCPT" \
        "${EXTRA[@]}" "127.0.0.1:$PORT" >"$logs/smtp-source.out" 2>"$logs/smtp-source.err"; } \
        2>"$logs/time" || rc=$?
    local want=$(( warm + n ))
    wait_for 300 all_delivered "$want" || true
    t2=$(date +%s.%N)
    local cpu1 busy1 got
    busy1=$(python3 "$PROCSTAT" busy)       # first, right after t2
    cpu1=$(python3 "$PROCSTAT" cpu "$SERVER_PID")
    read -r ovf1 syn1 < <(python3 "$PROCSTAT" tcp)
    got=$(delivered)
    local el us sy                          # elapsed user sys of smtp-source
    read -r el us sy <"$logs/time" || { el=0; us=0; sy=0; }
    log "$cell smtp-source: $n msgs in ${el}s -> $(awk -v n="$n" -v e="$el" 'BEGIN{ if (e>0) printf "%.0f", n/e; else print "-" }') msg/s; delivered $got of $want"

    local hwm=0
    [[ $server == rampart ]] && hwm=$(python3 "$PROCSTAT" hwm "$RAMPART_PID")
    kill "$SAMPLER_PID" 2>/dev/null || true
    wait "$SAMPLER_PID" 2>/dev/null || true
    SAMPLER_PID=""
    local marks=("$(log_lines "$server")")   # where each later phase starts in the server log

    # Phases 2 and 3: rampart-loadgen, plain and STARTTLS.
    if [[ "$LOADGEN" == 1 ]]; then
        loadgen_phase plain "$server" "$size" "$sess" "$lg_n" "$logs" "$got"
        marks+=("$(log_lines "$server")")
        loadgen_phase starttls "$server" "$size" "$sess" "$lg_n" "$logs" "$LG_GOT"
    fi

    local slog
    if [[ $server == rampart ]]; then
        stop_rampart
        slog=$R_STDERR
        cp "$R_STDERR" "$logs/server.stderr"
    else
        local sent
        sent=$(grep -c 'status=sent' "$PF_LOG" || true)
        echo "status=sent lines: $sent" >"$logs/postfix-sent"
        stop_postfix
        slog=$PF_LOG
        cp "$PF_LOG" "$logs/maillog"
    fi
    # The data stays until the whole run ends (cleanup removes it): deleting thousands of files
    # here would slow down file creation in the next runs. On ext4 without a journal (as on the
    # machine this was written on) every new inode is checked against recently deleted ones.

    local issues=()
    [[ $rc -ne 0 ]] && issues+=("smtp-source rc=$rc")
    [[ $got -ne $want ]] && issues+=("delivered $got of $want")
    # The server's listen queue overflowed: SYNs were dropped and those clients waited >= 1 s.
    (( ovf1 - ovf0 > 0 )) && issues+=("listen queue overflowed $(( ovf1 - ovf0 ))x, $(( syn1 - syn0 )) SYN retransmits")
    local status
    status=$(phase_status "$server" "$slog" 0 "${marks[0]}" "$logs/server-problems" \
        "$(IFS=';'; echo "${issues[*]}")")

    local rss pss procs
    read -r rss pss procs _ <"$logs/mem" || { rss=0; pss=0; procs=0; }
    # Columns (bench/report.py reads them): server size sessions run msgs accept_secs e2e_secs
    # server_cpu gen_cpu rampart_hwm_kb peak_rss_kb peak_pss_kb peak_procs delivered expected
    # status machine_busy_cpu listen_overflows syn_retransmits
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
        "$server" "$size" "$sess" "$run" "$n" "$el" \
        "$(awk -v a="$t0" -v b="$t2" 'BEGIN{printf "%.3f", b-a}')" \
        "$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN{printf "%.2f", b-a}')" \
        "$(awk -v u="$us" -v s="$sy" 'BEGIN{printf "%.2f", u+s}')" \
        "$hwm" "$rss" "$pss" "$procs" "$got" "$want" "$status" \
        "$(awk -v a="$busy0" -v b="$busy1" 'BEGIN{printf "%.2f", b-a}')" \
        $(( ovf1 - ovf0 )) $(( syn1 - syn0 )) >>"$RESULTS_DIR/raw.tsv"
    local summary="smtp-source $status"

    # Phases 2 and 3 are judged by their own lines of the server log.
    if [[ "$LOADGEN" == 1 ]]; then
        local i phase to phases=(plain starttls)
        for i in 0 1; do
            phase=${phases[$i]}
            to=""
            (( i == 0 )) && to=${marks[1]}
            status=$(phase_status "$server" "$slog" "${marks[$i]}" "$to" \
                "$logs/server-problems-loadgen-$phase" "${LG_ISSUES[$phase]}")
            printf '%s%s\n' "${LG_ROW[$phase]}" "$status" >>"$RESULTS_DIR/loadgen.tsv"
            summary+="; loadgen $phase $status"
        done
    fi
    log "$cell: $summary"
}

# ---------------------------------------------------------------------------------------------
# (e) The report.
# File system type and device of DIR, and for ext4 whether it has a journal: without one, every
# file creation is checked against recently deleted inodes, which makes creating files slower
# the more files were deleted in the last minutes (both servers create files per message).
fs_description() {
    local src fstype journal=""
    read -r src fstype < <(findmnt -n -o SOURCE,FSTYPE -T "$1")
    if [[ $fstype == ext4 && -r /sys/fs/ext4/${src##*/}/journal_task ]]; then
        if [[ $(cat "/sys/fs/ext4/${src##*/}/journal_task") == "<none>" ]]; then
            journal=", no journal"
        else
            journal=", journaled"
        fi
    fi
    echo "$fstype on $src$journal"
}

print_report() {
    local raw="$RESULTS_DIR/raw.tsv" lg="$RESULTS_DIR/loadgen.tsv"
    local conn_mode="one connection per message"
    [[ " $SMTP_SOURCE_EXTRA " == *" -d "* ]] && conn_mode="each session sends its messages over one connection (-d)"
    local checks="Rampart's content checks OFF (RAMPART_CHECKS=off), since this Postfix runs no
          content filter: disabled = $RAMPART_DISABLED"
    [[ "${RAMPART_CHECKS:-off}" == on ]] && checks="Rampart's content checks ON (RAMPART_CHECKS=on), all but antivirus (no clamd
          here), DNS answered by a local rampart-testdns; this Postfix runs no content filter, so the
          work differs"
    local lg_count="half the cell's smtp-source count (at least 100)"
    [[ -n "${LOADGEN_MSGS:-}" ]] && lg_count="$LOADGEN_MSGS for every cell (LOADGEN_MSGS)"
    cat <<EOF
Rampart vs Postfix: inbound SMTP over loopback, same load generators and flags for both servers
date:     $(date -u '+%Y-%m-%d %H:%M:%S UTC')
machine:  $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo) RAM, kernel $(uname -r)
disk:     $(fs_description "$WORK") (both servers' data and queues);
          $FSYNC_PROBE
rampart:  $RAMPART_DESC, release build
postfix:  $POSTFIX_VERSION (Debian package), own config dir, loopback listener, no chroot
checks:   $checks
TLS:      $TLS_DESC;
          both servers offer STARTTLS (not required) in every phase, so both load the
          certificate in plain phases too (Postfix: each smtpd process at its start); TLS 1.2
          and 1.3 on all sides, 1.3 chosen;
          session resumption at each server's default (Rampart: rustls' in-memory session
          cache; Postfix: session tickets keyed by tlsmgr, no session cache database)

What each server did (both: durable queueing, i.e. the message is fsync'd before the 250, and
local delivery to alice's mailbox):
  Rampart: 250 after DATA only once the SQLite (WAL, synchronous=FULL) commit holding the
           message's rows is fsync'd (group commit across sessions); a message up to 128 KiB is
           in that commit itself, a larger one is a file fdatasync'd before it, with its
           directory fsync'd (docs/DURABILITY.md); local delivery = a mailbox row in SQLite
           pointing at the one stored copy, in that same commit (nothing is rechecked at
           delivery in this configuration).
  Postfix: smtpd -> cleanup, which fsyncs the queue file before smtpd answers 250 (Postfix
           default); qmgr -> local(8), which writes each message to alice's Maildir (alias
           alice -> Maildir/, run as nobody) and fsyncs it.

Each run: a fresh server, then the phases below on it, each followed by a wait until every
message (warm-ups included) is in the mailbox and a check of the count (rampart mailbox list;
Maildir files plus an empty Postfix queue):
  1. smtp-source (Postfix's load generator), plain SMTP:
       $SMTP_SOURCE -s SESSIONS -m MSGS -l SIZE -f $FROM -t $RCPT ${SMTP_SOURCE_EXTRA:+$SMTP_SOURCE_EXTRA }127.0.0.1:PORT
       (SIZE = body bytes, headers extra; HELO, no PIPELINING, no TLS; $conn_mode);
       warm-up 2 messages per session, not timed. "accept" = MSGS / smtp-source wall time
       (until the last 250); "e2e" = MSGS / time until every message is in the mailbox.
EOF
    if [[ "$LOADGEN" == 1 ]]; then
        cat <<EOF
  2. rampart-loadgen (ours, built with Rampart), plain SMTP:
       rampart-loadgen --server 127.0.0.1:PORT --sessions SESSIONS --messages N --size SIZE
         --from $FROM --to $RCPT --warmup $LG_WARMUP --timeout-secs 60
       (EHLO, no PIPELINING, no TLS, one connection per message, one thread);
       N = $lg_count;
       warm-up $LG_WARMUP message(s) per session, not timed. msg/s = N / time from its first
       connect to its last 250; DATA-to-250 = from writing <CRLF>.<CRLF> to reading the 250.
  3. the same with --starttls --tls-ca ca.pem --tls-name localhost: STARTTLS on every
       connection, the certificate verified, the client's TLS session cache on (rustls' default).
EOF
    else
        echo "  (LOADGEN=0: the rampart-loadgen phases were skipped.)"
    fi
    echo
    python3 "$REPO/bench/report.py" "$raw" "$(nproc)" "$lg"
    cat <<EOF

  us/msg     = user+system CPU microseconds per message of the server during phase 1's timed
               part, delivery included (Rampart: all threads; Postfix: all processes, including
               daemons that exited meanwhile); gen = the same for smtp-source
  r peak MB  = VmHWM of Rampart's one process (the kernel's peak RSS), read at the end of phase 1
  p Pss/RSS  = Postfix: highest sum over all its processes, sampled every 0.5 s during phase 1, of
               Pss (shared pages split between the processes mapping them) and of RSS (shared
               pages counted in every process); procs = most Postfix processes seen at once
  other%     = CPU used by everything else on the machine (other people's builds, this harness's
               sampling and polling) as a share of all $(nproc) CPUs during the timed part; high
               values mean the cell was disturbed
  SYN drops  = listen queue overflows (kernel TcpExt ListenOverflows) summed over the runs, for
               Rampart / Postfix: each dropped SYN makes that client wait 1 s (then 3 s, 7 s)
               before it connects; a few of them dominate a run that lasts 1-2 s. Listen queue
               sizes: Rampart 4096 (its listeners' backlog; the kernel caps it at
               net.core.somaxconn), Postfix = its process limit (250 in this configuration)
  status     = ok, or what went wrong; "ok; postfix <note>" = Postfix logged a warning that is no
               failure: qmgr's congestion warning (local delivery slower than reception), or
               cleanup's "file system clock is 1 seconds ahead" (it then resets the file's time
               stamps, which costs it a little)
EOF
    if [[ "$LOADGEN" == 1 ]]; then
        cat <<EOF
  p50, p99   = DATA-to-250 latency percentiles (nearest rank) of one run, in ms; the tables give
               the median over the runs of each run's p50 and of each run's p99
  setup p50  = connect to the end of the EHLO reply inside TLS (greeting, EHLO, STARTTLS,
               handshake, EHLO), in ms, median over the runs of each run's p50
  resumed    = TLS handshakes that resumed an earlier session / connections, summed over the
               runs (warm-up connections not counted). Both sides' defaults shape it:
               rampart-loadgen (rustls) uses each TLS 1.3 ticket once and keeps at most 8 per
               server name, so with many sessions connecting at once some find none; Postfix
               sends one ticket after a full handshake and none after a resumed one, so at
               most every other handshake with it resumes
  The CPU and memory columns cover phase 1 only. Server and generator CPU of phases 2 and 3 are
  in loadgen.tsv (server_cpu, gen_cpu: whole phase, its warm-up and the wait for delivery
  included); both generators and the server share the machine's $(nproc) CPUs.
EOF
    fi
    echo
    echo "Raw results: $raw and $lg; per-run logs (load generator output, server logs): $RESULTS_DIR/logs"
    local bad
    bad=$(awk -F'\t' '$16 !~ /^ok/' "$raw"; awk -F'\t' '$NF !~ /^ok/' "$lg")
    if [[ -n "$bad" ]]; then
        echo
        echo "PROBLEMS (see the logs named below):"
        awk -F'\t' '$16 !~ /^ok/ { printf "  %s %s B %s sessions run %s, smtp-source: %s\n", $1, $2, $3, $4, $16 }' "$raw"
        awk -F'\t' '$NF !~ /^ok/ { printf "  %s %s B %s sessions run %s, loadgen %s: %s\n", $1, $2, $3, $4, $5, $NF }' "$lg"
        for f in "$RESULTS_DIR"/logs/*/smtp-source.err "$RESULTS_DIR"/logs/*/server-problems*; do
            [[ -s "$f" ]] || continue
            echo "  --- $f (first lines)"
            head -5 "$f" | sed 's/^/    /'
        done
    fi
}

# ---------------------------------------------------------------------------------------------
main() {
    install_deps
    # Data on a disk file system (not tmpfs), so fsync has its real cost.
    WORK=$(mktemp -d "${WORK_BASE:-/tmp}/rampart-bench.XXXXXX")
    # Postfix's daemons run as user postfix (and local(8) as nobody) and must reach their
    # directories below this one; mktemp makes it 0700.
    chmod 755 "$WORK"
    build_rampart
    make_certificates
    [[ "${RAMPART_CHECKS:-off}" == on ]] && start_testdns
    RESULTS_DIR=${RESULTS_DIR:-$(mktemp -d /tmp/rampart-bench-results.XXXXXX)}
    mkdir -p "$RESULTS_DIR/logs"
    : >"$RESULTS_DIR/raw.tsv"
    : >"$RESULTS_DIR/loadgen.tsv"
    log "work dir $WORK, results in $RESULTS_DIR"
    FSYNC_PROBE=$(python3 "$PROCSTAT" fsyncprobe "$WORK")
    for size in $SIZES; do
        for sess in $SESSIONS; do
            local n lg_n
            n=$(msgs_for "$size" "$sess")
            lg_n=$(loadgen_msgs_for "$n")
            for (( run = 1; run <= REPS; run++ )); do
                run_cell rampart "$size" "$sess" "$n" "$lg_n" "$run"
                run_cell postfix "$size" "$sess" "$n" "$lg_n" "$run"
            done
        done
    done
    print_report | tee "$RESULTS_DIR/report.txt"
}

# On one line, so bash has read it whole before running: editing this file while a run is in
# progress then cannot derail the end of the run. Sourced (bench/pg_nodes.sh reuses its
# functions), it defines them and runs nothing.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then main; exit; fi
