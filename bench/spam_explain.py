#!/usr/bin/env python3
"""Why Rampart's spam score went the way it did on a bench run (bench/spam_corpus.py), for
tuning on the training half (`--cv`) only.

Reads a run's rampart-cv.tsv (or rampart.tsv) and prints, per rule (code rules, content rules
and the classifier), how often it hit each kind of message and how often it carried a ham over
the tag line or was missing from a spam left under it; then the classifier's probabilities by
kind. With --what-if it scores the same messages again under other rule scores and another
classifier mapping, from the recorded hits (meta rules are not re-evaluated), so a change can
be judged before a rebuild and a new run.

    python3 bench/spam_explain.py bench/.cache/run-groups-.../rampart-cv.tsv
    python3 bench/spam_explain.py RUN/rampart-cv.tsv --what-if 'HTML_ONLY_LITTLE_TEXT=0.5' \\
        --bayes 'spam=8,ham=4,curve=2'
    python3 bench/spam_explain.py RUN/rampart-cv.tsv --band 0.5,0.95,0.7   # an "unsure" band
    python3 bench/spam_explain.py RUN/rampart+rspamd-cv.tsv --rspamd-weight 0.3
                                    # a run with Rspamd beside Rampart, at another weight
"""

import argparse
import collections
import re
import sys

KIND = {"easy-ham-1": "ham", "easy-ham-2": "ham", "hard-ham-1": "ham", "easy-ham": "ham",
        "hard-ham": "ham", "spam-1": "spam", "spam-2": "spam", "spam": "spam"}
CODE = re.compile(r"(?:: |; )([a-z_]+) ([+-]\d+\.\d+) \(")
CONTENT = re.compile(r"([A-Z0-9_]+)\((-?\d+(?:\.\d+)?)\)")
PROB = re.compile(r"classifier probability (\d\.\d+)")


def read(path):
    """[(group, kind, name, score, hits {rule: score}, bayes p or None, refused)]."""
    out = []
    for line in open(path, encoding="utf-8", errors="replace"):
        f = line.rstrip("\n").split("\t")
        group, name, score = f[0], f[1], float(f[2])
        reason = f[5] if len(f) > 5 else ""
        hits = {}
        head, _, content = reason.partition("; rules: ")
        for rule, w in CODE.findall(head):
            if rule != "bayes":
                hits[rule] = hits.get(rule, 0.0) + float(w)
        for rule, w in CONTENT.findall(content.split(";")[0]):
            hits[rule] = float(w)
        m = PROB.search(reason)
        p = float(m.group(1)) if m else None
        out.append((group, KIND[group], name, score, hits, p, score >= 1000))
    return out


def bayes_score(p, spam_w, ham_w, curve):
    """The classifier's score for p: spam_w·(2p−1)^curve above 0.5, −ham_w·(1−2p) below."""
    if p is None:
        return 0.0
    if p >= 0.5:
        return spam_w * (2 * p - 1) ** curve
    return -ham_w * (1 - 2 * p)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("tsv")
    ap.add_argument("--tag", type=float, default=5.0)
    ap.add_argument("--quarantine", type=float, default=10.0)
    ap.add_argument("--reject", type=float, default=15.0)
    ap.add_argument("--what-if", default="", help="RULE=score,... (0 switches a rule off)")
    ap.add_argument("--bayes", default="", help="spam=W,ham=W,curve=K: another classifier mapping")
    ap.add_argument("--band", default="",
                    help="LO,HI,FACTOR: the classifier's contribution times FACTOR for "
                         "probabilities in [LO, HI) (an 'unsure' band)")
    ap.add_argument("--recorded-bayes", default="spam=10,ham=4,curve=1",
                    help="the mapping the run used (to take its contribution out)")
    ap.add_argument("--rspamd-weight", type=float,
                    help="Rspamd's score times this instead of the run's weight (runs with "
                         "Rspamd beside Rampart)")
    ap.add_argument("--recorded-rspamd-weight", type=float, default=1.0,
                    help="the weight the run used (default 1, the configuration's default)")
    a = ap.parse_args()
    rows = read(a.tsv)

    def parse(spec):
        return {k: float(v) for k, v in (x.split("=") for x in spec.split(",") if x)}

    over = parse(a.what_if)
    rec = parse(a.recorded_bayes)
    new = {**rec, **parse(a.bayes)}

    band = [float(x) for x in a.band.split(",")] if a.band else None

    def rescore(score, hits, p):
        s = score
        for r, w in hits.items():
            if r in over:
                s += over[r] - w
        if a.rspamd_weight is not None and "rspamd" in hits:
            # The contribution is Rspamd's score times the recorded weight (two decimals).
            s += hits["rspamd"] * (a.rspamd_weight / a.recorded_rspamd_weight - 1)
        if a.bayes or band:
            mapped = bayes_score(p, new["spam"], new["ham"], new["curve"])
            if band and p is not None and band[0] <= p < band[1]:
                mapped *= band[2]
            s += mapped - bayes_score(p, rec["spam"], rec["ham"], rec["curve"])
        # The recorded scores have two decimals: without rounding, 17.4 − 7.4 falls under 10.
        return round(s, 6)

    n = collections.Counter(k for _, k, *_ in rows)
    hit = collections.defaultdict(collections.Counter)
    blame_fp, blame_fn = collections.Counter(), collections.Counter()
    tagged, missed, rejected = collections.Counter(), 0, collections.Counter()
    probs = collections.defaultdict(list)
    for group, kind, name, score, hits, p, refused in rows:
        s = score if refused else rescore(score, hits, p)
        probs[kind].append(p)
        for r in hits:
            hit[r][kind] += 1
        if kind == "ham" and s >= a.tag:
            tagged[group] += 1
            rejected[group] += s >= a.reject
            for r, w in hits.items():
                if w > 0:
                    blame_fp[r] += 1
            if p is not None and p > 0.5:
                blame_fp["bayes"] += 1
        if kind == "spam" and s < a.tag:
            missed += 1
            for r in hits:
                blame_fn[r] += 1
    groups = collections.Counter(g for g, *_ in rows)
    for g in groups:
        if KIND[g] == "ham":
            print(f"{g}: tagged {tagged[g]} of {groups[g]} ({100 * tagged[g] / groups[g]:.2f}%),"
                  f" rejected {rejected[g]}")
    nspam = n["spam"]
    print(f"spam: tagged {nspam - missed} of {nspam} ({100 * (nspam - missed) / max(1, nspam):.2f}%)")
    q = sum(1 for g, k, _, sc, h, p, ref in rows
            if k == "spam" and (sc if ref else rescore(sc, h, p)) >= a.quarantine)
    print(f"spam quarantined or more: {100 * q / max(1, nspam):.1f}%")
    print()
    print(f"{'rule':32} {'ham':>6} {'spam':>6} {'in ham tagged':>14} {'in spam missed':>15}")
    for r in sorted(hit, key=lambda r: -(hit[r]["ham"] + hit[r]["spam"])):
        print(f"{r:32} {hit[r]['ham']:6} {hit[r]['spam']:6} {blame_fp[r]:14} {blame_fn[r]:15}")
    print(f"{'bayes p>0.5':32} {sum(1 for p in probs['ham'] if p and p > .5):6} "
          f"{sum(1 for p in probs['spam'] if p and p > .5):6} {blame_fp['bayes']:14}")
    print()
    edges = [0, 0.01, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99, 0.999, 1.01]
    print("classifier probability by kind:")
    for kind in ("ham", "spam"):
        ps = [p for p in probs[kind] if p is not None]
        cells = []
        for lo, hi in zip(edges, edges[1:]):
            cells.append(f"[{lo},{min(hi, 1)}):{sum(lo <= p < hi for p in ps)}")
        print(f"  {kind}: " + " ".join(cells) + f" none:{len(probs[kind]) - len(ps)}")


if __name__ == "__main__":
    sys.exit(main())
