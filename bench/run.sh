#!/usr/bin/env bash
# bench/run.sh: inbound SMTP throughput of Rampart against Postfix, driven by the same load
# generator (Postfix's smtp-source), on this machine, over loopback.
#
#   bench/run.sh            full matrix: 1 KB, 10 KB, 100 KB x 1, 10, 50, 200 sessions (~12 min)
#   bench/run.sh --quick    10 KB at 50 sessions only (~1.5 min); same as QUICK=1
#
# Optional environment:
#   SIZES="1024 10240"      message payload sizes in bytes (smtp-source -l: body only, headers extra)
#   SESSIONS="1 50"         parallel sessions (smtp-source -s)
#   MSGS=2000               messages per cell for every cell (default: scaled per cell, see msgs_for)
#   REPS=3                  runs of each cell, Rampart and Postfix alternating; the report gives
#                           the median and the range (default 3: the machine is shared, one run
#                           can be disturbed by someone else's build)
#   SMTP_SOURCE_EXTRA="-d"  extra smtp-source flags, e.g. -d to send all messages of a session over
#                           one connection (default: one connection per message, as an MX sees)
#   RESULTS_DIR=DIR         where the report and logs go (default: a new /tmp/rampart-bench-results.*)
#   RAMPART_REV=HEAD        build and measure this commit's tree instead of the working tree
#   WORK_BASE=/tmp          file system for both servers' data and queues (default /tmp; the full
#                           run keeps about 3 GB there until it ends)
#
# Must run as root: it installs Postfix if missing and starts a Postfix master (which runs as root
# and drops to the postfix user for its daemons). Every server it starts is stopped on exit,
# including on failure or Ctrl-C; message data lives in a temp directory removed on exit.

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

FROM=sender@remote.test
RCPT=alice@example.test

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "error: $*"; exit 1; }

[[ $EUID -eq 0 ]] || die "run as root (installs Postfix, starts a Postfix master)"

# Messages per cell and run. smtp-source only knows counts, not durations, so counts are chosen
# from rates measured on this 2-core machine (Postfix about 150-700 msg/s, Rampart about 100-2,500)
# to give the slower server roughly 5-10 s of load per run and keep the full run (3 runs per cell)
# under 15 minutes.
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
# to a known commit even while the working tree is being edited. The binary is then copied into
# the work dir, so a rebuild by someone else during the run cannot swap it underneath us.
BUILD_CACHE=/var/tmp/rampart-bench-build
build_rampart() {
    local bin
    if [[ -n "${RAMPART_REV:-}" ]]; then
        local sha src
        sha=$(git -C "$REPO" rev-parse --verify "${RAMPART_REV}^{commit}")
        src="$BUILD_CACHE/src-$sha"
        if [[ ! -f "$src/Cargo.toml" ]]; then
            mkdir -p "$src"
            git -C "$REPO" archive "$sha" | tar -x -C "$src"
        fi
        log "building rampart $sha (release, committed tree in $src)"
        cargo build --release -p rampart --quiet --manifest-path "$src/Cargo.toml" \
            --target-dir "$BUILD_CACHE/target"
        bin="$BUILD_CACHE/target/release/rampart"
        RAMPART_DESC="commit $sha (RAMPART_REV=$RAMPART_REV, built from the committed tree)"
    else
        log "building rampart (release, working tree)"
        (cd "$REPO" && cargo build --release -p rampart --quiet)
        bin="$REPO/target/release/rampart"
        RAMPART_DESC="working tree at $(git -C "$REPO" rev-parse --short HEAD)"
        [[ -z $(git -C "$REPO" status --porcelain -- crates Cargo.toml Cargo.lock) ]] \
            || RAMPART_DESC+=" + uncommitted changes"
    fi
    [[ -x "$bin" ]] || die "build produced no $bin"
    RAMPART="$WORK/rampart"
    cp "$bin" "$RAMPART"
}

# ---------------------------------------------------------------------------------------------
# Bookkeeping for cleanup: whatever is running is recorded here and stopped on exit.
WORK=""
RAMPART_PID=""
PF_CONF=""
PF_MASTER=""
SAMPLER_PID=""

cleanup() {
    local rc=$?
    set +e
    [[ -n "$SAMPLER_PID" ]] && kill "$SAMPLER_PID" 2>/dev/null
    stop_rampart
    stop_postfix
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
[[listener]]
role = "mx"
address = "127.0.0.1:0"
greeting_delay_ms = 0
[limits]
# All load comes from 127.0.0.1: the per-address cap (default 50) would refuse 200 sessions.
max_connections_per_ip = 1000
max_messages_per_session = 100000
[checks]
# Comparable work (RAMPART_CHECKS=off, the default): Postfix here runs no content filter, so
# Rampart's checks are off too. RAMPART_CHECKS=on measures them (all but antivirus: no clamd).
disabled = $RAMPART_DISABLED
EOF
    "$RAMPART" --config "$R_CONF" domain add example.test >/dev/null
    printf 'a-long-password-123\n' \
        | "$RAMPART" --config "$R_CONF" user add "$RCPT" --password-stdin >/dev/null
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
# destinations). Everything else is Postfix's default: in particular cleanup(8) fsyncs each queue
# file before smtpd answers 250, and local(8) fsyncs each Maildir file before it reports success.
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
    postqueue -c "$PF_CONF" -p 2>/dev/null | grep -q '^Mail queue is empty'
}

# ---------------------------------------------------------------------------------------------
# (d) One measurement: fresh server, warm-up, measured run, delivery check, stop.
#
# The warm-up (2 messages per session) is not timed: it lets Postfix spawn its smtpd/cleanup
# processes and Rampart its threads, so the timed part is the steady state, for both alike.
# "accept" rate: messages / wall time of smtp-source, i.e. until the last 250 after DATA.
# "e2e" rate: messages / time until every message is in alice's mailbox (polled every 0.1 s
# after smtp-source ends).
run_cell() {
    local server=$1 size=$2 sess=$3 n=$4 run=$5
    local cell="$server-${size}B-${sess}s-run$run"
    local dir="$WORK/$cell"
    local warm=$(( sess * 2 ))
    local logs="$RESULTS_DIR/logs/$cell"
    mkdir -p "$logs"

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

    local rc=0
    "$SMTP_SOURCE" -s "$sess" -m "$warm" -l "$size" -f "$FROM" -t "$RCPT" "${EXTRA[@]}" \
        "127.0.0.1:$PORT" >"$logs/warmup.out" 2>&1 || rc=$?
    wait_for 60 all_delivered "$warm" || true

    local cpu0 busy0 t0 t2 ovf0 syn0 ovf1 syn1
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

    local hwm=0
    [[ $server == rampart ]] && hwm=$(python3 "$PROCSTAT" hwm "$RAMPART_PID")
    kill "$SAMPLER_PID" 2>/dev/null || true
    wait "$SAMPLER_PID" 2>/dev/null || true
    SAMPLER_PID=""

    # Server-side problems: Rampart's stderr beyond the expected "running as root" warning;
    # Postfix's log lines at warning level or worse, and rejections. Postfix's qmgr warning that
    # one destination fills the active queue (local delivery is slower than reception here) is
    # not a failure: it is counted apart and shown as a note.
    local problems=0 congested=0
    if [[ $server == rampart ]]; then
        stop_rampart
        grep -v 'running as root' "$R_STDERR" >"$logs/server-problems" || true
        cp "$R_STDERR" "$logs/server.stderr"
    else
        local sent
        sent=$(grep -c 'status=sent' "$PF_LOG" || true)
        echo "status=sent lines: $sent" >"$logs/postfix-sent"
        stop_postfix
        local clog='active queue entries|you may need to increase|please avoid flushing|lots of deferred mail|qmgr_clog_warn_time'
        grep -E 'warning:|error:|fatal:|panic:|reject:' "$PF_LOG" | grep -Ev "$clog" \
            >"$logs/server-problems" || true
        congested=$(grep -c 'active queue entries' "$PF_LOG" || true)
        cp "$PF_LOG" "$logs/maillog"
    fi
    problems=$(wc -l <"$logs/server-problems")
    # The data stays until the whole run ends (cleanup removes it): deleting thousands of files
    # here would slow down file creation in the next runs. On ext4 without a journal (as on the
    # machine this was written on) every new inode is checked against recently deleted ones.

    local issues=()
    [[ $rc -ne 0 ]] && issues+=("smtp-source rc=$rc")
    [[ $got -ne $want ]] && issues+=("delivered $got of $want")
    [[ $problems -gt 0 ]] && issues+=("$problems server log lines")
    # The server's listen queue overflowed: SYNs were dropped and those clients waited >= 1 s.
    (( ovf1 - ovf0 > 0 )) && issues+=("listen queue overflowed $(( ovf1 - ovf0 ))x, $(( syn1 - syn0 )) SYN retransmits")
    local status=ok
    (( congested > 0 )) && status="ok (qmgr: local delivery congested)"
    if (( ${#issues[@]} )); then status=$(IFS=';'; echo "${issues[*]}"); fi

    # elapsed user sys of smtp-source
    local el us sy
    read -r el us sy <"$logs/time" || { el=0; us=0; sy=0; }
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
    log "$cell: $n msgs in ${el}s -> $(awk -v n="$n" -v e="$el" 'BEGIN{ if (e>0) printf "%.0f", n/e; else print "-" }') msg/s; $status"
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
    local raw="$RESULTS_DIR/raw.tsv"
    local conn_mode="one connection per message"
    [[ " $SMTP_SOURCE_EXTRA " == *" -d "* ]] && conn_mode="each session sends its messages over one connection (-d)"
    cat <<EOF
Rampart vs Postfix: inbound SMTP over loopback, load from smtp-source (same flags for both)
date:     $(date -u '+%Y-%m-%d %H:%M:%S UTC')
machine:  $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo) RAM, kernel $(uname -r)
disk:     $(fs_description "$WORK") (both servers' data and queues);
          $FSYNC_PROBE
rampart:  $RAMPART_DESC, release build
postfix:  $POSTFIX_VERSION (Debian package), own config dir, loopback listener
load:     $SMTP_SOURCE -s SESSIONS -m MSGS -l SIZE -f $FROM -t $RCPT ${SMTP_SOURCE_EXTRA:+$SMTP_SOURCE_EXTRA }127.0.0.1:PORT
          (SIZE = body bytes, headers extra; HELO, no PIPELINING, no TLS; $conn_mode)

What each server did:
  Rampart: 250 after DATA only once the message file is fsync'd, the spool directory fsync'd and
           the SQLite (WAL, synchronous=FULL) commit is done (group commit across sessions);
           then local delivery = a mailbox row in SQLite pointing at the same file.
  Postfix: smtpd -> cleanup, which fsyncs the queue file before smtpd answers 250 (Postfix
           default); qmgr -> local(8), which writes each message to alice's Maildir (alias
           alice -> Maildir/, run as nobody) and fsyncs it. Durable queueing on both sides.
Each run: a fresh server, a warm-up of 2 messages per session (not timed), then MSGS messages.
"accept" = MSGS / smtp-source wall time (until the last 250); "e2e" = MSGS / time until every
message is in the mailbox. Deliveries are checked by counting mailbox entries (rampart mailbox
list) and Maildir files, plus an empty Postfix queue.

EOF
    python3 "$REPO/bench/report.py" "$raw" "$(nproc)"
    cat <<EOF

  us/msg     = user+system CPU microseconds per message of the server during the timed part,
               delivery included (Rampart: all threads; Postfix: all processes, including
               daemons that exited meanwhile); gen = the same for smtp-source
  r peak MB  = VmHWM of Rampart's one process (the kernel's peak RSS)
  p Pss/RSS  = Postfix: highest sum over all its processes, sampled every 0.5 s, of Pss (shared
               pages split between the processes mapping them) and of RSS (shared pages counted
               in every process); procs = most Postfix processes seen at once
  other%     = CPU used by everything else on the machine (other people's builds, this harness's
               sampling and polling) as a share of all $(nproc) CPUs during the timed part; high
               values mean the cell was disturbed
  SYN drops  = listen queue overflows (kernel TcpExt ListenOverflows) summed over the runs, for
               Rampart / Postfix: each dropped SYN makes that client wait 1 s (then 3 s, 7 s)
               before it connects; a few of them dominate a run that lasts 1-2 s. Listen queue
               seen here: Rampart 128 (tokio/mio TcpListener::bind, same as Rust std), Postfix = its
               process limit (250 in this configuration)
EOF
    echo
    echo "Raw results: $raw; per-cell logs (smtp-source output, server logs): $RESULTS_DIR/logs"
    local bad
    bad=$(awk -F'\t' '$16 !~ /^ok/' "$raw")
    if [[ -n "$bad" ]]; then
        echo
        echo "PROBLEMS (see the logs named below):"
        awk -F'\t' '$16 !~ /^ok/ { printf "  %s %s B %s sessions run %s: %s\n", $1, $2, $3, $4, $16 }' "$raw"
        for f in "$RESULTS_DIR"/logs/*/smtp-source.err "$RESULTS_DIR"/logs/*/server-problems; do
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
    RESULTS_DIR=${RESULTS_DIR:-$(mktemp -d /tmp/rampart-bench-results.XXXXXX)}
    mkdir -p "$RESULTS_DIR/logs"
    : >"$RESULTS_DIR/raw.tsv"
    log "work dir $WORK, results in $RESULTS_DIR"
    FSYNC_PROBE=$(python3 "$PROCSTAT" fsyncprobe "$WORK")
    for size in $SIZES; do
        for sess in $SESSIONS; do
            local n
            n=$(msgs_for "$size" "$sess")
            for (( run = 1; run <= REPS; run++ )); do
                run_cell rampart "$size" "$sess" "$n" "$run"
                run_cell postfix "$size" "$sess" "$n" "$run"
            done
        done
    done
    print_report | tee "$RESULTS_DIR/report.txt"
}

# On one line, so bash has read it whole before running: editing this file while a run is in
# progress then cannot derail the end of the run.
main; exit
