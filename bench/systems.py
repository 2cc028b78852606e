"""The systems bench.py measures, each kept loaded for the whole run.

Every class starts its own server (or process) on 127.0.0.1, loads the
objects, answers one query at a time with its client-side wall time, and
stops what it started by PID. The peers' SQL, schema, load script and
flattener are read from the shared benchmark folder at run time.

  TallyServer     `tally serve` over HTTP, keep-alive
  DuckDBPeer      one node process (duckdb_server.js) over stdin/stdout
  ClickHousePeer  clickhouse-server 18.16 over HTTP
  PostgresPeer    PostgreSQL 15 cluster, one psycopg2 connection
  TallyClickHouse `tally serve --backend clickhouse://...` over a 2-shard
                  cluster (tests/clickhouse/cluster.sh), and hand-written
                  SQL sent straight to the same cluster and tables
"""
import http.client
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
CLK_TCK = os.sysconf("SC_CLK_TCK")


class BenchError(Exception):
    """A failure of one system; the run reports it and goes on."""


def log(*parts):
    print("[bench %s]" % time.strftime("%H:%M:%S"), *parts, file=sys.stderr, flush=True)


# ------------------------------------------------------------ processes

def proc_cpu_ms(pid, reaped_children=False):
    """User+system CPU of a process (all its threads) in ms, from
    /proc/PID/stat; with reaped_children, plus its waited-for children.
    Resolution is one clock tick (10 ms)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            rest = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    ticks = int(rest[11]) + int(rest[12])
    if reaped_children:
        ticks += int(rest[13]) + int(rest[14])
    return ticks * 1000.0 / CLK_TCK


def proc_status_mb(pid, field):
    """A kB field of /proc/PID/status (VmRSS, VmHWM) in MiB, or None."""
    try:
        with open("/proc/%d/status" % pid) as f:
            m = re.search(r"^%s:\s+(\d+) kB" % field, f.read(), re.M)
    except OSError:
        return None
    return round(int(m.group(1)) / 1024.0, 1) if m else None


def proc_pss_mb(pids):
    """Summed proportional set size of several processes, in MiB."""
    total = 0
    for pid in pids:
        try:
            with open("/proc/%d/smaps_rollup" % pid) as f:
                m = re.search(r"^Pss:\s+(\d+) kB", f.read(), re.M)
            total += int(m.group(1)) if m else 0
        except OSError:
            pass
    return round(total / 1024.0, 1)


def child_pids(pid):
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)],
                         capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def wait_gone(pid, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def stop_popen(proc, sig=signal.SIGTERM, timeout=60):
    """Stops a child we started: the signal, then SIGKILL after timeout."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def check_port_free(port):
    """Fails when a server already listens on the port, so that the run
    never measures someone else's server. (A bind test would also fail on
    connections of an earlier run lingering in TIME_WAIT.)"""
    with socket.socket() as s:
        s.settimeout(2)
        if s.connect_ex(("127.0.0.1", port)) == 0:
            raise BenchError("port %d on 127.0.0.1 is taken; choose another "
                             "with the environment" % port)


def tail(path, n=2000):
    try:
        with open(path, errors="replace") as f:
            return f.read()[-n:]
    except OSError:
        return ""


# ------------------------------------------------------------ HTTP

class HttpClient:
    """One keep-alive HTTP/1.1 connection. A request that finds the
    connection closed by the server (idle timeout) reconnects once; the
    time reported is that of the attempt that succeeded."""

    def __init__(self, port, timeout=900):
        self.port = port
        self.timeout = timeout
        self.conn = None

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def request(self, method, path, body=None, headers=None):
        """Returns (status, body bytes, wall ms)."""
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                                       timeout=self.timeout)
            try:
                t0 = time.perf_counter()
                self.conn.request(method, path, body=body, headers=headers or {})
                resp = self.conn.getresponse()
                data = resp.read()
                ms = (time.perf_counter() - t0) * 1000.0
            except (http.client.RemoteDisconnected, ConnectionResetError,
                    BrokenPipeError, http.client.CannotSendRequest):
                self.close()
                if attempt == 2 or not isinstance(body, (bytes, type(None))):
                    raise
                continue
            if resp.getheader("Connection", "").lower() == "close":
                self.close()
            return resp.status, data, ms
        raise AssertionError("unreachable")


# ------------------------------------------------------------ Tally

class TallyServer:
    """`tally serve` over one data folder. The first start prints the
    API key; later starts (restarts for cold runs) reuse it."""

    NAMESPACE = "bench"
    BUCKET = "objects"

    def __init__(self, binary, data, port, extra_args, log_path, env=None):
        self.binary = binary
        self.env = env
        self.data = data
        self.port = port
        self.extra_args = list(extra_args)
        self.log_path = log_path
        self.proc = None
        self.key = None
        self.http = None

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def start(self, timeout=300):
        check_port_free(self.port)
        cmd = [self.binary, "serve", "--data", self.data,
               "--listen", "127.0.0.1:%d" % self.port] + self.extra_args
        start_offset = os.path.getsize(self.log_path) if os.path.exists(self.log_path) else 0
        with open(self.log_path, "a") as logf:
            self.proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT,
                                         start_new_session=True, env=self.env)
        self.http = HttpClient(self.port)
        self._wait_ready(timeout, start_offset)

    def _wait_ready(self, timeout, start_offset):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise BenchError("tally serve exited:\n" + tail(self.log_path))
            try:
                status, _, _ = self.http.request("GET", "/healthz")
                if status == 200:
                    self._read_key(start_offset)
                    return
            except OSError:
                self.http.close()
            time.sleep(0.1)
        raise BenchError("tally serve did not answer /healthz:\n" + tail(self.log_path))

    def _read_key(self, start_offset):
        with open(self.log_path) as f:
            f.seek(start_offset)
            m = re.search(r"api_key: (sk_\w+)", f.read())
        if m:
            self.key = m.group(1)
        if self.key is None:
            raise BenchError("tally serve printed no api_key and none is known")

    def stop(self):
        if self.http:
            self.http.close()
        stop_popen(self.proc)

    def _headers(self, ctype="application/json"):
        return {"Authorization": "Bearer " + self.key, "X-Namespace": self.NAMESPACE,
                "Content-Type": ctype}

    def _call(self, method, path, body, ctype="application/json"):
        status, data, ms = self.http.request(method, path, body, self._headers(ctype))
        if status // 100 != 2:
            raise BenchError("tally %s %s answered %d: %s" % (method, path, status, data[:600]))
        return json.loads(data) if data else None, ms

    def create_bucket(self):
        """Returns the new bucket's id."""
        body = json.dumps({"namespace_name": self.NAMESPACE}).encode()
        self._call("POST", "/v1/namespaces", body)
        body = json.dumps({"bucket_name": self.BUCKET}).encode()
        answer, _ = self._call("POST", "/v1/buckets", body)
        return answer["bucket_id"]

    def import_file(self, path, chunk_bytes):
        """Streams an NDJSON file as a chunked request body."""
        def chunks():
            with open(path, "rb") as f:
                while True:
                    block = f.read(chunk_bytes)
                    if not block:
                        return
                    yield block
        url = "/v1/buckets/%s/objects/import" % self.BUCKET
        return self._call("POST", url, chunks(), "application/x-ndjson")

    def aggregate(self, request_bytes, rows_engine=False):
        """Returns (wall ms, answer)."""
        url = "/v1/buckets/%s/objects/aggregate" % self.BUCKET
        if rows_engine:
            url += "?engine=rows"
        answer, ms = self._call("POST", url, request_bytes)
        return ms, answer

    def metrics(self):
        status, data, _ = self.http.request("GET", "/metrics")
        if status != 200:
            raise BenchError("tally /metrics answered %d" % status)
        out = {}
        for line in data.decode().splitlines():
            m = re.match(r"^(tally_[a-z_]+) ([0-9.eE+-]+)$", line)
            if m:
                out[m.group(1)] = float(m.group(2))
        return out

    def cpu_ms(self):
        return proc_cpu_ms(self.pid)


def tally_offline_import(binary, data, path):
    """`tally import` into a fresh folder; returns the parsed summary."""
    shutil.rmtree(data, ignore_errors=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    r = subprocess.run([binary, "import", "--data", data, "--namespace", TallyServer.NAMESPACE,
                        "--bucket", TallyServer.BUCKET, path], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if r.returncode != 0:
        raise BenchError("tally import failed (%d): %s" % (r.returncode, r.stderr[-2000:]))
    m = re.search(r"imported (\d+) objects, rejected (\d+) lines", r.stdout)
    if not m:
        raise BenchError("tally import printed no summary: " + r.stdout[-500:])
    return {"imported": int(m.group(1)), "rejected": int(m.group(2)),
            "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
            "summary": r.stdout.strip().splitlines()[-1]}


# ------------------------------------------------------------ DuckDB

class DuckDBPeer:
    """One node process holding DuckDB and the loaded table."""

    def __init__(self, shared, file, npm_dir, threads, log_path):
        self.shared = shared
        self.file = file
        self.npm_dir = npm_dir
        self.threads = threads
        self.log_path = log_path
        self.proc = None
        self.info = None

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def start(self):
        env = dict(os.environ, NODE_PATH=os.path.join(self.npm_dir, "node_modules"))
        cmd = ["node", os.path.join(HERE, "duckdb_server.js"), "--file", self.file,
               "--schema", os.path.join(self.shared, "peers", "duckdb_schema.sql"),
               "--threads", str(self.threads)]
        with open(self.log_path, "a") as logf:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=logf, env=env, text=True,
                                         start_new_session=True)
        self.info = self._read()
        if not self.info.get("ready"):
            raise BenchError("duckdb load failed: %s" % self.info.get("error"))
        return self.info

    def _read(self):
        line = self.proc.stdout.readline()
        if not line:
            raise BenchError("duckdb process exited:\n" + tail(self.log_path))
        return json.loads(line)

    def run(self, sql, rows=False):
        """Returns the answer: ok, ms, cpu_ms, and columns/rows if asked."""
        self.proc.stdin.write(json.dumps({"sql": sql, "rows": rows}) + "\n")
        self.proc.stdin.flush()
        ans = self._read()
        if not ans.get("ok"):
            raise BenchError("duckdb: %s" % ans.get("error"))
        return ans

    def stop(self):
        if self.proc and self.proc.stdin:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
        stop_popen(self.proc, timeout=30)


# ------------------------------------------------------------ ClickHouse

def import_sqlbench(shared):
    """The shared driver module, for its ClickHouse config and table."""
    peers = os.path.join(shared, "peers")
    if peers not in sys.path:
        sys.path.insert(0, peers)
    import sqlbench  # noqa: E402  (path set just above)
    return sqlbench


class ClickHousePeer:
    """clickhouse-server with the shared driver's config, in its own folder."""

    def __init__(self, shared, file, base, http_port, tcp_port, threads, log_path):
        self.shared = shared
        self.file = file
        self.base = base
        self.http_port = http_port
        self.tcp_port = tcp_port
        self.threads = threads
        self.log_path = log_path
        self.proc = None
        self.http = HttpClient(http_port)

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def _write_config(self, sb):
        shutil.rmtree(self.base, ignore_errors=True)
        for d in ("log", "data", "tmp", "user_files", "format_schemas"):
            os.makedirs(os.path.join(self.base, d))
        # Keep-alive past the longest pause between two ClickHouse queries
        # (the other systems run in between).
        config = sb.CH_CONFIG.format(base=self.base, http=self.http_port, tcp=self.tcp_port)
        config = re.sub(r"<keep_alive_timeout>\d+</keep_alive_timeout>",
                        "<keep_alive_timeout>600</keep_alive_timeout>", config)
        with open(os.path.join(self.base, "config.xml"), "w") as f:
            f.write(config)
        with open(os.path.join(self.base, "users.xml"), "w") as f:
            f.write(sb.CH_USERS)

    def start(self):
        sb = import_sqlbench(self.shared)
        check_port_free(self.http_port)
        check_port_free(self.tcp_port)
        self._write_config(sb)
        with open(self.log_path, "a") as logf:
            self.proc = subprocess.Popen(
                ["clickhouse-server", "--config-file=" + os.path.join(self.base, "config.xml")],
                stdout=logf, stderr=subprocess.STDOUT, cwd=self.base, start_new_session=True)
        self._wait_ready()
        self.sql(sb.CH_DDL)

    def _wait_ready(self, timeout=120):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise BenchError("clickhouse-server exited:\n" + tail(self.log_path)
                                 + tail(os.path.join(self.base, "log", "error.log")))
            try:
                self.sql("SELECT 1")
                return
            except (OSError, BenchError):
                self.http.close()
            time.sleep(0.3)
        raise BenchError("clickhouse-server did not answer")

    def sql(self, text, settings=None):
        """Runs one statement over HTTP; returns (body text, wall ms)."""
        params = {"database": "default"}
        params.update(settings or {})
        path = "/?" + urllib.parse.urlencode(params)
        status, data, ms = self.http.request("POST", path, text.encode())
        if status != 200:
            raise BenchError("clickhouse answered %d: %s" % (status, data[:600]))
        return data.decode(), ms

    def load(self):
        """flatten.py piped into clickhouse-client, then OPTIMIZE FINAL."""
        t0 = time.perf_counter()
        flatten = os.path.join(self.shared, "peers", "flatten.py")
        flat = subprocess.Popen(["/usr/bin/python3", flatten, "--format", "clickhouse", self.file],
                                stdout=subprocess.PIPE)
        cli = subprocess.run(["clickhouse-client", "--host", "127.0.0.1",
                              "--port", str(self.tcp_port),
                              "--query", "INSERT INTO objects FORMAT JSONEachRow"],
                             stdin=flat.stdout, capture_output=True, text=True)
        flat.stdout.close()
        flat.wait()
        if cli.returncode != 0 or flat.returncode != 0:
            raise BenchError("clickhouse load failed: " + cli.stderr[-2000:])
        insert_ms = (time.perf_counter() - t0) * 1000.0
        _, optimize_ms = self.sql("OPTIMIZE TABLE objects FINAL")
        rows = int(self.sql("SELECT count() FROM objects")[0])
        disk = int(self.sql("SELECT sum(bytes) FROM system.parts "
                            "WHERE table = 'objects' AND active")[0])
        return {"flatten_and_insert_ms": round(insert_ms), "optimize_final_ms": round(optimize_ms),
                "load_ms": round(insert_ms + optimize_ms), "rows": rows, "table_bytes": disk}

    def run(self, sql):
        """Returns (wall ms, columns, rows) of a query at max_threads."""
        text, ms = self.sql(sql.rstrip().rstrip(";") + " FORMAT JSONCompact",
                            {"max_threads": str(self.threads)})
        doc = json.loads(text)
        return ms, [c["name"] for c in doc["meta"]], doc["data"]

    def version(self):
        return "ClickHouse " + self.sql("SELECT version()")[0].strip()

    def cpu_ms(self):
        return proc_cpu_ms(self.pid)

    def stop(self):
        self.http.close()
        stop_popen(self.proc)


# ------------------------------------------------------------ PostgreSQL

PGBIN = "/usr/lib/postgresql/15/bin"
PG_CONF = """
# benchmark cluster (bench/systems.py)
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = '{base}'
shared_buffers = '6GB'
work_mem = '256MB'
maintenance_work_mem = '1GB'
max_parallel_workers_per_gather = 1
max_worker_processes = 4
max_parallel_workers = 2
jit = off
fsync = off
synchronous_commit = off
full_page_writes = off
max_wal_size = '8GB'
timezone = 'UTC'
"""
PG_SKIPPED_STEPS = ("ctas_typed", "analyze_typed")


def pg_load_steps(script_path, data_file):
    """The shared psql load script as [(step, [statements])]: the text
    before the first `\\echo STEP` is step "prepare"; psql commands go."""
    literal = "'" + data_file.replace("'", "''") + "'"
    steps = [("prepare", [])]
    with open(script_path) as f:
        for line in f.read().replace(":'file'", literal).splitlines():
            m = re.match(r"\s*\\echo STEP (\w+)", line)
            if m:
                steps.append((m.group(1), []))
            elif line.strip() and not line.lstrip().startswith(("\\", "--")):
                steps[-1][1].append(line)
    out = []
    for name, lines in steps:
        stmts = [s.strip() for s in re.split(r";\s*(?:\n|$)", "\n".join(lines)) if s.strip()]
        out.append((name, stmts))
    return out


class PostgresPeer:
    """A PostgreSQL 15 cluster of our own, run as the postgres user."""

    def __init__(self, shared, file, base, port, parallel_workers, build_gin):
        self.shared = shared
        self.file = file
        self.base = base
        self.port = port
        self.parallel_workers = parallel_workers
        self.build_gin = build_gin
        self.postmaster = None
        self.conn = None

    @property
    def pid(self):
        return self.postmaster

    def _as_postgres(self, args):
        r = subprocess.run(["runuser", "-u", "postgres", "--"] + args,
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise BenchError("%s failed: %s" % (os.path.basename(args[0]),
                                                (r.stdout + r.stderr)[-2000:]))

    def start(self):
        check_port_free(self.port)
        shutil.rmtree(self.base, ignore_errors=True)
        os.makedirs(self.base)
        shutil.chown(self.base, "postgres", "postgres")
        datadir = os.path.join(self.base, "data")
        self._as_postgres([PGBIN + "/initdb", "-D", datadir, "-A", "trust", "-E", "UTF8",
                           "--no-locale", "-U", "postgres"])
        with open(os.path.join(datadir, "postgresql.conf"), "a") as f:
            f.write(PG_CONF.format(port=self.port, base=self.base))
        self._as_postgres([PGBIN + "/pg_ctl", "-D", datadir, "-l",
                           os.path.join(self.base, "server.log"), "-w", "-t", "120", "start"])
        with open(os.path.join(datadir, "postmaster.pid")) as f:
            self.postmaster = int(f.readline())
        self._connect()

    def _connect(self):
        import psycopg2
        self.conn = psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres",
                                     dbname="postgres")
        self.conn.autocommit = True
        with self.conn.cursor() as cur:
            cur.execute("SET max_parallel_workers_per_gather = %d" % self.parallel_workers)

    def load(self):
        """The shared load script's steps, each timed; the typed table is
        skipped, the GIN index built only when a query can use it."""
        steps_ms = {}
        for name, stmts in pg_load_steps(os.path.join(self.shared, "peers", "postgres_load.sql"),
                                         os.path.abspath(self.file)):
            if name in PG_SKIPPED_STEPS or (name == "gin_index" and not self.build_gin):
                continue
            t0 = time.perf_counter()
            with self.conn.cursor() as cur:
                for stmt in stmts:
                    cur.execute(stmt)
            steps_ms[name] = round((time.perf_counter() - t0) * 1000.0)
        with self.conn.cursor() as cur:
            cur.execute("SELECT count(*), pg_total_relation_size('objects_jsonb') "
                        "FROM objects_jsonb")
            rows, size = cur.fetchone()
        return {"steps_ms": steps_ms, "rows": rows, "table_bytes": size,
                "load_ms": steps_ms.get("copy_jsonb", 0) + steps_ms.get("analyze_jsonb", 0)}

    def run(self, sql):
        """Returns (wall ms, columns, rows)."""
        with self.conn.cursor() as cur:
            t0 = time.perf_counter()
            cur.execute(sql)
            rows = cur.fetchall()
            ms = (time.perf_counter() - t0) * 1000.0
            return ms, [d.name for d in cur.description], rows

    def version(self):
        with self.conn.cursor() as cur:
            cur.execute("SELECT version()")
            return cur.fetchone()[0].split(" on ")[0]

    def cpu_ms(self):
        """The backend's CPU plus what the postmaster's finished children
        (parallel workers) used."""
        backend = proc_cpu_ms(self.conn.get_backend_pid())
        reaped = proc_cpu_ms(self.postmaster, reaped_children=True)
        own = proc_cpu_ms(self.postmaster)
        if None in (backend, reaped, own):
            return None
        return backend + (reaped - own)

    def memory(self):
        pids = [self.postmaster] + child_pids(self.postmaster)
        return {"pss_mb": proc_pss_mb(pids),
                "postmaster_hwm_mb": proc_status_mb(self.postmaster, "VmHWM")}

    def stop(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:
                pass
            self.conn = None
        if self.postmaster:
            try:
                os.kill(self.postmaster, signal.SIGINT)  # fast shutdown
            except ProcessLookupError:
                return
            if not wait_gone(self.postmaster, 60):
                os.kill(self.postmaster, signal.SIGQUIT)
                wait_gone(self.postmaster, 30)


# ------------------------------------------------------------ Tally on ClickHouse

class TallyClickHouse:
    """Tally with the ClickHouse backend over a 2-shard cluster of its own
    (tests/clickhouse/cluster.sh in base/cluster), and a direct HTTP
    connection to the cluster's entry node for hand-written SQL over the
    tables Tally created. The SQL Tally sends is appended to base/sql.log
    (the backend's TALLY_CH_DUMP file), so that the report can show it."""

    SHARDS = 2

    def __init__(self, binary, root, base, port, extra_args, log_path):
        self.root = root
        self.base = base
        self.cluster_dir = os.path.join(base, "cluster")
        self.sql_log = os.path.join(base, "sql.log")
        self.url = None
        self.entry = None
        self.tables = None
        self.http = None
        self.tally = TallyServer(binary, os.path.join(base, "tally"), port, extra_args,
                                 log_path, env=dict(os.environ, TALLY_CH_DUMP=self.sql_log))

    @property
    def pids(self):
        """The Tally server's PID and those of the ClickHouse nodes."""
        out = [self.tally.pid] if self.tally.pid else []
        for i in range(1, self.SHARDS + 1):
            try:
                with open(os.path.join(self.cluster_dir, "node%d" % i, "pid")) as f:
                    out.append(int(f.read()))
            except (OSError, ValueError):
                pass
        return out

    def _cluster(self, *args):
        script = os.path.join(self.root, "tests", "clickhouse", "cluster.sh")
        r = subprocess.run([script] + list(args), capture_output=True, text=True)
        if r.returncode != 0:
            raise BenchError("cluster.sh %s failed: %s" % (args[0], (r.stdout + r.stderr)[-2000:]))
        return r.stdout.strip()

    def start(self):
        shutil.rmtree(self.base, ignore_errors=True)
        os.makedirs(self.tally.data)
        self.url = self._cluster("start", self.cluster_dir, str(self.SHARDS))
        m = re.match(r"clickhouse://([^/:]+):(\d+)/", self.url)
        self.entry = int(m.group(2))
        self.http = HttpClient(self.entry)
        self.tally.extra_args += ["--backend", self.url]
        self.tally.start()

    def load(self, file, chunk_bytes):
        """Creates the bucket, imports the file over HTTP, then merges
        each shard's parts (OPTIMIZE ... FINAL), timing both."""
        bucket_id = self.tally.create_bucket()
        self.tables = {"table": "tally.`objects_%s`" % bucket_id,
                       "local": "tally.`objects_%s_local`" % bucket_id}
        t0 = time.perf_counter()
        answer, _ = self.tally.import_file(file, chunk_bytes)
        import_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        for port in self.node_ports():
            self.optimize(port)
        optimize_s = time.perf_counter() - t0
        parts = [int(self.sql("SELECT count() FROM system.parts WHERE active AND "
                              "database = 'tally'", port=port)[0])
                 for port in self.node_ports()]
        rows = int(self.sql("SELECT count() FROM %s WHERE is_deleted = 0"
                            % self.tables["table"])[0])
        table_bytes = sum(int(self.sql("SELECT sum(bytes) FROM system.parts WHERE active "
                                       "AND database = 'tally'", port=port)[0])
                          for port in self.node_ports())
        return {"imported": answer.get("imported"), "rejected": answer.get("rejected"),
                "import_wall_s": round(import_s, 2), "optimize_final_s": round(optimize_s, 2),
                "objects_per_s": round((answer.get("imported") or 0) / import_s),
                "rows": rows, "table_bytes": table_bytes, "shards": self.SHARDS,
                "parts_per_shard": parts,
                "rejections": answer.get("rejections")}

    def optimize(self, port, timeout=1800):
        """OPTIMIZE ... FINAL on one node until it has run: ClickHouse
        skips it quietly while background merges hold the parts, so it is
        asked to say so, and retried once those merges are done."""
        deadline = time.time() + timeout
        count_parts = ("SELECT count() FROM system.parts WHERE active AND database = 'tally' "
                       "AND table = '%s'" % self.tables["local"].split("`")[1])
        while int(self.sql(count_parts, port=port)[0]) > 1:
            try:
                self.sql("OPTIMIZE TABLE %s FINAL" % self.tables["local"], port=port,
                         settings={"optimize_throw_if_noop": "1"})
                return
            except BenchError:
                if time.time() > deadline:
                    raise
                time.sleep(1)
            while int(self.sql("SELECT count() FROM system.merges", port=port)[0]) > 0:
                time.sleep(1)

    def node_ports(self):
        return [int(p) for p in re.findall(r"127\.0\.0\.1:(\d+)",
                                           self.url.split("nodes=", 1)[1])]

    def sql(self, text, port=None, settings=None):
        """One statement over HTTP on the entry node (or another node);
        returns (body text, wall ms)."""
        path = "/?" + urllib.parse.urlencode(settings or {})
        client = self.http if port in (None, self.entry) else HttpClient(port)
        try:
            status, data, ms = client.request("POST", path, text.encode())
        finally:
            if client is not self.http:
                client.close()
        if status != 200:
            raise BenchError("clickhouse answered %d: %s" % (status, data[:600]))
        return data.decode(), ms

    def direct(self, sql):
        """Hand-written SQL ({table} is the Distributed table) on the same
        cluster: returns (wall ms, columns, rows)."""
        text, ms = self.sql(sql.format(**self.tables).rstrip().rstrip(";")
                            + " FORMAT JSONCompact")
        doc = json.loads(text)
        return ms, [c["name"] for c in doc["meta"]], doc["data"]

    def sql_log_size(self):
        try:
            return os.path.getsize(self.sql_log)
        except OSError:
            return 0

    def sql_since(self, offset):
        """The statements Tally sent since offset of the SQL log."""
        with open(self.sql_log, errors="replace") as f:
            f.seek(offset)
            return [s.strip() for s in f.read().split("\n;;\n") if s.strip()]

    def version(self):
        return "ClickHouse " + self.sql("SELECT version()")[0].strip()

    def cpu_ms(self):
        """Tally's CPU plus that of every ClickHouse node."""
        vals = [proc_cpu_ms(pid) for pid in self.pids]
        return None if not vals or None in vals else sum(vals)

    def memory(self):
        return {"tally_rss_mb": proc_status_mb(self.tally.pid, "VmRSS"),
                "nodes_rss_mb": [proc_status_mb(pid, "VmRSS") for pid in self.pids[1:]]}

    def stop(self):
        if self.http:
            self.http.close()
        self.tally.stop()
        if os.path.isdir(self.cluster_dir):
            self._cluster("stop", self.cluster_dir)
