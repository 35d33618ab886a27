#!/usr/bin/env python3
"""Turns bench/run.sh's raw.tsv into the two tables of the report.

  report.py RAW_TSV NCPU

Each cell (size, sessions) was measured REPS times, Rampart and Postfix alternating, so that
whatever else runs on the machine disturbs both alike. Rates are the median over the repetitions,
with the lowest and highest in brackets: a wide bracket means a noisy cell. Memory is the highest
over the repetitions.
"""
import statistics
import sys

COLUMNS = [
    "server", "size", "sessions", "rep", "msgs", "accept_secs", "e2e_secs", "server_cpu",
    "gen_cpu", "hwm_kb", "peak_rss_kb", "peak_pss_kb", "peak_procs", "delivered", "expected",
    "status", "machine_busy", "listen_overflows", "syn_retransmits",
]


def load(path):
    rows = []
    with open(path) as f:
        for line in f:
            values = line.rstrip("\n").split("\t")
            row = dict(zip(COLUMNS, values))
            for k in COLUMNS:
                if k not in ("server", "status"):
                    row[k] = float(row[k])
            rows.append(row)
    return rows


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


def main():
    rows = load(sys.argv[1])
    ncpu = int(sys.argv[2])
    cells = []
    for r in rows:
        key = (r["size"], r["sessions"])
        if key not in cells:
            cells.append(key)

    def runs(server, key):
        return [r for r in rows if r["server"] == server and (r["size"], r["sessions"]) == key]

    def med_range(values, fmt="{:.0f}"):
        if not values:
            return "-"
        m = statistics.median(values)
        if len(values) == 1:
            return fmt.format(m)
        return f"{fmt.format(m)} [{fmt.format(min(values))}-{fmt.format(max(values))}]"

    def ratio(a, b):
        return f"{statistics.median(a) / statistics.median(b):.2f}" if a and b and statistics.median(b) > 0 else "-"

    reps = max(int(r["rep"]) for r in rows)
    print(f"Throughput, messages per second: median of {reps} run(s) [lowest-highest]")
    head = f"{'size':<6} {'sess':>4} {'msgs':>5} | {'rampart':>17} {'postfix':>17} {'ratio':>5} | " \
           f"{'rampart e2e':>17} {'postfix e2e':>17} {'ratio':>5} | status"
    print(head)
    for key in cells:
        r, p = runs("rampart", key), runs("postfix", key)
        ra, pa = [rate(x, "accept_secs") for x in r], [rate(x, "accept_secs") for x in p]
        re, pe = [rate(x, "e2e_secs") for x in r], [rate(x, "e2e_secs") for x in p]
        problems = [f"{x['server']} run {int(x['rep'])}: {x['status']}" for x in r + p if x["status"] != "ok"]
        congested = [x for x in p if x["status"].startswith("ok (qmgr")]
        problems = [s for s in problems if "ok (qmgr" not in s]
        if congested:
            problems.append(f"ok; postfix qmgr congestion warning in {len(congested)} run(s)")
        msgs = int((r or p)[0]["msgs"])
        print(f"{size_label(key[0]):<6} {int(key[1]):>4} {msgs:>5} | {med_range(ra):>17} {med_range(pa):>17} "
              f"{ratio(ra, pa):>5} | {med_range(re):>17} {med_range(pe):>17} {ratio(re, pe):>5} | "
              f"{'; '.join(problems) or 'ok'}")

    print()
    print("Resources (medians over the runs, memory: highest)")
    print(f"{'size':<6} {'sess':>4} | {'r us/msg':>8} {'r peak MB':>9} {'other%':>6} | "
          f"{'p us/msg':>8} {'p Pss MB':>8} {'p RSS MB':>8} {'procs':>5} {'other%':>6} | "
          f"{'gen us/msg':>10} | {'SYN drops r/p':>13}")
    for key in cells:
        r, p = runs("rampart", key), runs("postfix", key)

        def med(xs):
            return statistics.median(xs) if xs else 0.0

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


if __name__ == "__main__":
    main()
