#!/usr/bin/python3
"""Tally against its peers in one run, side by side (`make bench`).

Loads the same generated objects into Tally and every peer, keeps them all
loaded, then for each of RUNS repetitions runs every query on every system,
rotating the order of the systems from one repetition to the next, after
one untimed warm-up per query and system (whose answers are cross-checked
against DuckDB's). Writes $BENCH_DATA/results/bench_n$N.json and .md and
prints the Markdown report. Run through bench/run.sh, which prepares the
data file and the npm package; the environment it reads is listed in
Config below.
"""
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import crosscheck  # noqa: E402
import report  # noqa: E402
from systems import (BenchError, ClickHousePeer, DuckDBPeer, PostgresPeer,  # noqa: E402
                     TallyClickHouse, TallyServer, log, proc_status_mb,
                     tally_offline_import)

SYSTEMS = ["tally", "tally_rows", "duckdb", "clickhouse", "postgres", "tally_ch", "ch_direct"]
SQL_DIRS = {"duckdb": "duckdb", "clickhouse": "clickhouse", "postgres": "postgres_jsonb"}
# The peer `tally-ch` is two systems over one 2-shard cluster: Tally with
# the ClickHouse backend (tally_ch), and hand-written SQL over the tables
# Tally created, sent straight to the cluster (ch_direct).
CH_DIRECT_SQL = os.path.join(HERE, "clickhouse_direct")
# The DuckDB table with Tally's typing rule for sums and averages: a
# metadata.views given as a numeric string is not a number (the shared
# load casts it to BIGINT). Only the cross-check reads it.
NUMERIC_VIEWS_SQL = """
CREATE TABLE bench_views_type AS
SELECT object_id, json_type(metadata.views) AS views_type
FROM read_json({file}, format = 'newline_delimited',
               columns = {{object_id: 'VARCHAR', metadata: 'STRUCT(views JSON)'}});
CREATE VIEW objects_numeric AS
SELECT o.* REPLACE (struct_update(o.metadata, views := CASE
           WHEN v.views_type IN ('BIGINT', 'UBIGINT', 'DOUBLE') THEN o.metadata.views END)
         AS metadata)
FROM objects o JOIN bench_views_type v USING (object_id)
"""


class Config:
    """Settings from the environment (defaults in brackets in run.sh)."""

    def __init__(self, env):
        self.n = int(env.get("N", "1000000"))
        self.runs = int(env.get("RUNS", "5"))
        self.row_runs = int(env.get("ROW_RUNS", str(min(self.runs, 3))))
        self.seed = int(env.get("SEED", "42"))
        self.data = env.get("BENCH_DATA", "/tmp/bench-data")
        self.queries = [q.strip() for q in env.get("QUERIES", "Q1,Q2,Q3,Q4,Q5,Q6,Q7,Q8").split(",")
                        if q.strip()]
        self.peers = [p.strip() for p in env.get("PEERS", "duckdb,clickhouse,postgres").split(",")
                      if p.strip()]
        self.shared = os.path.abspath(
            env.get("BENCH_SHARED", os.path.join(ROOT, "..", "shared", "bench")))
        self.file = env["BENCH_FILE"]
        self.tally_bin = env.get("TALLY_BIN", os.path.join(ROOT, "build", "tally"))
        self.threads = int(env.get("BENCH_THREADS", "2"))
        self.cache_budget = env.get("TALLY_CACHE_BUDGET", "")
        self.tally_port = int(env.get("TALLY_BENCH_PORT", "18471"))
        self.tally_ch_port = int(env.get("TALLY_CH_BENCH_PORT", "18472"))
        # Below the kernel's ephemeral range (32768-60999): a client socket
        # of any other program may hold a port in that range in TIME_WAIT,
        # and then a server cannot bind it.
        self.ch_http = int(env.get("CHBENCH_HTTP_PORT", "28133"))
        self.ch_tcp = int(env.get("CHBENCH_TCP_PORT", "29010"))
        self.pg_port = int(env.get("PGBENCH_PORT", "25542"))
        self.keep = env.get("BENCH_KEEP", "0") == "1"
        self.command = env.get("BENCH_COMMAND", " ".join(sys.argv))
        # TUNING: 1 MiB blocks keep the client's reads cheap and the
        # chunk framing negligible; the server batches by lines anyway.
        self.import_chunk = int(env.get("IMPORT_CHUNK_BYTES", str(1 << 20)))
        self.work = os.path.join(self.data, "bench-n%d" % self.n)
        self.results = os.path.join(self.data, "results")


def loadavg():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


def read_text(path):
    with open(path) as f:
        return f.read()


def sql_text(path):
    """A query file without its comment lines."""
    lines = [ln for ln in read_text(path).splitlines() if not ln.strip().startswith("--")]
    return "\n".join(lines).strip()


def summary(values):
    vals = [v for v in values if v is not None]
    if not vals:
        return None
    return {"median": round(statistics.median(vals), 3), "min": round(min(vals), 3),
            "max": round(max(vals), 3), "n": len(vals)}


class Run:
    def __init__(self, cfg):
        self.cfg = cfg
        self.live = {}          # system name -> object with stop()
        self.active = []        # systems that loaded and answer queries
        self.tally = None
        self.duck = None
        self.tally_ch = None
        self.requests = {}
        self.sql = {}
        self.answers = {}       # (system, query) -> normalised answer
        self.out = {"n": cfg.n, "seed": cfg.seed, "runs": cfg.runs, "row_runs": cfg.row_runs,
                    "threads": cfg.threads, "queries": cfg.queries, "file": cfg.file,
                    "command": cfg.command, "errors": [], "loadavg": [], "load": {},
                    "tally": {}, "timings": {}, "crosscheck": {}, "memory": {},
                    "tally_ch": {}}

    # ------------------------------------------------------------ helpers

    def note_load(self, label):
        self.out["loadavg"].append({"at": label, "time": time.strftime("%H:%M:%S"),
                                    "loadavg": loadavg()})

    def error(self, system, stage, exc, query=None):
        msg = str(exc) if isinstance(exc, BenchError) else "".join(
            traceback.format_exception_only(type(exc), exc)).strip()
        self.out["errors"].append({"system": system, "stage": stage, "query": query,
                                   "error": msg[-3000:]})
        log("ERROR", system, stage, query or "", msg[-500:])

    def guarded(self, system, stage, fn):
        """Runs one step of one system; a failure is recorded, not raised."""
        try:
            return fn()
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as e:  # one system's failure must not stop the others
            self.error(system, stage, e)
            return None

    def read_queries(self):
        qdir = os.path.join(self.cfg.shared, "queries")
        for q in self.cfg.queries:
            self.requests[q] = read_text(os.path.join(qdir, q + ".json")).encode()
            for system, sub in SQL_DIRS.items():
                self.sql[(system, q)] = sql_text(os.path.join(qdir, sub, q + ".sql"))
            if "tally-ch" in self.cfg.peers:
                self.sql[("ch_direct", q)] = sql_text(os.path.join(CH_DIRECT_SQL, q + ".sql"))

    # ------------------------------------------------------------ machine

    def machine(self):
        info = {"nproc": os.cpu_count(), "usable_cpus": len(os.sched_getaffinity(0)),
                "kernel": platform.release()}
        cpu = read_text("/proc/cpuinfo")
        m = re.search(r"^model name\s*:\s*(.+)$", cpu, re.M)
        info["model"] = m.group(1).strip() if m else None
        m = re.search(r"^cache size\s*:\s*(.+)$", cpu, re.M)
        info["cache"] = m.group(1).strip() if m else None
        m = re.search(r"^MemTotal:\s+(\d+) kB", read_text("/proc/meminfo"), re.M)
        info["ram_gib"] = round(int(m.group(1)) / 1048576, 1) if m else None
        info["busiest_processes_at_start"] = self.busiest()
        self.out["machine"] = info

    @staticmethod
    def busiest():
        out = subprocess.run(["ps", "-eo", "pcpu=,comm=", "--sort=-pcpu"],
                             capture_output=True, text=True).stdout.splitlines()
        return [ln.strip() for ln in out[:6]]

    def versions(self):
        v = {"python": platform.python_version()}
        git = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"],
                             capture_output=True, text=True)
        v["tally"] = "tally %s (%s)" % (git.stdout.strip() or "unknown", self.cfg.tally_bin)
        node = subprocess.run(["node", "--version"], capture_output=True, text=True)
        v["node"] = node.stdout.strip()
        pkg = os.path.join(self.cfg.data, "npm", "node_modules", "@duckdb", "node-api",
                           "package.json")
        if os.path.exists(pkg):
            v["duckdb_node_api"] = json.loads(read_text(pkg)).get("version")
        try:
            import psycopg2
            v["psycopg2"] = psycopg2.__version__.split()[0]
        except ImportError:
            pass
        self.out["versions"] = v

    # ------------------------------------------------------------ loading

    def load_tally_offline(self):
        folder = os.path.join(self.cfg.work, "tally-offline")
        r = tally_offline_import(self.cfg.tally_bin, folder, self.cfg.file)
        r["objects_per_s"] = round(r["imported"] / r["wall_s"])
        r["data_mdb_bytes"] = os.path.getsize(os.path.join(folder, "data.mdb"))
        r["bytes_per_object"] = round(r["data_mdb_bytes"] / max(r["imported"], 1), 1)
        self.out["load"]["tally_offline"] = r
        log("tally import (offline):", r["summary"])
        if not self.cfg.keep:
            shutil.rmtree(folder, ignore_errors=True)

    def tally_args(self):
        args = ["--engine-threads", str(self.cfg.threads),
                # The row path takes seconds a query; do not let the server's
                # default time limit cut a measurement short.
                "--agg-max-time-ms", "3600000"]
        if self.cfg.cache_budget:
            args += ["--cache-budget", self.cfg.cache_budget]
        return args

    def load_tally_http(self):
        folder = os.path.join(self.cfg.work, "tally")
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
        self.tally = TallyServer(self.cfg.tally_bin, folder, self.cfg.tally_port, self.tally_args(),
                                 os.path.join(self.cfg.work, "tally.log"))
        self.live["tally"] = self.tally
        self.tally.start()
        self.tally.create_bucket()
        c0 = self.tally.cpu_ms()
        t0 = time.perf_counter()
        answer, ms = self.tally.import_file(self.cfg.file, self.cfg.import_chunk)
        wall = time.perf_counter() - t0
        cpu_s = (self.tally.cpu_ms() - c0) / 1000
        m = self.tally.metrics()
        r = {"imported": answer.get("imported"), "rejected": answer.get("rejected"),
             "lines": answer.get("lines"), "server_elapsed_ms": answer.get("elapsed_ms"),
             "wall_s": round(wall, 2), "server_cpu_s": round(cpu_s, 2),
             "objects_per_s": round(answer.get("imported", 0) / wall),
             "data_mdb_bytes": os.path.getsize(os.path.join(folder, "data.mdb")),
             "store_used_bytes": m.get("tally_store_used_bytes"),
             "server_hwm_mb": proc_status_mb(self.tally.pid, "VmHWM")}
        r["bytes_per_object"] = round(r["data_mdb_bytes"] / max(r["imported"] or 0, 1), 1)
        self.out["load"]["tally_http"] = r
        log("tally import (HTTP): %s objects in %.1f s" % (r["imported"], wall))
        if r["imported"] != self.cfg.n:
            msg = "imported %s of %d objects (%s rejected): %s" % (
                r["imported"], self.cfg.n, r["rejected"],
                json.dumps(answer.get("rejections"))[:800])
            self.error("tally", "HTTP import", BenchError(msg))
        self.tally.stop()
        return True

    def load_duckdb(self):
        self.duck = DuckDBPeer(self.cfg.shared, self.cfg.file, os.path.join(self.cfg.data, "npm"),
                               self.cfg.threads, os.path.join(self.cfg.work, "duckdb.log"))
        self.live["duckdb"] = self.duck
        info = self.duck.start()
        self.out["versions"]["duckdb"] = "DuckDB " + info["version"]
        self.out["load"]["duckdb"] = {"load_ms": round(info["load_ms"]), "rows": info["rows"],
                                      "rss_after_load_mb": info["rss_mb"]}
        log("duckdb loaded in %.1f s" % (info["load_ms"] / 1000))
        literal = "'" + self.cfg.file.replace("'", "''") + "'"
        for stmt in NUMERIC_VIEWS_SQL.format(file=literal).split(";\n"):
            self.duck.run(stmt)

    def load_clickhouse(self):
        ch = ClickHousePeer(self.cfg.shared, self.cfg.file,
                            os.path.join(self.cfg.work, "clickhouse"), self.cfg.ch_http,
                            self.cfg.ch_tcp, self.cfg.threads,
                            os.path.join(self.cfg.work, "clickhouse.log"))
        self.live["clickhouse"] = ch
        ch.start()
        self.out["versions"]["clickhouse"] = ch.version()
        r = ch.load()
        self.out["load"]["clickhouse"] = r
        log("clickhouse loaded in %.1f s" % (r["load_ms"] / 1000))

    def load_postgres(self):
        gin = any("@>" in self.sql[("postgres", q)] for q in self.cfg.queries)
        pg = PostgresPeer(self.cfg.shared, self.cfg.file, os.path.join(self.cfg.work, "postgres"),
                          self.cfg.pg_port, self.cfg.threads - 1, gin)
        self.live["postgres"] = pg
        pg.start()
        self.out["versions"]["postgres"] = pg.version()
        r = pg.load()
        r["gin_index"] = ("built (a query filters with @>)" if gin
                          else "not built (no query uses it)")
        self.out["load"]["postgres"] = r
        log("postgres loaded:", r["steps_ms"])

    def load_tally_ch(self):
        tch = TallyClickHouse(self.cfg.tally_bin, ROOT, os.path.join(self.cfg.work, "tally-ch"),
                              self.cfg.tally_ch_port, self.tally_args(),
                              os.path.join(self.cfg.work, "tally-ch.log"))
        self.tally_ch = tch
        self.live["tally-ch"] = tch
        tch.start()
        self.out["versions"]["tally_ch_cluster"] = "%s, %d shards" % (tch.version(), tch.SHARDS)
        r = tch.load(self.cfg.file, self.cfg.import_chunk)
        self.out["load"]["tally_ch"] = r
        log("tally on clickhouse: %s objects imported in %.1f s, OPTIMIZE FINAL %.1f s"
            % (r["imported"], r["import_wall_s"], r["optimize_final_s"]))
        if r["imported"] != self.cfg.n:
            raise BenchError("imported %s of %d objects (%s rejected): %s" % (
                r["imported"], self.cfg.n, r["rejected"], json.dumps(r["rejections"])[:800]))

    def load_all(self):
        os.makedirs(self.cfg.work, exist_ok=True)
        self.guarded("tally", "offline import", self.load_tally_offline)
        self.note_load("after tally offline import")
        if not self.guarded("tally", "HTTP import", self.load_tally_http):
            raise BenchError("Tally could not be loaded over HTTP; nothing to compare")
        self.note_load("after tally HTTP import")
        for name, fn in (("duckdb", self.load_duckdb), ("clickhouse", self.load_clickhouse),
                         ("postgres", self.load_postgres), ("tally-ch", self.load_tally_ch)):
            if name not in self.cfg.peers:
                continue
            ok = self.guarded(name, "start and load", lambda: fn() or True)
            if ok:
                self.active += ["tally_ch", "ch_direct"] if name == "tally-ch" else [name]
            else:
                self.stop_one(name)
            self.note_load("after %s load" % name)
        self.check_row_counts()

    def check_row_counts(self):
        for name in ("duckdb", "clickhouse", "postgres", "tally_ch"):
            rows = self.out["load"].get(name, {}).get("rows")
            if rows is not None and rows != self.cfg.n:
                msg = "loaded %d rows, expected %d" % (rows, self.cfg.n)
                self.error(name, "load", BenchError(msg))

    # ------------------------------------------------------------ queries

    def run_once(self, system, q, capture=False):
        """One query on one system: {"ms", "cpu", "server_ms"?, "answer"?},
        the answer normalised for the cross-check when capture is set."""
        shape = crosscheck.Shape(json.loads(self.requests[q]))
        if system in ("tally", "tally_rows"):
            c0 = self.tally.cpu_ms()
            ms, ans = self.tally.aggregate(self.requests[q], rows_engine=(system == "tally_rows"))
            r = {"ms": ms, "cpu": self.tally.cpu_ms() - c0,
                 "server_ms": ans["query_info"].get("execution_time_ms")}
            if capture:
                r["answer"] = crosscheck.from_tally(shape, ans)[0]
            return r
        if system == "tally_ch":
            return self.run_tally_ch(q, shape, capture)
        if system == "duckdb":
            ans = self.duck.run(self.sql[(system, q)], rows=capture)
            r = {"ms": ans["ms"], "cpu": ans["cpu_ms"]}
            if capture:
                r["answer"] = crosscheck.from_sql(shape, ans["columns"], ans["rows"])[0]
            return r
        peer = self.live["tally-ch" if system == "ch_direct" else system]
        c0 = peer.cpu_ms()
        if system == "ch_direct":
            ms, cols, rows = peer.direct(self.sql[(system, q)])
        else:
            ms, cols, rows = peer.run(self.sql[(system, q)])
        c1 = peer.cpu_ms()
        r = {"ms": ms, "cpu": c1 - c0 if None not in (c0, c1) else None}
        if capture:
            r["answer"] = crosscheck.from_sql(shape, cols, rows)[0]
        return r

    def run_tally_ch(self, q, shape, capture):
        """One request to Tally on ClickHouse; with capture, the answer
        and the SQL it sent for it are kept."""
        tch = self.tally_ch
        c0, offset = tch.cpu_ms(), tch.sql_log_size()
        ms, ans = tch.tally.aggregate(self.requests[q])
        c1 = tch.cpu_ms()
        r = {"ms": ms, "cpu": c1 - c0 if None not in (c0, c1) else None,
             "server_ms": ans["query_info"].get("execution_time_ms")}
        if capture:
            r["answer"] = crosscheck.from_tally(shape, ans)[0]
            self.out["tally_ch"].setdefault("sql", {})[q] = tch.sql_since(offset)
        return r

    def run_references(self, q):
        """DuckDB's whole answers for the cross-check (untimed): the query
        without its LIMIT, over the loaded table and over the table with
        Tally's typing rule."""
        shape = crosscheck.Shape(json.loads(self.requests[q]))
        whole = re.sub(r"\s+LIMIT\s+\d+\s*;?\s*$", "", self.sql[("duckdb", q)], flags=re.I)
        for name, sql in (("duckdb_whole", whole),
                          ("duckdb_numeric", re.sub(r"\bobjects\b", "objects_numeric", whole))):
            ans = self.duck.run(sql, rows=True)
            self.answers[(name, q)] = crosscheck.from_sql(shape, ans["columns"], ans["rows"])[0]

    def cold_tally(self):
        """The first aggregation of each query on a freshly started server:
        the column cache is empty (the OS page cache is not)."""
        cold = {}
        for q in self.cfg.queries:
            def one():
                self.tally.start()
                try:
                    c0 = self.tally.cpu_ms()
                    ms, ans = self.tally.aggregate(self.requests[q])
                    cpu = self.tally.cpu_ms() - c0
                    second, _ = self.tally.aggregate(self.requests[q])
                    metrics = self.tally.metrics()
                finally:
                    self.tally.stop()
                return {"first_ms": round(ms, 2), "first_cpu_ms": round(cpu, 1),
                        "second_ms": round(second, 2),
                        "server_first_ms": ans["query_info"].get("execution_time_ms"),
                        "cache_columns_after": metrics.get("tally_column_cache_columns")}
            r = self.guarded("tally", "cold run", one)
            if r:
                cold[q] = r
                log("tally cold %s: first %.1f ms, second %.1f ms"
                    % (q, r["first_ms"], r["second_ms"]))
        self.out["tally"]["cold"] = cold

    def warm_up(self):
        for q in self.cfg.queries:
            for system in self.active:
                try:
                    r = self.run_once(system, q, capture=True)
                    self.answers[(system, q)] = r["answer"]
                    t = self.out["timings"].setdefault(system, {}).setdefault(q, {})
                    t["warmup_ms"] = round(r["ms"], 2)
                except (KeyboardInterrupt, SystemExit):
                    raise
                except Exception as e:  # recorded; the timed runs skip this pair
                    self.error(system, "warm-up", e, q)
            if "duckdb" in self.active:
                self.guarded("duckdb", "reference answers " + q, lambda: self.run_references(q))
            log("warm-up %s done" % q)

    def timed(self):
        systems = list(self.active)
        for rep in range(self.cfg.runs):
            order = systems[rep % len(systems):] + systems[:rep % len(systems)]
            self.note_load("repetition %d" % (rep + 1))
            for q in self.cfg.queries:
                for system in order:
                    if system == "tally_rows" and rep >= self.cfg.row_runs:
                        continue
                    if (system, q) not in self.answers:
                        continue  # its warm-up failed
                    self.time_one(system, q)
            log("repetition %d of %d done (order %s)" % (rep + 1, self.cfg.runs, ",".join(order)))

    def time_one(self, system, q):
        t = self.out["timings"].setdefault(system, {}).setdefault(q, {})
        try:
            r = self.run_once(system, q)
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as e:  # recorded per query and system
            self.error(system, "timed run", e, q)
            return
        t.setdefault("runs_ms", []).append(round(r["ms"], 3))
        t.setdefault("cpu_ms", []).append(None if r["cpu"] is None else round(r["cpu"], 3))
        if "server_ms" in r:
            t.setdefault("server_ms", []).append(r["server_ms"])

    def summarise_timings(self):
        for system, per_q in self.out["timings"].items():
            for q, t in per_q.items():
                t["wall"] = summary(t.get("runs_ms", []))
                t["cpu"] = summary(t.get("cpu_ms", []))
                if "server_ms" in t:
                    t["server"] = summary(t["server_ms"])

    # ------------------------------------------------------------ after

    def measure_after(self):
        m = self.tally.metrics()
        cols = m.get("tally_column_cache_columns") or 0
        cache = m.get("tally_column_cache_bytes") or 0
        self.out["tally"].update({
            "metrics": m,
            "rss_mb": proc_status_mb(self.tally.pid, "VmRSS"),
            "rss_anon_mb": proc_status_mb(self.tally.pid, "RssAnon"),
            "rss_file_mb": proc_status_mb(self.tally.pid, "RssFile"),
            "hwm_mb": proc_status_mb(self.tally.pid, "VmHWM"),
            "cache_bytes_per_object_per_column":
                round(cache / (self.cfg.n * cols), 2) if cols else None,
        })
        if self.duck and "duckdb" in self.active:
            self.out["memory"]["duckdb"] = {"rss_mb": proc_status_mb(self.duck.pid, "VmRSS"),
                                            "hwm_mb": proc_status_mb(self.duck.pid, "VmHWM")}
        if "clickhouse" in self.active:
            pid = self.live["clickhouse"].pid
            self.out["memory"]["clickhouse"] = {"rss_mb": proc_status_mb(pid, "VmRSS"),
                                                "hwm_mb": proc_status_mb(pid, "VmHWM")}
        if "postgres" in self.active:
            self.out["memory"]["postgres"] = self.live["postgres"].memory()
        if "tally_ch" in self.active:
            self.out["memory"]["tally_ch"] = self.tally_ch.memory()

    def crosscheck_all(self):
        for q in self.cfg.queries:
            shape = crosscheck.Shape(json.loads(self.requests[q]))
            ref = self.answers.get(("duckdb_whole", q))
            numeric = self.answers.get(("duckdb_numeric", q))
            res = {}
            for system in ("tally", "tally_rows", "clickhouse", "postgres", "tally_ch",
                           "ch_direct"):
                got = self.answers.get((system, q))
                if got is None or ref is None:
                    continue
                entry = crosscheck.compare(shape, ref, got, ref_is_whole=True)
                if entry["notes"] and numeric is not None:
                    entry["vs_numeric_views"] = crosscheck.compare(
                        shape, numeric, got, ref_is_whole=True)["notes"]
                res[system] = entry
            if ("tally", q) in self.answers and ("tally_rows", q) in self.answers:
                res["tally_vs_rows"] = crosscheck.compare(
                    shape, self.answers[("tally_rows", q)], self.answers[("tally", q)])["notes"]
            # The ClickHouse backend and the hand-written SQL against
            # embedded Tally's answer (the same contract, the same limits).
            for system in ("tally_ch", "ch_direct"):
                if ("tally", q) in self.answers and (system, q) in self.answers:
                    res[system + "_vs_tally"] = crosscheck.compare(
                        shape, self.answers[("tally", q)], self.answers[(system, q)])["notes"]
            self.out["crosscheck"][q] = res

    # ------------------------------------------------------------ stopping

    def stop_one(self, name):
        obj = self.live.pop(name, None)
        if obj is not None:
            try:
                obj.stop()
            except Exception as e:  # keep stopping the others
                self.error(name, "stop", e)

    def stop_all(self):
        for name in list(self.live):
            self.stop_one(name)
        log("every server this run started is stopped")

    def clean(self):
        """Deletes the server folders, unless asked to keep them or
        something failed (their logs are inside)."""
        if self.cfg.keep or self.out["errors"]:
            log("server folders and logs kept in", self.cfg.work)
            return
        for sub in ("tally", "tally-offline", "clickhouse", "postgres", "tally-ch"):
            shutil.rmtree(os.path.join(self.cfg.work, sub), ignore_errors=True)

    # ------------------------------------------------------------ the run

    def execute(self):
        self.note_load("start")
        self.machine()
        self.versions()
        self.read_queries()
        self.load_all()
        self.cold_tally()
        self.tally.start()
        self.active = ["tally"] + (["tally_rows"] if self.cfg.row_runs > 0 else []) + self.active
        self.note_load("queries start")
        self.warm_up()
        self.timed()
        self.note_load("queries end")
        self.measure_after()

    def write(self):
        self.summarise_timings()
        self.guarded("bench", "cross-check", self.crosscheck_all)
        self.out.setdefault("machine", {})["busiest_processes_at_end"] = self.busiest()
        os.makedirs(self.cfg.results, exist_ok=True)
        base = os.path.join(self.cfg.results, "bench_n%d" % self.cfg.n)
        with open(base + ".json", "w") as f:
            json.dump(self.out, f, indent=1, default=str)
            f.write("\n")
        md = report.render(self.out)
        with open(base + ".md", "w") as f:
            f.write(md)
        if self.out["tally_ch"].get("sql"):
            with open(base + "_tally_ch.sql", "w") as f:
                for q, stmts in self.out["tally_ch"]["sql"].items():
                    f.write("-- %s: what Tally on ClickHouse sent\n%s\n\n"
                            % (q, ";\n".join(stmts) + ";"))
            log("Tally's ClickHouse SQL in %s_tally_ch.sql" % base)
        print(md)
        log("results in %s.json and %s.md" % (base, base))


def on_signal(signum, _frame):
    # Later signals must not interrupt the cleanup the first one starts.
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, signal.SIG_IGN)
    raise SystemExit(128 + signum)


def main():
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)
    run = Run(Config(os.environ))
    started = time.time()
    failed = None
    try:
        run.execute()
    except BaseException as e:  # report what was measured, then fail
        failed = e
        if not isinstance(e, SystemExit):
            run.error("bench", "run", e)
            traceback.print_exc()
    finally:
        run.stop_all()
    run.out["elapsed_s"] = round(time.time() - started)
    run.note_load("end")
    if not isinstance(failed, SystemExit):
        run.write()
    run.clean()
    if failed is not None:
        sys.exit(failed.code if isinstance(failed, SystemExit) else 1)


if __name__ == "__main__":
    main()
