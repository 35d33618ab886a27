#!/usr/bin/env bash
# bench/pg_nodes.sh: inbound throughput of Rampart on PostgreSQL (issue 20), in one run, against
# Rampart on SQLite and Postfix on the same machine: 10 KB messages, 50 sessions, smtp-source
# with one connection per message, every message to a local user (delivered into a mailbox).
# Cells, each run REPS times in this order with a fresh server (and a fresh database) per run:
#   sqlite   one Rampart node on SQLite (the embedded default), as bench/run.sh runs it
#   pg1      one Rampart node on PostgreSQL
#   pg2      two Rampart nodes on that PostgreSQL database, smtp-source split 25 + 25
#   postfix  Debian's Postfix, as bench/run.sh runs it (the reference)
# and, only when named in CELLS (not a default cell):
#   pg1u     one node on PostgreSQL, the same load spread over 50 users u1..u50@example.test (one
#            smtp-source per user, one session each): mail to many accounts, which do not
#            share the per-account lock of the mail model
#
#   bench/pg_nodes.sh            MSGS=2000 REPS=2 (about 5 minutes here)
#
# Optional environment: MSGS (messages per cell and run, even), REPS, SIZE (body bytes, default
# 10240), RAMPART_BIN (measure this binary instead of building), WORK_BASE (default /tmp).
#
# PostgreSQL: Debian's PostgreSQL 15 (apt-get install postgresql), one private cluster for the
# whole run, started by this script as user nobody (initdb refuses root) in the work directory on
# the same disk as the other servers' data; initdb's postgresql.conf as it comes (fsync = on,
# synchronous_commit = on, shared_buffers 128 MB, max_connections 100, wal_level replica) with
# only these added: listen_addresses = '127.0.0.1', a free port, the unix socket in the
# cluster's directory. Password authentication over TCP (scram-sha-256), the password in a file
# given to Rampart as [store] password_file. Each PostgreSQL run gets a new database of its own.
# Rampart's pools and timeouts are its defaults.
#
# Checks: as bench/run.sh's "checks off" cells (RAMPART_CHECKS=off): Postfix runs no content
# filter, so Rampart's are off. A run fails (exit 1) if any message is missing from the
# mailboxes: `rampart mailbox list` on SQLite, SELECT count(*) FROM mail_emails on PostgreSQL,
# Maildir files and an empty queue for Postfix.
#
# The servers, certificates and smtp-source come from bench/run.sh (sourced: it defines its
# functions and runs nothing); CPU from bench/procstat.py. Must run as root, as bench/run.sh.

# shellcheck disable=SC2317
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PG_MSGS=${MSGS:-2000}
PG_REPS=${REPS:-2}
SIZE=${SIZE:-10240}
SESS=50
CELLS=${CELLS:-sqlite pg1 pg2 postfix}
# bench/run.sh's knobs: smtp-source only, checks off.
export LOADGEN=0 RAMPART_CHECKS=off
unset MSGS
# shellcheck source=bench/run.sh
source "$HERE/run.sh" --quick
(( PG_MSGS % 2 == 0 )) || die "MSGS must be even (split over two nodes)"

PG_BIN=/usr/lib/postgresql/15/bin
PG_DIR=""
PG_PID=""
PG_DB=""
NODE_PIDS=()
NODE_PORTS=()
NODE_CONFS=()
NODE_ERRS=()

# One of PostgreSQL's programs as user nobody, from the cluster's directory (nobody may not
# reach the caller's).
pg() { (cd "$PG_DIR" && runuser -u nobody -- "$PG_BIN/$1" "${@:2}"); }
psql_q() { pg psql -h "$PG_DIR" -p "$PG_PORT" -U rampart -d "$1" -X -tAqc "$2"; }

start_pg() {
    [[ -x "$PG_BIN/initdb" ]] || {
        log "installing postgresql (Debian's PostgreSQL 15)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql >/dev/null
    }
    PG_DIR="$WORK/pg"
    mkdir -p "$PG_DIR"
    chown nobody: "$PG_DIR"
    chmod 700 "$PG_DIR"
    PG_PASSWORD=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
    printf '%s\n' "$PG_PASSWORD" >"$PG_DIR/pwfile"
    chown nobody: "$PG_DIR/pwfile"
    pg initdb -D "$PG_DIR/data" -U rampart --auth-local=trust --auth-host=scram-sha-256 \
        --pwfile "$PG_DIR/pwfile" -E UTF8 >"$PG_DIR/initdb.log" 2>&1 \
        || die "initdb failed: $(cat "$PG_DIR/initdb.log")"
    rm -f "$PG_DIR/pwfile"
    PG_PORT=$(python3 "$PROCSTAT" freeport)
    cat >>"$PG_DIR/data/postgresql.conf" <<EOF
# bench/pg_nodes.sh: loopback only, its own port and socket directory; nothing else changed.
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PG_DIR'
EOF
    pg pg_ctl -D "$PG_DIR/data" -l "$PG_DIR/log" -w -t 60 start >/dev/null \
        || die "pg_ctl start failed: $(cat "$PG_DIR/log")"
    PG_PID=$(head -1 "$PG_DIR/data/postmaster.pid")
    DB_PASSWORD_FILE="$WORK/db-password"
    (umask 077; printf '%s\n' "$PG_PASSWORD" >"$DB_PASSWORD_FILE")
    PG_VERSION=$(psql_q postgres 'SHOW server_version')
    PG_SETTINGS=$(psql_q postgres "SELECT string_agg(name || '=' || current_setting(name), ', ' ORDER BY name)
        FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'shared_buffers',
        'max_connections', 'wal_level', 'commit_delay', 'full_page_writes', 'wal_sync_method')")
    log "PostgreSQL $PG_VERSION on 127.0.0.1:$PG_PORT ($PG_SETTINGS)"
}

stop_pg() {
    [[ -n "$PG_PID" ]] || return 0
    pg pg_ctl -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
    PG_PID=""
}

# A Rampart node (bench/run.sh's start_rampart) on database $PG_DB, or on SQLite if it is empty.
start_node() {
    local dir=$1 setup=$2
    local extra=""
    if [[ -n "$PG_DB" ]]; then
        extra=$(printf '[store]\nbackend = "postgresql"\nurl = "postgresql://rampart@127.0.0.1:%s/%s"\npassword_file = "%s"' \
            "$PG_PORT" "$PG_DB" "$DB_PASSWORD_FILE")
    fi
    RAMPART_EXTRA_TOML=$extra RAMPART_SETUP=$setup start_rampart "$dir"
    NODE_PIDS+=("$RAMPART_PID")
    NODE_PORTS+=("$PORT")
    NODE_CONFS+=("$R_CONF")
    NODE_ERRS+=("$R_STDERR")
    RAMPART_PID=""
}

stop_nodes() {
    local pid
    for pid in "${NODE_PIDS[@]}"; do
        RAMPART_PID=$pid
        stop_rampart
    done
    NODE_PIDS=()
}

pg_cleanup() {
    local rc=$?
    set +e
    stop_nodes
    stop_postfix
    stop_pg
    [[ -n "$WORK" && -d "$WORK" ]] && rm -rf "$WORK"
    exit "$rc"
}
trap pg_cleanup EXIT

# The database's own counters for a cell: transactions committed and rows written in its
# database, and the cluster's write-ahead log (bytes, records, fsyncs). Backends report them at
# most once a second, so a cell's figures are close, not exact.
pg_counters() {
    psql_q "$PG_DB" "SELECT d.xact_commit, d.tup_inserted + d.tup_updated + d.tup_deleted,
        w.wal_bytes, w.wal_records, w.wal_sync FROM pg_stat_database d, pg_stat_wal w
        WHERE d.datname = current_database()" | tr '|' ' '
}

# Until killed: every 0.5 s, what the cell's active backends wait on (pg_stat_activity), one
# line per backend: its wait ("Lock/advisory", "IO/WALSync", "-" running, ...) and statement.
pg_wait_sampler() {
    local out=$1
    while :; do
        psql_q "$PG_DB" "SELECT coalesce(wait_event_type || '/' || wait_event, '-') || ' '
            || left(regexp_replace(query, '\\s+', ' ', 'g'), 70) FROM pg_stat_activity WHERE datname = current_database() AND state = 'active'
            AND pid <> pg_backend_pid()" >>"$out" 2>/dev/null || true
        sleep 0.5
    done
}

cpu_of() {
    local total=0 pid
    for pid in "$@"; do
        total=$(awk -v a="$total" -v b="$(python3 "$PROCSTAT" cpu "$pid")" 'BEGIN{printf "%.2f", a+b}')
    done
    echo "$total"
}

# Messages in the mailboxes of the cell's server.
cell_delivered() {
    case $KIND in
        sqlite) "$RAMPART" --config "${NODE_CONFS[0]}" mailbox list "$RCPT" | wc -l ;;
        pg1|pg2|pg1u) psql_q "$PG_DB" 'SELECT count(*) FROM mail_emails' ;;
        postfix) postfix_delivered ;;
    esac
}
cell_all_delivered() {
    [[ $(cell_delivered) -ge $1 ]] || return 1
    [[ $KIND != postfix ]] || postfix_queue_empty
}

# smtp-source with SESSIONS sessions and MSGS messages over the cell's server(s): one node gets
# all, two nodes half each (at once).
send() {
    local sess=$1 m=$2 out=$3
    if [[ $KIND == pg1u ]]; then
        # One smtp-source per user, one session each, all at once.
        local i pids=() rc=0
        for (( i = 1; i <= sess; i++ )); do
            "$SMTP_SOURCE" -s 1 -m $(( m / sess )) -l "$SIZE" -f "$FROM" -t "u$i@example.test" \
                "127.0.0.1:${NODE_PORTS[0]}" >"$out.$i" 2>&1 & pids+=($!)
        done
        for i in "${pids[@]}"; do wait "$i" || rc=$?; done
        return "$rc"
    fi
    if [[ $KIND == pg2 ]]; then
        local a b rc=0
        "$SMTP_SOURCE" -s $(( sess / 2 )) -m $(( m / 2 )) -l "$SIZE" -f "$FROM" -t "$RCPT" \
            "127.0.0.1:${NODE_PORTS[0]}" >"$out.a" 2>&1 & a=$!
        "$SMTP_SOURCE" -s $(( sess / 2 )) -m $(( m / 2 )) -l "$SIZE" -f "$FROM" -t "$RCPT" \
            "127.0.0.1:${NODE_PORTS[1]}" >"$out.b" 2>&1 & b=$!
        wait "$a" || rc=$?
        wait "$b" || rc=$?
        return "$rc"
    fi
    local port=$PORT
    [[ $KIND == postfix ]] || port=${NODE_PORTS[0]}
    "$SMTP_SOURCE" -s "$sess" -m "$m" -l "$SIZE" -f "$FROM" -t "$RCPT" "127.0.0.1:$port" >"$out" 2>&1
}

# What a node says here that is no failure: it runs as root, the checks are off, the bench's
# 2-day certificate "expires soon", no integrity baseline (NC-2.2) in /etc.
NODE_NOTES='running as root|checks? (is )?switched off|certificate expires soon|no integrity baseline'

CELL_NO=0
run_pg_cell() {
    KIND=$1
    local run=$2 n=$PG_MSGS
    local cell="$KIND-run$run" dir="$WORK/$KIND-run$run" logs="$RESULTS_DIR/logs/$KIND-run$run"
    mkdir -p "$logs"
    CELL_NO=$(( CELL_NO + 1 ))
    PG_DB=""
    case $KIND in
        sqlite) start_node "$dir/a" 1 ;;
        pg1|pg2|pg1u)
            PG_DB="bench$CELL_NO"
            psql_q postgres "CREATE DATABASE $PG_DB" >/dev/null
            start_node "$dir/a" 1
            if [[ $KIND == pg2 ]]; then start_node "$dir/b" 0; fi
            if [[ $KIND == pg1u ]]; then
                local u
                for (( u = 1; u <= SESS; u++ )); do
                    printf 'a-long-password-123\n' | "$RAMPART" --config "${NODE_CONFS[0]}" \
                        user add "u$u@example.test" --password-stdin >/dev/null
                done
            fi
            ;;
        postfix) start_postfix "$dir" ;;
    esac
    local servers=("${NODE_PIDS[@]}")
    if [[ $KIND == postfix ]]; then servers=("$PF_MASTER"); fi

    local warm=$(( SESS * 2 )) rc=0
    send "$SESS" "$warm" "$logs/warmup.out" || rc=$?
    wait_for 60 cell_all_delivered "$warm" || true

    local c0 p0 t0 t1 t2 c1 p1 got el
    c0=$(cpu_of "${servers[@]}")
    p0=0
    [[ -n "$PG_DB" ]] && p0=$(cpu_of "$PG_PID")
    local k0="" k1="" sampler=""
    if [[ -n "$PG_DB" ]]; then
        k0=$(pg_counters)
        pg_wait_sampler "$logs/pg-waits" & sampler=$!
    fi
    t0=$(date +%s.%N)
    send "$SESS" "$n" "$logs/smtp-source.out" || rc=$?
    t1=$(date +%s.%N)
    local want=$(( warm + n ))
    wait_for 300 cell_all_delivered "$want" || true
    t2=$(date +%s.%N)
    if [[ -n "$sampler" ]]; then
        kill "$sampler" 2>/dev/null || true
        wait "$sampler" 2>/dev/null || true
        k1=$(pg_counters)
        # Per message: commits, rows written, WAL bytes, WAL records, WAL fsyncs.
        read -r -a A <<<"$k0"
        read -r -a B <<<"$k1"
        local i per=()
        for i in 0 1 2 3 4; do
            per+=("$(awk -v a="${A[$i]}" -v b="${B[$i]}" -v n="$n" 'BEGIN{printf "%.2f", (b-a)/n}')")
        done
        echo "${per[*]}" >"$logs/pg-per-msg"
    fi
    c1=$(cpu_of "${servers[@]}")
    p1=0
    [[ -n "$PG_DB" ]] && p1=$(cpu_of "$PG_PID")
    got=$(cell_delivered)
    el=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b-a}')

    local issues=() problems=0 f
    if [[ $KIND == postfix ]]; then
        stop_postfix
    else
        stop_nodes
        if [[ -n "$PG_DB" ]]; then
            # Where the database's work went, per message of the cell (warm-up included, the
            # counters are the database's since it was made): rows written and scans per table.
            # The nodes are stopped: their backends reported their counters as they exited.
            psql_q "$PG_DB" "SELECT relname, round((n_tup_ins + n_tup_upd + n_tup_del)::numeric
                / $want, 2), round((coalesce(seq_scan, 0) + coalesce(idx_scan, 0))::numeric
                / $want, 2) FROM pg_stat_user_tables WHERE n_tup_ins + n_tup_upd + n_tup_del
                + coalesce(seq_scan, 0) + coalesce(idx_scan, 0) > 0 ORDER BY 2 DESC, 3 DESC" \
                | tr '|' ' ' >"$logs/pg-tables"
        fi
        for f in "${NODE_ERRS[@]}"; do
            grep -Ev "$NODE_NOTES" "$f" \
                >>"$logs/server-problems" || true
        done
        NODE_CONFS=(); NODE_PORTS=(); NODE_ERRS=()
        problems=$(wc -l <"$logs/server-problems")
    fi
    [[ $rc -ne 0 ]] && issues+=("smtp-source rc=$rc")
    [[ $got -ne $want ]] && issues+=("delivered $got of $want")
    (( problems > 0 )) && issues+=("$problems server log lines")
    local status=ok
    (( ${#issues[@]} )) && status=$(IFS=';'; echo "${issues[*]}")
    log "$cell: $n msgs in ${el}s -> $(awk -v n="$n" -v e="$el" 'BEGIN{printf "%.0f", n/e}') msg/s; delivered $got of $want; $status"
    # kind run msgs accept_secs e2e_secs server_cpu postgres_cpu delivered expected status
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$KIND" "$run" "$n" "$el" \
        "$(awk -v a="$t0" -v b="$t2" 'BEGIN{printf "%.3f", b-a}')" \
        "$(awk -v a="$c0" -v b="$c1" 'BEGIN{printf "%.2f", b-a}')" \
        "$(awk -v a="$p0" -v b="$p1" 'BEGIN{printf "%.2f", b-a}')" \
        "$got" "$want" "$status" >>"$RESULTS_DIR/pg_nodes.tsv"
}

report() {
    cat <<EOF
Rampart on PostgreSQL: inbound SMTP over loopback, ${SIZE} B messages, $SESS sessions
date:       $(date -u '+%Y-%m-%d %H:%M:%S UTC'); load average before: $LOAD_BEFORE
machine:    $(nproc) CPUs, $(awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo) RAM; disk $(fs_description "$WORK")
            $FSYNC_PROBE
rampart:    $RAMPART_DESC, release build; checks off (RAMPART_CHECKS=off)
postgresql: $PG_VERSION, $PG_SETTINGS
postfix:    $POSTFIX_VERSION (Debian), as bench/run.sh
load:       $SMTP_SOURCE -s $SESS -m $PG_MSGS -l $SIZE (pg2: -s $(( SESS / 2 )) -m $(( PG_MSGS / 2 )) to each node at once),
            one connection per message, after a warm-up of 2 messages per session
EOF
    python3 - "$RESULTS_DIR/pg_nodes.tsv" <<'PY'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
by = {}
for k, run, n, acc, e2e, cpu, pgcpu, got, want, status in rows:
    by.setdefault(k, []).append((int(n), float(acc), float(e2e), float(cpu), float(pgcpu), status))
med = lambda xs: statistics.median(xs)
pf = med([n / a for n, a, *_ in by.get("postfix", [])]) if "postfix" in by else None
names = {"sqlite": "1 node, SQLite", "pg1": "1 node, PostgreSQL", "pg2": "2 nodes, PostgreSQL",
         "pg1u": "1 node, PG, 50 users",
         "postfix": "Postfix"}
print()
print(f"{'cell':22}{'accept msg/s':>22}{'e2e msg/s':>12}{'x Postfix':>11}{'server us/msg':>15}{'postgres us/msg':>17}  status")
for k in ("sqlite", "pg1", "pg2", "pg1u", "postfix"):
    if k not in by:
        continue
    rs = by[k]
    acc = [n / a for n, a, *_ in rs]
    e2e = [n / e for n, _, e, *_ in rs]
    cpu = med([c / n * 1e6 for n, _, _, c, _, _ in rs])
    pgc = med([p / n * 1e6 for n, _, _, _, p, _ in rs])
    st = ",".join(sorted(set(r[5] for r in rs)))
    rng = f"{med(acc):.0f} ({min(acc):.0f}-{max(acc):.0f})"
    ratio = f"{med(acc) / pf:.2f}" if pf else "-"
    print(f"{names[k]:22}{rng:>22}{med(e2e):>12.0f}{ratio:>11}{cpu:>15.0f}"
          f"{(f'{pgc:.0f}' if k.startswith('pg') else '-'):>17}  {st}")
print()
print("accept = messages / smtp-source wall time (median of the runs, range in brackets); e2e =")
print("messages / time until all are in the mailboxes; x Postfix = accept rate / Postfix's median;")
print("us/msg = CPU (user+system) per message over the timed part and the wait for delivery:")
print("server = rampart (both nodes for pg2) or all of Postfix's processes; postgres = the")
print("postmaster and every backend (the ones that exited included).")
PY
    local f
    echo
    echo "PostgreSQL per message (timed part and delivery; pg_stat_database of the cell's database,"
    echo "pg_stat_wal of the cluster): commits, rows written, WAL bytes, WAL records, WAL fsyncs;"
    echo "then what its active backends waited on (pg_stat_activity sampled every 0.5 s, share of samples):"
    for f in "$RESULTS_DIR"/logs/pg*-run*/pg-per-msg; do
        [[ -f $f ]] || continue
        local d=${f%/pg-per-msg}
        printf '  %-10s %s\n' "${d##*/}" "$(cat "$f")"
        if [[ -s "$d/pg-tables" ]]; then
            echo "             per table, rows written / scans per message:"
            awk '{printf "               %s %s / %s\n", $1, $2, $3}' "$d/pg-tables" | head -14
        fi
        if [[ -s "$d/pg-waits" ]]; then
            sort "$d/pg-waits" | uniq -c | sort -rn | head -6 \
                | awk -v t="$(wc -l <"$d/pg-waits")" '{n = $1; sub(/^ *[0-9]+ /, ""); printf "             %5.1f%% %s\n", 100*n/t, $0}'
        fi
    done
}

pg_main() {
    install_deps
    WORK=$(mktemp -d "${WORK_BASE:-/tmp}/rampart-pgbench.XXXXXX")
    chmod 755 "$WORK"
    build_rampart
    make_certificates
    RESULTS_DIR=${RESULTS_DIR:-$(mktemp -d /tmp/rampart-pgbench-results.XXXXXX)}
    mkdir -p "$RESULTS_DIR/logs"
    : >"$RESULTS_DIR/pg_nodes.tsv"
    LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
    FSYNC_PROBE=$(python3 "$PROCSTAT" fsyncprobe "$WORK")
    start_pg
    log "work dir $WORK, results in $RESULTS_DIR"
    local run kind
    for (( run = 1; run <= PG_REPS; run++ )); do
        for kind in $CELLS; do
            run_pg_cell "$kind" "$run"
        done
    done
    report | tee "$RESULTS_DIR/report.txt"
    if awk -F'\t' '$10 != "ok" { bad = 1 } END { exit !bad }' "$RESULTS_DIR/pg_nodes.tsv"; then
        echo
        echo "FAILED: a run did not deliver every message or logged problems:"
        awk -F'\t' '$10 != "ok" { printf "  %s run %s: %s\n", $1, $2, $10 }' "$RESULTS_DIR/pg_nodes.tsv"
        echo "  logs: $RESULTS_DIR/logs"
        exit 1
    fi
}

pg_main; exit
