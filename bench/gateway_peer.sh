#!/usr/bin/env bash
# bench/gateway_peer.sh: the whole gateway against a filtered peer (issue 23, item 1). Rampart
# with every check on, antivirus included, against a Postfix that filters through Rspamd 3.4
# (milter) and ClamAV (clamav-milter), on this machine, over loopback:
#
#   one clamd     private (its own directory and unix socket), a signature database of the
#                 bench's own (EICAR by MD5, a custom body pattern; freshclam cannot run here),
#                 AlertExceedsMax yes; shared by Rampart and clamav-milter
#   one DNS       rampart-testdns with SPF and DMARC records (remote.test: SPF passes
#                 127.0.0.0/8, DMARC p=reject; bank.test: SPF -all, DMARC p=reject), shared by
#                 Rampart and Rspamd; every other name is NXDOMAIN
#   Rampart       [checks] disabled = [] (antivirus, attachments, URLs, spam, DLP, [External]
#                 tag, SPF/DKIM/DMARC/ARC), local delivery to alice@example.test
#   Postfix       Debian's package, its own config/queue/data directories, a loopback port,
#                 smtpd_milters = Rspamd's proxy (milter mode), clamav-milter; local delivery
#                 to a Maildir
#   Rspamd 3.4    a private instance (its own config, run, db and log directories; Debian's
#                 /etc/rspamd as the stock rules), check_local = true so loopback clients are
#                 evaluated, DMARC policy enforced (reject -> reject), network checks off (RBL,
#                 fuzzy, ASN, phishing feeds, URL reputation), no Redis
#
# Before measuring, both gateways must refuse an EICAR attachment and a DMARC p=reject spoof
# and deliver a clean message (bench/gateway_probe.py); then smtp-source sends the same load
# to each (default 10 KB, 50 sessions, one connection per message), and the script prints the
# ratio and the CPU per message of every process involved (from /proc).
#
#   bench/gateway_peer.sh [--messages N] [--sessions S] [--size BYTES]
#
# Environment: RAMPART_BIN and TESTDNS_BIN to use built binaries instead of building (release,
# `cargo build --release -p rampart -p rampart-testdns`); WORK_BASE (default /tmp) for data;
# CLAMD_TMPDIR for the temporary files of clamd and clamav-milter (default: clamd's directory
# under WORK_BASE; /dev/shm puts them on tmpfs, as /tmp is by default from Debian 13 on, and
# takes the file system's state out of clamd's figures: both sides share clamd).
# Must run as root (installs packages if missing; Postfix's master runs as root).

# Functions called from traps and through wait_for look unreachable to shellcheck.
# shellcheck disable=SC2317
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PROCSTAT="$REPO/bench/procstat.py"
MSGS=2000
SESSIONS=50
SIZE=10240
while (( $# )); do
    case "$1" in
        --messages) MSGS=$2; shift 2 ;;
        --sessions) SESSIONS=$2; shift 2 ;;
        --size) SIZE=$2; shift 2 ;;
        -h|--help) sed -n '2,/^$/p' "$0" | grep '^#'; exit 0 ;;
        *) echo "error: unknown argument $1 (try --help)" >&2; exit 2 ;;
    esac
done
for v in MSGS SESSIONS SIZE; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "error: $v must be a positive number, not '${!v}'" >&2; exit 2; }
done

FROM=sender@remote.test
RCPT=alice@example.test
log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "error: $*"; exit 1; }
[[ $EUID -eq 0 ]] || die "run as root (installs packages, starts a Postfix master)"

wait_for() {
    local secs=$1; shift
    local end=$(( SECONDS + secs ))
    until "$@"; do
        (( SECONDS < end )) || return 1
        sleep 0.1
    done
}
alive() { [[ -n "$1" ]] && kill -0 "$1" 2>/dev/null; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
cpu() { python3 "$PROCSTAT" cpu "$1"; }

WORK=""; CLAMD_TMP=""; RAMPART_PID=""; PF_CONF=""; PF_MASTER=""; CLAMD_PID=""; MILTER_PID=""
RSPAMD_PID=""; TESTDNS_PID=""; TESTDNS_FD=""
cleanup() {
    local rc=$?
    set +e
    alive "$RAMPART_PID" && { kill -TERM "$RAMPART_PID"; wait "$RAMPART_PID"; }
    [[ -n "$PF_CONF" ]] && postfix -c "$PF_CONF" stop >/dev/null 2>&1
    alive "$PF_MASTER" && { wait_for 20 bash -c "! kill -0 $PF_MASTER 2>/dev/null" || kill -KILL "$PF_MASTER"; }
    for p in "$MILTER_PID" "$RSPAMD_PID" "$CLAMD_PID" "$TESTDNS_PID"; do
        alive "$p" && { kill -TERM "$p"; wait "$p" 2>/dev/null; }
    done
    [[ -n "$TESTDNS_FD" ]] && exec {TESTDNS_FD}>&-
    [[ -n "$WORK" && -d "$WORK" ]] && rm -rf "$WORK"
    [[ -n "$CLAMD_TMP" && -d "$CLAMD_TMP" ]] && rm -rf "$CLAMD_TMP"
    exit "$rc"
}
trap cleanup EXIT
trap 'log "failed (exit $?) at line $LINENO: $BASH_COMMAND"' ERR
trap 'exit 130' INT
trap 'exit 143' TERM

install_deps() {
    local need=()
    command -v postfix >/dev/null && [[ -x /usr/sbin/smtp-source ]] || need+=(postfix)
    [[ -x /usr/sbin/clamd ]] || need+=(clamav-daemon)
    [[ -x /usr/sbin/clamav-milter ]] || need+=(clamav-milter)
    command -v rspamd >/dev/null || need+=(rspamd)
    (( ${#need[@]} )) || return 0
    log "installing ${need[*]} (Postfix with no configuration, nothing started)"
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}" >/dev/null \
        || { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive \
             apt-get install -y --no-install-recommends "${need[@]}" >/dev/null; }
}

build() {
    if [[ -n "${RAMPART_BIN:-}" && -n "${TESTDNS_BIN:-}" ]]; then
        RAMPART_DESC="$RAMPART_BIN (given)"
    else
        log "building rampart and rampart-testdns (release, working tree)"
        cargo build --release -p rampart -p rampart-testdns --quiet --manifest-path "$REPO/Cargo.toml"
        RAMPART_BIN="$REPO/target/release/rampart"
        TESTDNS_BIN="$REPO/target/release/rampart-testdns"
        RAMPART_DESC="working tree at $(git -C "$REPO" rev-parse --short HEAD)"
        [[ -z $(git -C "$REPO" status --porcelain -- crates Cargo.toml Cargo.lock) ]] \
            || RAMPART_DESC+=" + uncommitted changes"
    fi
    cp "$RAMPART_BIN" "$WORK/rampart"
    cp "$TESTDNS_BIN" "$WORK/rampart-testdns"
}

# ---- shared services ---------------------------------------------------------------------
start_dns() {
    local d="$WORK/dns"
    mkdir -p "$d"
    cat >"$d/records" <<'EOF'
# The bench sender: SPF passes loopback, DMARC p=reject (aligned SPF passes it).
remote.test TXT "v=spf1 ip4:127.0.0.0/8 -all"
_dmarc.remote.test TXT "v=DMARC1; p=reject"
# The spoofed domain: nobody may send for it, and its DMARC policy is reject.
bank.test TXT "v=spf1 -all"
_dmarc.bank.test TXT "v=DMARC1; p=reject"
EOF
    mkfifo "$d/stdin"
    "$WORK/rampart-testdns" --records "$d/records" <"$d/stdin" >"$d/stdout" 2>"$d/stderr" &
    TESTDNS_PID=$!
    exec {TESTDNS_FD}>"$d/stdin"
    wait_for 15 grep -qs '^listening on ' "$d/stdout" || die "rampart-testdns did not start: $(cat "$d/stderr")"
    DNS_ADDR=$(sed -n 's/^listening on \(127\.0\.0\.1:[0-9]*\)$/\1/p' "$d/stdout" | head -1)
    log "DNS on $DNS_ADDR"
}

eicar() { printf '%s%s' 'X5O!P%@AP[4\PZX54(P^)7CC)7}$' 'EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*'; }

start_clamd() {
    local d="$WORK/clamd"
    mkdir -p "$d/db"
    printf '%s:68:Eicar-Test-Signature\n' "$(eicar | md5sum | cut -d' ' -f1)" >"$d/db/bench.hdb"
    printf 'Rampart.Test.Custom:0:*:%s\n' "$(printf RAMPART-CUSTOM-TEST-PATTERN | od -An -tx1 | tr -d ' \n')" >"$d/db/bench.ndb"
    CLAMD_SOCK="$d/clamd.sock"
    if [[ -n "${CLAMD_TMPDIR:-}" ]]; then
        CLAMD_TMP=$(mktemp -d "$CLAMD_TMPDIR/rampart-gateway-clamd.XXXXXX")
    fi
    cat >"$d/clamd.conf" <<EOF
Foreground yes
LocalSocket $CLAMD_SOCK
DatabaseDirectory $d/db
LogFile $d/clamd.log
PidFile $d/clamd.pid
TemporaryDirectory ${CLAMD_TMP:-$d}
LogTime no
ScanMail yes
ScanArchive yes
AlertExceedsMax yes
EOF
    /usr/sbin/clamd -c "$d/clamd.conf" </dev/null >/dev/null 2>"$d/stderr" &
    CLAMD_PID=$!
    wait_for 120 python3 -c "import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b'zPING\0'); sys.exit(s.recv(16)[:4]!=b'PONG')" "$CLAMD_SOCK" 2>/dev/null \
        || die "clamd did not answer PING: $(cat "$d/stderr" "$d/clamd.log")"
    log "clamd on $CLAMD_SOCK"
}

# ---- Rampart -----------------------------------------------------------------------------
start_rampart() {
    local d="$WORK/rampart-data"
    mkdir -p "$d"
    R_CONF="$d/rampart.toml"
    cat >"$R_CONF" <<EOF
hostname = "mail.example.test"
data_dir = "$d/data"
shutdown_grace_secs = 5
[log]
level = "warn"
[[listener]]
role = "mx"
address = "127.0.0.1:0"
greeting_delay_ms = 0
[limits]
# All load comes from 127.0.0.1: the per-address cap (default 50) would refuse some sessions.
max_connections_per_ip = 1000
max_messages_per_session = 100000
[dns]
servers = ["$DNS_ADDR"]
[ids]
# Every bench client connects from 127.0.0.1 (thousands of connections a minute, and the probes'
# refused messages): loopback is allowed, as in bench/rampart_server.py; Postfix runs no
# postscreen or anvil limits here either.
allow = ["127.0.0.0/8"]
[checks]
# Every check on (NC-2.3.2, AL-1.2 to AL-1.6, AL-2.4).
disabled = []
[checks.antivirus]
clamd = "$CLAMD_SOCK"
EOF
    "$WORK/rampart" --config "$R_CONF" domain add example.test >/dev/null
    printf 'a-long-password-123\n' | "$WORK/rampart" --config "$R_CONF" user add "$RCPT" --password-stdin >/dev/null
    "$WORK/rampart" --config "$R_CONF" serve >"$d/stdout" 2>"$d/stderr" &
    RAMPART_PID=$!
    wait_for 30 grep -qs '^data directory:' "$d/stdout" || die "rampart did not start: $(cat "$d/stderr")"
    R_PORT=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\) (mx)$/\1/p' "$d/stdout" | head -1)
    [[ -n "$R_PORT" ]] || die "no listening line from rampart: $(cat "$d/stdout")"
    log "rampart on 127.0.0.1:$R_PORT"
}
rampart_delivered() { "$WORK/rampart" --config "$R_CONF" mailbox list "$RCPT" | wc -l; }

# ---- Rspamd, clamav-milter, Postfix ------------------------------------------------------
start_rspamd() {
    local d="$WORK/rspamd"
    mkdir -p "$d/local/local.d" "$d/run" "$d/db" "$d/log"
    RSPAMD_PORT=$(python3 "$PROCSTAT" freeport)
    # Debian's stock rules ($CONFDIR/common.conf: modules, scores, composites, actions), one
    # worker kind: the proxy in milter mode, scanning itself (self_scan), one process per CPU.
    cat >"$d/rspamd.conf" <<EOF
.include "\$CONFDIR/common.conf"
options {
    pidfile = "\$RUNDIR/rspamd.pid";
    .include "\$CONFDIR/options.inc"
    .include(try=true; priority=1,duplicate=merge) "\$LOCAL_CONFDIR/local.d/options.inc"
}
logging {
    type = "file";
    filename = "\$LOGDIR/rspamd.log";
    level = "warning";
}
worker "rspamd_proxy" {
    bind_socket = "127.0.0.1:$RSPAMD_PORT";
    milter = yes;
    timeout = 120s;
    upstream "local" {
        default = yes;
        self_scan = yes;
    }
    count = $(nproc);
}
EOF
    local dns_host=${DNS_ADDR%:*} dns_port=${DNS_ADDR##*:}
    cat >"$d/local/local.d/options.inc" <<EOF
# Evaluate loopback clients too (the bench's smtp-source connects from 127.0.0.1).
check_local = true;
dns {
    nameserver = ["$dns_host:$dns_port"];
    timeout = 2s;
    retransmits = 2;
}
EOF
    # No greylisting action: it needs Redis (not run here) and would answer 451.
    echo 'greylist = null;' >"$d/local/local.d/actions.conf"
    # DMARC policy enforced: p=reject refused, p=quarantine tagged; no reports (need Redis).
    printf 'actions {\n  reject = "reject";\n  quarantine = "add_header";\n}\nreporting {\n  enabled = false;\n}\n' \
        >"$d/local/local.d/dmarc.conf"
    # Network checks off: they would ask the Internet (not reachable here).
    local m
    for m in rbl fuzzy_check asn phishing url_reputation; do
        echo 'enabled = false;' >"$d/local/local.d/$m.conf"
    done
    # Authentication-Results added to delivered mail, as Rampart does.
    echo 'use = ["authentication-results"];' >"$d/local/local.d/milter_headers.conf"
    rspamd -f -i -u root -g root -c "$d/rspamd.conf" --var CONFDIR=/etc/rspamd \
        --var LOCAL_CONFDIR="$d/local" --var RUNDIR="$d/run" --var DBDIR="$d/db" \
        --var LOGDIR="$d/log" </dev/null >"$d/stdout" 2>&1 &
    RSPAMD_PID=$!
    # Loading the stock rules takes about a minute on a busy 2-core machine.
    wait_for 300 port_open "$RSPAMD_PORT" || die "rspamd did not listen: $(tail -n 20 "$d/stdout" "$d/log/rspamd.log")"
    log "rspamd (milter) on 127.0.0.1:$RSPAMD_PORT"
}

start_clamav_milter() {
    local d="$WORK/clamav-milter"
    mkdir -p "$d"
    MILTER_PORT=$(python3 "$PROCSTAT" freeport)
    cat >"$d/clamav-milter.conf" <<EOF
MilterSocket inet:$MILTER_PORT@127.0.0.1
ClamdSocket unix:$CLAMD_SOCK
Foreground yes
PidFile $d/clamav-milter.pid
TemporaryDirectory ${CLAMD_TMP:-$d}
LogFile $d/clamav-milter.log
OnInfected Reject
OnFail Defer
OnClean Accept
AddHeader No
MaxFileSize 25M
EOF
    /usr/sbin/clamav-milter -c "$d/clamav-milter.conf" </dev/null >"$d/stdout" 2>&1 &
    MILTER_PID=$!
    wait_for 30 port_open "$MILTER_PORT" || die "clamav-milter did not listen: $(cat "$d/stdout" "$d/clamav-milter.log" 2>/dev/null)"
    log "clamav-milter on 127.0.0.1:$MILTER_PORT"
}

# As bench/run.sh's Postfix (own directories, loopback, local delivery to a Maildir, no
# chroot), plus the two milters; a milter that fails makes Postfix answer 451 (tempfail), so
# nothing passes unfiltered.
start_postfix() {
    local d="$WORK/postfix"
    local conf="$d/conf"
    mkdir -p "$conf" "$d/queue" "$d/data" "$d/maildir"
    chmod 755 "$WORK" "$d"
    chown postfix "$d/data"
    chown nobody:nogroup "$d/maildir"
    PF_PORT=$(python3 "$PROCSTAT" freeport)
    cat >"$conf/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $d/queue
data_directory = $d/data
myhostname = postfix.example.test
mydomain = example.test
mydestination = example.test
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
alias_maps = hash:$conf/aliases
alias_database = hash:$conf/aliases
maillog_file = $d/maillog
maillog_file_prefixes = $d
default_process_limit = 250
biff = no
smtpd_milters = inet:127.0.0.1:$RSPAMD_PORT, inet:127.0.0.1:$MILTER_PORT
milter_default_action = tempfail
milter_protocol = 6
EOF
    cat >"$conf/master.cf" <<EOF
127.0.0.1:$PF_PORT inet n  -       n       -       -       smtpd
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
EOF
    echo "${RCPT%@*}: $d/maildir/" >"$conf/aliases"
    postalias -c "$conf" "$conf/aliases"
    PF_CONF=$conf
    PF_MAILDIR="$d/maildir"
    postfix -c "$conf" check >"$d/start.log" 2>&1 || die "postfix check: $(cat "$d/start.log")"
    postfix -c "$conf" start >>"$d/start.log" 2>&1 || die "postfix start: $(cat "$d/start.log")"
    wait_for 15 test -s "$d/queue/pid/master.pid" || die "postfix did not start"
    PF_MASTER=$(tr -d ' \n' <"$d/queue/pid/master.pid")
    wait_for 15 port_open "$PF_PORT" || die "postfix does not accept on $PF_PORT"
    log "postfix on 127.0.0.1:$PF_PORT"
}
postfix_delivered() { find "$PF_MAILDIR/new" -type f 2>/dev/null | wc -l; }
postfix_queue_empty() { grep -q '^Mail queue is empty' <<<"$(postqueue -c "$PF_CONF" -p 2>/dev/null)"; }

# ---- measurement -------------------------------------------------------------------------
delivered() { if [[ $1 == rampart ]]; then rampart_delivered; else postfix_delivered; fi; }
all_delivered() {
    [[ $(delivered "$1") -ge $2 ]] || return 1
    [[ $1 == rampart ]] || postfix_queue_empty
}

# Probes SIDE on PORT: the three messages must get what they must, and the clean one must
# reach alice's mailbox.
probe() {
    local side=$1 port=$2
    python3 "$REPO/bench/gateway_probe.py" "127.0.0.1:$port" "$side" | tee -a "$WORK/probes" \
        || die "$side did not answer the probes as required (above)"
    wait_for 60 all_delivered "$side" 1 || die "$side: the clean probe message was not delivered"
    [[ $(delivered "$side") -eq 1 ]] || die "$side delivered $(delivered "$side") messages, want 1 (a refused one got through?)"
}

# Processes per side whose CPU is read: name=pid (the pid's tree, reaped children included).
declare -A RESULT
measure() {
    local side=$1 port=$2; shift 2
    local procs=("$@") warm=$(( SESSIONS * 2 )) base
    base=$(delivered "$side")
    "$SMTP_SOURCE" -s "$SESSIONS" -m "$warm" -l "$SIZE" -S "bench message" -f "$FROM" -t "$RCPT" \
        "127.0.0.1:$port" >"$WORK/$side-warmup.out" 2>&1 || die "$side: warm-up failed: $(cat "$WORK/$side-warmup.out")"
    wait_for 120 all_delivered "$side" $(( base + warm )) || die "$side: warm-up not delivered"
    local -A c0
    local p
    for p in "${procs[@]}"; do c0[$p]=$(cpu "${p#*=}"); done
    local t0 t1 t2 rc=0
    t0=$(date +%s.%N)
    timeout 900 "$SMTP_SOURCE" -s "$SESSIONS" -m "$MSGS" -l "$SIZE" -S "bench message" -f "$FROM" \
        -t "$RCPT" "127.0.0.1:$port" >"$WORK/$side-load.out" 2>&1 || rc=$?
    t1=$(date +%s.%N)
    local want=$(( base + warm + MSGS ))
    wait_for 600 all_delivered "$side" "$want" || true
    t2=$(date +%s.%N)
    local got
    got=$(delivered "$side")
    (( rc == 0 )) || die "$side: smtp-source failed (rc $rc): $(head -5 "$WORK/$side-load.out")"
    (( got == want )) || die "$side: delivered $(( got - base - warm )) of $MSGS"
    local accept e2e
    accept=$(awk -v n="$MSGS" -v a="$t0" -v b="$t1" 'BEGIN{printf "%.0f", n/(b-a)}')
    e2e=$(awk -v n="$MSGS" -v a="$t0" -v b="$t2" 'BEGIN{printf "%.0f", n/(b-a)}')
    RESULT[$side.accept]=$accept
    RESULT[$side.e2e]=$e2e
    local line="" total=0 us
    for p in "${procs[@]}"; do
        us=$(awk -v a="${c0[$p]}" -v b="$(cpu "${p#*=}")" -v n="$MSGS" 'BEGIN{printf "%.0f", 1e6*(b-a)/n}')
        total=$(( total + us ))
        line+=$(printf '  %-14s %6s us/msg\n' "${p%%=*}" "$us")$'\n'
    done
    RESULT[$side.cpu]="$line"
    RESULT[$side.total]=$total
    log "$side: $MSGS msgs, accept $accept msg/s, end to end $e2e msg/s, CPU $total us/msg"
}

main() {
    install_deps
    SMTP_SOURCE=/usr/sbin/smtp-source
    WORK=$(mktemp -d "${WORK_BASE:-/tmp}/rampart-gateway-peer.XXXXXX")
    chmod 755 "$WORK"
    build
    start_dns
    start_clamd
    start_rampart
    start_rspamd
    start_clamav_milter
    start_postfix
    log "probing both gateways (clean, EICAR, DMARC spoof)"
    : >"$WORK/probes"
    probe rampart "$R_PORT"
    probe postfix "$PF_PORT"
    # Rampart first, then Postfix; the shared clamd and DNS serve whichever side runs.
    measure rampart "$R_PORT" "rampart=$RAMPART_PID" "clamd=$CLAMD_PID" "testdns=$TESTDNS_PID"
    measure postfix "$PF_PORT" "postfix=$PF_MASTER" "rspamd=$RSPAMD_PID" \
        "clamav-milter=$MILTER_PID" "clamd=$CLAMD_PID" "testdns=$TESTDNS_PID"
    cat <<EOF

The whole gateway: Rampart against Postfix + Rspamd + ClamAV, inbound SMTP over loopback
date:     $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(nproc) CPUs, load average before: $LOAD0
rampart:  $RAMPART_DESC
peer:     Postfix $(postconf -d -h mail_version), $(rspamd -v 2>/dev/null | head -1), $(/usr/sbin/clamav-milter --version 2>/dev/null | head -1)
clamd:    $(/usr/sbin/clamd --version 2>/dev/null | head -1), one instance shared, bench signatures only
load:     smtp-source -s $SESSIONS -m $MSGS -l $SIZE -S "bench message" -f $FROM -t $RCPT
          (one connection per message, HELO, no TLS), after a warm-up of $(( SESSIONS * 2 )) messages

Probes (both must refuse EICAR and the DMARC spoof and deliver the clean message):
$(cat "$WORK/probes")

What each side does for every message:
  both:     SPF (pass) and DMARC (pass, policy p=reject) against the shared DNS; no DKIM
            signature to verify (smtp-source does not sign: DKIM "none" on both sides);
            ClamAV through the shared clamd; durable queueing (fsync before 250) and local
            delivery to one mailbox; an Authentication-Results header
  Rampart:  one process: SPF/DKIM/DMARC/ARC; antivirus = the whole message, then every decoded
            part (2 clamd requests for this one-part message); attachment policy (AL-1.4);
            URL extraction (no feed or list configured); spam rules and the classifier
            (untrained: it adds nothing); DLP is outbound only; the [External] subject tag
  Postfix:  smtpd, cleanup, qmgr, local; Rspamd's stock rules (MIME, headers, HFILTER, SPF,
            DKIM, DMARC, ARC, URL extraction, ...), without what needs Redis (Bayes,
            greylisting, neural, ratelimit, reputation) or the Internet (RBL/URIBL, fuzzy,
            ASN, phishing feeds); clamav-milter: one clamd request with the whole message
  neither:  TLS (smtp-source has no STARTTLS), DKIM verification of a real signature

Results ($MSGS messages of $SIZE bytes, $SESSIONS sessions):
                    accept msg/s   end-to-end msg/s   CPU us/msg (all processes below)
  rampart           ${RESULT[rampart.accept]}$(printf '%*s' $(( 15 - ${#RESULT[rampart.accept]} )) '')${RESULT[rampart.e2e]}$(printf '%*s' $(( 19 - ${#RESULT[rampart.e2e]} )) '')${RESULT[rampart.total]}
  postfix+filters   ${RESULT[postfix.accept]}$(printf '%*s' $(( 15 - ${#RESULT[postfix.accept]} )) '')${RESULT[postfix.e2e]}$(printf '%*s' $(( 19 - ${#RESULT[postfix.e2e]} )) '')${RESULT[postfix.total]}
  ratio             $(awk -v a="${RESULT[rampart.accept]}" -v b="${RESULT[postfix.accept]}" 'BEGIN{printf "%.2fx", a/b}')          $(awk -v a="${RESULT[rampart.e2e]}" -v b="${RESULT[postfix.e2e]}" 'BEGIN{printf "%.2fx", a/b}')

CPU per message, Rampart side (user+system from /proc, process trees, while it ran):
${RESULT[rampart.cpu]}
CPU per message, Postfix side:
${RESULT[postfix.cpu]}
EOF
}

LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
main; exit
