"""The load test's report and verdict, from the files tests/load/run.sh left
in its output folder: wrk-KIND.log (one RESULT line each), rss.log (memory
samples), server-exit.log. Prints a table per request kind, the memory
samples, the checks, and "N passed, M failed" last; exits 1 on a failure.

usage: report.py [--max-growth-pct P] OUT_DIR
"""
import argparse
import glob
import os
import re
import sys

KIND_ORDER = ["Q%d" % i for i in range(1, 9)] + ["create", "list"]


def read_results(out):
    results = {}
    for path in glob.glob(os.path.join(out, "wrk-*.log")):
        kind = os.path.basename(path)[4:-4]
        text = open(path, errors="replace").read()
        m = re.search(r"^RESULT (.*)$", text, re.M)
        if m is None:
            results[kind] = {"missing": text[-500:]}
            continue
        fields = dict(kv.split("=", 1) for kv in m.group(1).split())
        results[kind] = {k: (v if k == "kind" else float(v))
                         for k, v in fields.items()}
    return results


def read_rss(out):
    samples = []
    for line in open(os.path.join(out, "rss.log")):
        m = re.match(r"RSS t=(\S+) (.*)", line)
        if m:
            vals = dict(re.findall(r"(\w+):(\d+)", m.group(2)))
            samples.append((m.group(1), {k: int(v) for k, v in vals.items()}))
    return samples


def read_exit(out):
    path = os.path.join(out, "server-exit.log")
    text = open(path).read() if os.path.exists(path) else ""
    return dict(re.findall(r"(\w+)=(\S+)", text))


def errors_of(r):
    return int(sum(r.get(k, 0) for k in
                   ("non2xx", "connect", "read", "write", "timeout")))


def print_table(results):
    print("%-7s %9s %7s %9s %9s %9s %8s" %
          ("kind", "requests", "errors", "p50 ms", "p99 ms", "max ms", "req/s"))
    total = errs = rps = 0
    for kind in sorted(results, key=lambda k: (KIND_ORDER + [k]).index(k)):
        r = results[kind]
        if "missing" in r:
            print("%-7s no result: %s" % (kind, r["missing"].strip()[-200:]))
            continue
        total += r["requests"]
        errs += errors_of(r)
        rps += r["rps"]
        print("%-7s %9d %7d %9.1f %9.1f %9.1f %8.1f" %
              (kind, r["requests"], errors_of(r), r["p50_ms"], r["p99_ms"],
               r["max_ms"], r["rps"]))
    print("%-7s %9d %7d %29s %8.1f" % ("all", total, errs, "", rps))
    return total, errs


def held(v):
    """Anonymous memory the column cache does not account for (kB): what a
    leak would grow. The cache itself grows with the objects created, and
    RssFile with the data file's pages touched."""
    return v.get("RssAnon", 0) - v.get("Cache", 0)


def print_rss(samples):
    print("memory (kB): t VmRSS RssAnon RssFile Cache Anon-Cache")
    for t, v in samples:
        print("  %5s %9d %9d %9d %9d %9d" % (
            t, v.get("VmRSS", 0), v.get("RssAnon", 0), v.get("RssFile", 0),
            v.get("Cache", 0), held(v)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--max-growth-pct", type=float, default=0,
                    help="allowed growth of anonymous memory outside the column cache after warm-up, percent")
    ap.add_argument("--max-growth-mb", type=float, default=0,
                    help="the same, MB")
    ap.add_argument("out")
    a = ap.parse_args()

    results = read_results(a.out)
    samples = read_rss(a.out)
    ends = read_exit(a.out)
    total, errs = print_table(results)
    print_rss(samples)

    checks = []
    checks.append(("every request kind ran",
                   set(KIND_ORDER) <= set(results) and
                   all(r.get("requests", 0) > 0 for r in results.values())))
    checks.append(("no errors (non-2xx or socket) in %d requests" % total,
                   errs == 0 and total > 0))
    # The first sample is before any load; the second (after one sample
    # period of load) is the warmed-up baseline.
    if len(samples) >= 3:
        base = held(samples[1][1])
        last = held(samples[-1][1])
        pct = 100.0 * (last - base) / base
        mb = (last - base) / 1024.0
        if a.max_growth_pct > 0:
            checks.append(("anonymous memory outside the column cache grew "
                           "%.1f%% after warm-up (%d -> %d kB) <= %g%%"
                           % (pct, base, last, a.max_growth_pct),
                           pct <= a.max_growth_pct))
        if a.max_growth_mb > 0:
            checks.append(("anonymous memory outside the column cache grew "
                           "%.1f MB after warm-up (%d -> %d kB) <= %g MB"
                           % (mb, base, last, a.max_growth_mb),
                           mb <= a.max_growth_mb))
    else:
        checks.append(("at least 3 memory samples", False))
    checks.append(("server answered /healthz after the load",
                   ends.get("healthz") == "200"))
    checks.append(("server stopped cleanly on SIGTERM", ends.get("exit") == "0"))
    if "check" in ends:
        checks.append(("tally check passes on the data afterwards",
                       ends["check"] == "0"))

    passed = sum(1 for _, ok in checks if ok)
    for name, ok in checks:
        print("%s %s" % ("ok  " if ok else "FAIL", name))
    print("%d passed, %d failed" % (passed, len(checks) - passed))
    return 0 if passed == len(checks) else 1


if __name__ == "__main__":
    sys.exit(main())
