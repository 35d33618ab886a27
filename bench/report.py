#!/usr/bin/env python3
"""Turns bench/run.sh's results into the tables of the report; the one place that formats them.

  report.py RAW_TSV NCPU [LOADGEN_TSV]    the tables: throughput and resources from smtp-source
                                          (raw.tsv), and with LOADGEN_TSV the rampart-loadgen
                                          tables: plain rate and DATA-to-250 latency, STARTTLS
  report.py loadgen-fields JSON_FILE      the fields run.sh needs from one rampart-loadgen
                                          report, on one line separated by tabs (see
                                          LOADGEN_FIELDS); zeros and the error "no-report" when
                                          the file is missing or not a report

Each cell (size, sessions) was measured REPS times, Rampart and Postfix alternating, so that
whatever else runs on the machine disturbs both alike. Rates are the median over the repetitions,
with the lowest and highest in brackets: a wide bracket means a noisy cell. Memory is the highest
over the repetitions. Latency percentiles are the median over the repetitions of each one's
percentile (a percentile of all the runs' messages together is not available: each run reports
only its own).
"""
import json
import statistics
import sys

COLUMNS = [
    "server", "size", "sessions", "rep", "msgs", "accept_secs", "e2e_secs", "server_cpu",
    "gen_cpu", "hwm_kb", "peak_rss_kb", "peak_pss_kb", "peak_procs", "delivered", "expected",
    "status", "machine_busy", "listen_overflows", "syn_retransmits",
]


# loadgen.tsv, one row per server, cell, run and phase (plain or starttls); latencies in us.
LOADGEN_COLUMNS = [
    "server", "size", "sessions", "rep", "phase", "msgs", "messages_ok", "errors",
    "connect_errors", "warmup_ok", "warmup_failed", "wall_secs", "msgs_per_sec", "p50", "p90",
    "p99", "max", "setup_p50", "setup_p99", "connections", "tls_resumed", "delivered", "expected",
    "server_cpu", "gen_cpu", "listen_overflows", "syn_retransmits", "status",
]
TEXT_COLUMNS = ("server", "status", "phase", "errors")

# What `loadgen-fields` prints, in this order: paths into rampart-loadgen's JSON report.
LOADGEN_FIELDS = [
    ("messages_ok",), ("errors",), ("connect_errors",), ("warmup_ok",), ("warmup_failed",),
    ("wall_secs",), ("msgs_per_sec",), ("data_latency_us", "p50"), ("data_latency_us", "p90"),
    ("data_latency_us", "p99"), ("data_latency_us", "max"), ("setup_latency_us", "p50"),
    ("setup_latency_us", "p99"), ("connections",), ("tls_resumed",),
]


def load(path, columns=COLUMNS):
    rows = []
    with open(path) as f:
        for line in f:
            values = line.rstrip("\n").split("\t")
            row = dict(zip(columns, values))
            for k in columns:
                if k not in TEXT_COLUMNS:
                    row[k] = float(row[k])
            rows.append(row)
    return rows


def loadgen_fields(path):
    """One line for run.sh's `read`: the LOADGEN_FIELDS of the report in PATH. The errors map
    becomes "550x3,timeoutx1", or "-" when empty, so that it is one word."""
    try:
        with open(path) as f:
            report = json.load(f)
        values = []
        for keys in LOADGEN_FIELDS:
            v = report
            for k in keys:
                v = v[k]
            if keys == ("errors",):
                v = ",".join(f"{code}x{n}" for code, n in sorted(v.items())) or "-"
            elif isinstance(v, float):
                v = f"{v:.3f}"
            values.append(str(v))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        values = ["0"] * len(LOADGEN_FIELDS)
        values[1] = "no-report"
    print("\t".join(values))


def size_label(size):
    return f"{int(size) // 1024} KB" if size >= 1024 else f"{int(size)} B"


def rate(row, key):
    return row["msgs"] / row[key] if row[key] > 0 else 0.0


def other_pct(row, ncpu):
    """CPU used by everything except the server and smtp-source, as % of the whole machine."""
    if row["e2e_secs"] <= 0:
        return 0.0
    other = row["machine_busy"] - row["server_cpu"] - row["gen_cpu"]
    return max(0.0, 100 * other / (row["e2e_secs"] * ncpu))


def med_range(values, fmt="{:.0f}"):
    """The median, with the lowest and highest in brackets when there are several values."""
    if not values:
        return "-"
    m = statistics.median(values)
    if len(values) == 1:
        return fmt.format(m)
    return f"{fmt.format(m)} [{fmt.format(min(values))}-{fmt.format(max(values))}]"


def ratio(a, b):
    """Median of a over median of b."""
    return f"{statistics.median(a) / statistics.median(b):.2f}" if a and b and statistics.median(b) > 0 else "-"


def med(xs):
    return statistics.median(xs) if xs else 0.0


def ms(values_us):
    """The median of latencies given in us, in ms, with about three significant digits."""
    if not values_us:
        return "-"
    v = statistics.median(values_us) / 1000
    return f"{v:.2f}" if v < 10 else f"{v:.1f}" if v < 100 else f"{v:.0f}"


def cell_status(rows):
    """The problems of a cell's runs in a few words. Warnings that are no failure ("ok (qmgr:
    local delivery congested)", "ok (cleanup: file system clock ahead)") become notes."""
    problems = [f"{x['server']} run {int(x['rep'])}: {x['status']}" for x in rows
                if not x["status"].startswith("ok")]
    notes = {}
    for x in rows:
        if x["status"].startswith("ok ("):
            for note in x["status"][4:-1].split(", "):
                key = f"{x['server']} {note}"
                notes[key] = notes.get(key, 0) + 1
    if notes and not problems:
        problems.append("ok")
    problems += [f"{note} in {n} run(s)" for note, n in notes.items()]
    return "; ".join(problems) or "ok"


def cells_of(rows):
    cells = []
    for r in rows:
        key = (r["size"], r["sessions"])
        if key not in cells:
            cells.append(key)
    return cells


def runs(rows, server, key):
    return [r for r in rows if r["server"] == server and (r["size"], r["sessions"]) == key]


def smtp_source_tables(rows, ncpu):
    cells = cells_of(rows)
    reps = max(int(r["rep"]) for r in rows)
    print(f"Phase 1, smtp-source. Throughput, messages per second: median of {reps} run(s) [lowest-highest]")
    head = f"{'size':<6} {'sess':>4} {'msgs':>5} | {'rampart':>17} {'postfix':>17} {'ratio':>5} | " \
           f"{'rampart e2e':>17} {'postfix e2e':>17} {'ratio':>5} | status"
    print(head)
    for key in cells:
        r, p = runs(rows, "rampart", key), runs(rows, "postfix", key)
        ra, pa = [rate(x, "accept_secs") for x in r], [rate(x, "accept_secs") for x in p]
        re, pe = [rate(x, "e2e_secs") for x in r], [rate(x, "e2e_secs") for x in p]
        msgs = int((r or p)[0]["msgs"])
        print(f"{size_label(key[0]):<6} {int(key[1]):>4} {msgs:>5} | {med_range(ra):>17} {med_range(pa):>17} "
              f"{ratio(ra, pa):>5} | {med_range(re):>17} {med_range(pe):>17} {ratio(re, pe):>5} | "
              f"{cell_status(r + p)}")

    print()
    print("Resources during phase 1 (medians over the runs, memory: highest)")
    print(f"{'size':<6} {'sess':>4} | {'r us/msg':>8} {'r peak MB':>9} {'other%':>6} | "
          f"{'p us/msg':>8} {'p Pss MB':>8} {'p RSS MB':>8} {'procs':>5} {'other%':>6} | "
          f"{'gen us/msg':>10} | {'SYN drops r/p':>13}")
    for key in cells:
        r, p = runs(rows, "rampart", key), runs(rows, "postfix", key)
        print(f"{size_label(key[0]):<6} {int(key[1]):>4} | "
              f"{med([1e6 * x['server_cpu'] / x['msgs'] for x in r]):>8.0f} "
              f"{max([x['hwm_kb'] for x in r] or [0]) / 1024:>9.1f} "
              f"{med([other_pct(x, ncpu) for x in r]):>6.0f} | "
              f"{med([1e6 * x['server_cpu'] / x['msgs'] for x in p]):>8.0f} "
              f"{max([x['peak_pss_kb'] for x in p] or [0]) / 1024:>8.1f} "
              f"{max([x['peak_rss_kb'] for x in p] or [0]) / 1024:>8.1f} "
              f"{int(max([x['peak_procs'] for x in p] or [0])):>5} "
              f"{med([other_pct(x, ncpu) for x in p]):>6.0f} | "
              f"{med([1e6 * x['gen_cpu'] / x['msgs'] for x in r + p]):>10.0f} | "
              f"{int(sum(x['listen_overflows'] for x in r)):>6}/{int(sum(x['listen_overflows'] for x in p)):<6}")


def loadgen_tables(rows):
    plain = [x for x in rows if x["phase"] == "plain"]
    tls = [x for x in rows if x["phase"] == "starttls"]
    reps = max(int(r["rep"]) for r in rows)
    lat = f"{'r p50':>6} {'r p99':>6} | {'p p50':>6} {'p p99':>6}"

    def rates_and_latency(r, p):
        ra, pa = [x["msgs_per_sec"] for x in r], [x["msgs_per_sec"] for x in p]
        return (f"{med_range(ra):>17} {med_range(pa):>17} {ratio(ra, pa):>5} | "
                f"{ms([x['p50'] for x in r]):>6} {ms([x['p99'] for x in r]):>6} | "
                f"{ms([x['p50'] for x in p]):>6} {ms([x['p99'] for x in p]):>6}")

    if plain:
        print()
        print(f"Phase 2, rampart-loadgen plain: messages per second, median of {reps} run(s) "
              f"[lowest-highest];")
        print("DATA-to-250 latency in ms (r = Rampart, p = Postfix), medians of the runs' p50 and p99")
        print(f"{'size':<6} {'sess':>4} {'msgs':>5} | {'rampart':>17} {'postfix':>17} {'ratio':>5} | "
              f"{lat} | status")
        for key in cells_of(plain):
            r, p = runs(plain, "rampart", key), runs(plain, "postfix", key)
            msgs = int((r or p)[0]["msgs"])
            print(f"{size_label(key[0]):<6} {int(key[1]):>4} {msgs:>5} | {rates_and_latency(r, p)} | "
                  f"{cell_status(r + p)}")

    if tls:
        print()
        print(f"Phase 3, rampart-loadgen STARTTLS: messages per second, median of {reps} run(s) "
              f"[lowest-highest];")
        print("DATA-to-250 and set-up latency in ms, medians of the runs' p50 and p99; TLS handshakes "
              "resumed / connections")
        print(f"{'size':<6} {'sess':>4} {'msgs':>5} | {'rampart':>17} {'postfix':>17} {'ratio':>5} | "
              f"{lat} | {'setup p50 r/p':>13} | {'resumed r':>11} {'resumed p':>11} | status")

        def resumed(xs):
            return f"{int(sum(x['tls_resumed'] for x in xs))}/{int(sum(x['connections'] for x in xs))}"

        for key in cells_of(tls):
            r, p = runs(tls, "rampart", key), runs(tls, "postfix", key)
            msgs = int((r or p)[0]["msgs"])
            setup = f"{ms([x['setup_p50'] for x in r])}/{ms([x['setup_p50'] for x in p])}"
            print(f"{size_label(key[0]):<6} {int(key[1]):>4} {msgs:>5} | {rates_and_latency(r, p)} | "
                  f"{setup:>13} | {resumed(r):>11} {resumed(p):>11} | {cell_status(r + p)}")


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "loadgen-fields":
        loadgen_fields(sys.argv[2])
        return
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    smtp_source_tables(load(sys.argv[1]), int(sys.argv[2]))
    if len(sys.argv) == 4:
        rows = load(sys.argv[3], LOADGEN_COLUMNS)
        if rows:
            loadgen_tables(rows)


if __name__ == "__main__":
    main()
