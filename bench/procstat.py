#!/usr/bin/env python3
"""Small /proc helpers for bench/run.sh (kept out of bash because they loop over processes).

  procstat.py freeport                  print a TCP port on 127.0.0.1 that was free a moment ago
  procstat.py cpu ROOT                  CPU seconds (user+system) used so far by ROOT and its
                                        descendants, including children it has already reaped
  procstat.py sample ROOT OUT [SECS]    until killed or ROOT exits: every SECS (default 0.2)
                                        sum VmRSS and Pss over ROOT and its descendants and keep
                                        the peaks in OUT ("peak_rss_kb peak_pss_kb peak_procs samples")
  procstat.py hwm PID                   VmHWM of one process in kB (the kernel's own peak RSS)
  procstat.py busy                      CPU seconds the whole machine has been busy since boot
                                        (all CPUs, everything but idle and iowait): the
                                        difference over a cell, minus the servers' and the load
                                        generator's share, shows how much else was running
  procstat.py tcp                       TcpExt ListenOverflows and TCPSynRetrans so far (whole
                                        network namespace): a full listen queue drops SYNs and
                                        the client only retries after 1 s, then 3 s, 7 s ...
  procstat.py fsyncprobe DIR            median and p90 of 300 fdatasync calls after 4 KB appends
                                        in a file under DIR: what one durable write costs here

Why both RSS and Pss: Postfix runs hundreds of processes that share the same libraries and
binaries; summing RSS counts those shared pages once per process and overstates memory, Pss
divides each shared page among the processes mapping it. Rampart is one process, where VmHWM
is exact; the sampled values are reported for it too so both servers are measured the same way.
"""
import os
import signal
import socket
import sys
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


def stat_fields(pid):
    """Fields of /proc/PID/stat after the command name (which may contain spaces)."""
    with open(f"/proc/{pid}/stat") as f:
        data = f.read()
    return data[data.rindex(")") + 2:].split()


def children_of(pid):
    """Direct children, from /proc/PID/task/*/children (cheap: no scan of all of /proc)."""
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out.extend(int(c) for c in f.read().split())
    except OSError:
        pass  # the process exited while we looked
    return out


def descendants(root):
    """ROOT and every live process below it."""
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children_of(pid))
    return out


def cpu(root):
    total = 0
    for pid in descendants(root):
        try:
            f = stat_fields(pid)
        except OSError:
            continue
        # After ")": state=0 ppid=1 ... utime=11 stime=12 cutime=13 cstime=14 (0-based here).
        total += int(f[11]) + int(f[12])
        if pid == root:
            # Time of children ROOT has already waited for (Postfix's master reaps its
            # daemons as they exit after max_use or max_idle).
            total += int(f[13]) + int(f[14])
    return total / CLK_TCK


def status_kb(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def pss_kb(pid):
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    return 0


def sample(root, out, interval):
    peak_rss = peak_pss = peak_procs = samples = 0
    stop = False

    def on_term(*_):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    while not stop and os.path.exists(f"/proc/{root}"):
        rss = pss = procs = 0
        for pid in descendants(root):
            try:
                rss += status_kb(pid, "VmRSS")
                pss += pss_kb(pid)
                procs += 1
            except OSError:
                continue
        samples += 1
        peak_rss, peak_pss = max(peak_rss, rss), max(peak_pss, pss)
        peak_procs = max(peak_procs, procs)
        # Rewrite the file every time so a kill at any moment leaves the peaks so far.
        tmp = out + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{peak_rss} {peak_pss} {peak_procs} {samples}\n")
        os.replace(tmp, out)
        time.sleep(interval)


def busy():
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal (guest time is already in user)
    return (sum(fields[:8]) - fields[3] - fields[4]) / CLK_TCK


def tcp_counters():
    with open("/proc/net/netstat") as f:
        lines = f.read().splitlines()
    for names, values in zip(lines[::2], lines[1::2]):
        if names.startswith("TcpExt:"):
            table = dict(zip(names.split()[1:], values.split()[1:]))
            return int(table["ListenOverflows"]), int(table["TCPSynRetrans"])
    return 0, 0


def fsync_probe(directory):
    path = os.path.join(directory, "fsync-probe")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    lat = []
    try:
        for _ in range(300):
            os.write(fd, b"x" * 4096)
            t = time.perf_counter()
            os.fdatasync(fd)
            lat.append(time.perf_counter() - t)
    finally:
        os.close(fd)
        os.unlink(path)
    lat.sort()
    return f"fdatasync after a 4 KB append: median {lat[150] * 1e3:.3f} ms, p90 {lat[270] * 1e3:.3f} ms"


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "freeport":
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        print(s.getsockname()[1])
        s.close()
    elif cmd == "cpu":
        print(f"{cpu(int(sys.argv[2])):.2f}")
    elif cmd == "busy":
        print(f"{busy():.2f}")
    elif cmd == "tcp":
        print(*tcp_counters())
    elif cmd == "fsyncprobe":
        print(fsync_probe(sys.argv[2]))
    elif cmd == "hwm":
        print(status_kb(int(sys.argv[2]), "VmHWM"))
    elif cmd == "sample":
        interval = float(sys.argv[4]) if len(sys.argv) > 4 else 0.2
        sample(int(sys.argv[2]), sys.argv[3], interval)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
