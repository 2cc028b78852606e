"""The differential test between backends: the same objects and the same
seeded random requests against a Tally server on the embedded store and
one on a ClickHouse cluster; the answers must be identical, apart from
the documented differences (docs/clickhouse.md), each handled by name
below, never by loosening the comparison.

    /usr/bin/python3 tests/clickhouse/diff_backends.py --backend URL

Two sets of objects and requests, each in a bucket of its own:
  - tests/diff's generator (gen.js, requests.js, through diffgen.js;
    skipped with a note when node is missing);
  - this folder's gen.py: declared string and integer fields, hostile
    strings, deletions, RE2-refused patterns, and objects/list requests
    (filters, sort, search, select, pagination followed by cursor).

Environment: TALLY_BIN (server binary), TALLY_CH_SEED (default 20240305),
TALLY_CH_MINGO_REQUESTS (tests/diff requests, default 150),
TALLY_CH_REQUESTS (gen.py aggregations, default 150), TALLY_CH_LISTS
(lists, default 50), TALLY_CH_OBJECTS (objects per set, default 300).

The objects are imported in (created_at, object_id) order, so that the
embedded store's insertion order is the ClickHouse backend's storage
order: first, last, push and the choice among equal values agree.

Prints the seed first, every mismatch, and "N passed, M failed" last.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import gen

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("TALLY_BIN", os.path.join(ROOT, "build", "tally"))
SHOW_MAX = 12
# TUNING: three requests at a time keep both servers and ClickHouse busy
# on a two-core machine; chunks of 24 bound what a crash can spoil.
WIDTH = 3
CHUNK = 24


# --- servers -----------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, args):
        self.data = tempfile.mkdtemp(prefix="tally-chdiff-")
        self.port = free_port()
        self.log = open(os.path.join(self.data, "server.log"), "w+")
        self.proc = subprocess.Popen(
            [BIN, "serve", "--data", os.path.join(self.data, "d"), "--listen",
             "127.0.0.1:%d" % self.port] + args,
            stdout=self.log, stderr=subprocess.STDOUT)
        self.url = "http://127.0.0.1:%d" % self.port
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("tally exited:\n" + self.output())
            m = re.search(r"api_key: (sk_\w+)", self.output())
            if m:
                try:
                    with urllib.request.urlopen(self.url + "/healthz") as r:
                        if r.status == 200:
                            self.key = m.group(1)
                            return
                except OSError:
                    pass
            time.sleep(0.05)
        raise RuntimeError("tally did not start:\n" + self.output())

    def output(self):
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()

    def call(self, method, path, body=None, ns=None, ctype="application/json"):
        headers = {"Authorization": "Bearer " + self.key, "Content-Type": ctype}
        if ns:
            headers["X-Namespace"] = ns
        data = body if isinstance(body, (bytes, type(None))) else \
            (body.encode() if isinstance(body, str) else json.dumps(body).encode())
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.data, ignore_errors=True)


# --- exact comparison --------------------------------------------------------

def exact(text):
    """JSON with numbers kept as their text (1 and 1.0 differ)."""
    return json.loads(text, parse_int=lambda s: ("int", s),
                      parse_float=lambda s: ("float", s),
                      parse_constant=lambda s: ("const", s))


def documented(answer):
    """Removes the fields that differ by design (docs/clickhouse.md):
    execution_time_ms (a timing) and scanned_objects (what the backend
    read: the embedded store scans the bucket, ClickHouse reports the
    rows it read, superseded versions included)."""
    info = answer.get("query_info")
    if isinstance(info, dict):
        info.pop("execution_time_ms", None)
        info.pop("scanned_objects", None)
    return answer


def first_difference(a, b, path="$"):
    if type(a) != type(b):
        return "%s: %r != %r" % (path, a, b)
    if isinstance(a, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                return "%s.%s: missing on one side" % (path, k)
            d = first_difference(a[k], b[k], path + "." + k)
            if d:
                return d
        if list(a) != list(b):
            return "%s: member order %r != %r" % (path, list(a), list(b))
        return None
    if isinstance(a, list):
        if len(a) != len(b):
            return "%s: %d items != %d" % (path, len(a), len(b))
        for i, (x, y) in enumerate(zip(a, b)):
            d = first_difference(x, y, "%s[%d]" % (path, i))
            if d:
                return d
        return None
    return None if a == b else "%s: %r != %r" % (path, a, b)


# --- the run -----------------------------------------------------------------

def set_up(server, sets):
    """A namespace with one bucket per set of objects: {bucket: (lines,
    deleted object ids)}."""
    st, body = server.call("POST", "/v1/namespaces", {"namespace_name": "chdiff"})
    assert st == 200, body
    ns = json.loads(body)["namespace_id"]
    server.bucket_ids = []
    for bucket, (lines, deleted) in sets.items():
        st, body = server.call("POST", "/v1/buckets",
                               {"bucket_name": bucket,
                                "bucket_schema": gen.SCHEMA}, ns)
        assert st == 200, body
        server.bucket_ids.append(json.loads(body)["bucket_id"])
        st, body = server.call("POST", "/v1/buckets/%s/objects/import" % bucket,
                               "\n".join(lines) + "\n", ns,
                               "application/x-ndjson")
        assert st == 200 and json.loads(body)["rejected"] == 0, body
        for oid in deleted:
            st, body = server.call("DELETE", "/v1/buckets/%s/objects/%s" %
                                   (bucket, oid), None, ns)
            assert st == 204, body
    return ns, None


def refused_by_re2(request):
    text = json.dumps(request)
    return any(json.dumps(p)[1:-1] in text for p in gen.RE2_REFUSED)


def same_ids(text, server):
    """Bucket ids are generated by each server: the answers name them
    alike. Not a difference between backends, but between two servers."""
    for i, bid in enumerate(server.bucket_ids):
        text = text.replace(bid, "bkt_THE_BUCKET%d" % i)
    return text


def compare_aggregate(emb, ch, ns_e, ns_c, bucket, req):
    path = "/v1/buckets/%s/objects/aggregate" % bucket
    se, be = emb.call("POST", path, req, ns_e)
    sc, bc = ch.call("POST", path, req, ns_c)
    be, bc = same_ids(be, emb), same_ids(bc, ch)
    if refused_by_re2(req):
        # Documented: the ClickHouse backend refuses regular expressions
        # RE2 cannot run, with a 422 naming the pattern.
        if sc == 422 and "RE2" in bc:
            return None
        return "expected a 422 (RE2) from clickhouse, got %d %s" % (sc, bc[:300])
    if se != sc:
        return "status %d != %d: %s | %s" % (se, sc, be[:300], bc[:300])
    a, b = exact(be), exact(bc)
    if se == 200:
        a, b = documented(a), documented(b)
    return first_difference(a, b)


def pages(server, ns, query, body):
    """Every page of a list, following cursors (cursors are opaque and
    backend-specific: the pages they lead to are compared, not them)."""
    out, cursor = [], None
    for _ in range(50):
        q = dict(query)
        if cursor:
            q["cursor"] = cursor
            q.pop("offset", None)
        qs = "&".join("%s=%s" % (k, urllib.request.quote(str(v)))
                      for k, v in q.items())
        st, text = server.call("POST", "/v1/buckets/diff/objects/list?" + qs,
                               body, ns)
        if st != 200:
            return [(st, exact(text))]
        page = exact(same_ids(text, server))
        cursor = page["pagination"].pop("next_cursor")
        out.append(page)
        if not cursor:
            break
    return out


def compare_list(emb, ch, ns_e, ns_c, query, body):
    if refused_by_re2(body):
        st, text = ch.call("POST", "/v1/buckets/diff/objects/list", body, ns_c)
        return None if st == 422 and "RE2" in text else \
            "expected a 422 (RE2) from clickhouse, got %d" % st
    return first_difference(pages(emb, ns_e, query, body),
                            pages(ch, ns_c, query, body))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", required=True)
    a = ap.parse_args()
    seed = int(os.environ.get("TALLY_CH_SEED", "20240305"))
    nreq = int(os.environ.get("TALLY_CH_REQUESTS", "150"))
    nlist = int(os.environ.get("TALLY_CH_LISTS", "50"))
    nobj = int(os.environ.get("TALLY_CH_OBJECTS", "300"))
    nmingo = int(os.environ.get("TALLY_CH_MINGO_REQUESTS", "150"))
    print("seed", seed, "objects", nobj, "requests", nreq, "lists", nlist,
          "tests/diff requests", nmingo, flush=True)

    r = gen.Rng(seed)
    objects = [gen.make_object(r, i) for i in range(nobj)]
    objects.sort(key=lambda o: (o["created_at"], o["object_id"]))
    lines = [gen.to_json(o) for o in objects]
    deleted = [o["object_id"] for o in objects[::17]]
    live = [o for o in objects if o["object_id"] not in set(deleted)]
    pools = gen.make_pools(live)
    sets = {"diff": (lines, deleted)}
    mingo = {"requests": []}
    if shutil.which("node"):
        out = subprocess.run(["node", os.path.join(os.path.dirname(
            os.path.abspath(__file__)), "diffgen.js"), str(seed), str(nobj),
            str(nmingo)], check=True, capture_output=True, text=True)
        mingo = json.loads(out.stdout)
        sets["mingo"] = (mingo["lines"], [])
    else:
        print("note: node is missing; tests/diff's requests are left out")

    # The embedded row path is the reference engine (the column path is
    # held to it by tests/diff): the cache is off here.
    sides = {"embedded": ["--cache-budget", "0"],
             "clickhouse": ["--backend", a.backend]}
    servers, spaces = {}, {}
    passed = failed = shown = 0

    def start(name):
        """(Re)starts one side with the data loaded. A side that crashed
        is reported (the request failed) and started again, so that one
        crash does not hide the rest of the run."""
        old = servers.get(name)
        if old is not None:
            print("--- %s server died (exit %s); its log ends:\n%s" %
                  (name, old.proc.poll(), old.output()[-1500:]), flush=True)
            old.stop()
        servers[name] = Server(sides[name])
        spaces[name], _ = set_up(servers[name], sets)

    def run_one(job):
        label, fn, args = job
        try:
            return fn(servers["embedded"], servers["clickhouse"],
                      spaces["embedded"], spaces["clickhouse"], *args)
        except OSError as e:
            return "no answer (%s)" % e

    def run(jobs):
        """Runs the comparisons a few at a time (the servers answer
        concurrent requests; the run is mostly waiting). A server that
        crashed is reported and started again between chunks."""
        nonlocal passed, failed, shown
        for at in range(0, len(jobs), CHUNK):
            chunk = jobs[at:at + CHUNK]
            with ThreadPoolExecutor(WIDTH) as pool:
                results = list(pool.map(run_one, chunk))
            crashed = []
            for name, s in list(servers.items()):
                if any(d and d.startswith("no answer") for d in results):
                    try:
                        s.proc.wait(3)
                    except subprocess.TimeoutExpired:
                        pass
                if s.proc.poll() is not None:
                    crashed.append(name)
                    start(name)
            for (label, fn, args), d in zip(chunk, results):
                if d is not None and crashed:
                    d += "; the %s server crashed" % " and ".join(crashed)
                if d is None:
                    passed += 1
                    continue
                failed += 1
                if shown < SHOW_MAX:
                    shown += 1
                    print("%s: %s\n  request: %s" % (label, d, json.dumps(args)),
                          flush=True)

    try:
        for name in sides:
            start(name)
        started = time.time()
        jobs = [("tests/diff aggregate %d" % i, compare_aggregate,
                 ("mingo", req)) for i, req in enumerate(mingo["requests"])]
        jobs += [("aggregate %d" % i, compare_aggregate,
                  ("diff", gen.make_request(r, pools))) for i in range(nreq)]
        jobs += [("list %d" % i, compare_list, gen.make_list_request(r, pools))
                 for i in range(nlist)]
        run(jobs)
        print("%.1f s for %d requests" % (time.time() - started,
                                          len(mingo["requests"]) + nreq + nlist))
    except Exception as e:  # a broken run is one failure, reported
        failed += 1
        print("error:", e)
        for name, s in servers.items():
            print("--- %s server (exit %s):\n%s" %
                  (name, s.proc.poll(), s.output()[-3000:]))
    finally:
        for s in servers.values():
            s.stop()
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
