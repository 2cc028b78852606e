"""Fixtures for the API tests: a real `tally serve` on a loopback port, over
a fresh data folder, and an HTTP client that speaks to it.

Environment:
  TALLY_BIN     the binary to test (default build/tally; the sanitizer run
                points it at build-asan/tally)
  TALLY_SHARED  the shared folder (default ../shared next to the checkout)
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest
import requests

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("TALLY_BIN", os.path.join(ROOT, "build", "tally"))
SHARED = os.environ.get("TALLY_SHARED", os.path.join(os.path.dirname(ROOT), "shared"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One tally process. start() waits for /healthz; stop() sends SIGTERM
    and waits; kill() sends SIGKILL (for crash tests)."""

    def __init__(self, data=None, args=()):
        self.own_data = data is None
        self.data = data or tempfile.mkdtemp(prefix="tally-test-")
        os.chmod(self.data, 0o700)
        self.args = list(args)
        self.port = None
        self.proc = None
        self.key = None
        self.log = os.path.join(tempfile.gettempdir(),
                                "tally-%d-%d.log" % (os.getpid(), time.monotonic_ns()))

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self, timeout=20):
        self.port = free_port()
        cmd = [BIN, "serve", "--data", self.data, "--listen",
               "127.0.0.1:%d" % self.port] + self.args
        self.out = open(self.log, "w+")
        self.proc = subprocess.Popen(cmd, stdout=self.out, stderr=subprocess.STDOUT)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("tally exited early:\n" + self.output())
            try:
                if requests.get(self.url + "/healthz", timeout=1).status_code == 200:
                    m = re.search(r"api_key: (sk_\w+)", self.output())
                    if m:
                        self.key = m.group(1)
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise RuntimeError("tally did not become ready:\n" + self.output())

    def output(self):
        with open(self.log) as f:
            return f.read()

    def stop(self, timeout=30):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=timeout)
        rc = self.proc.returncode if self.proc else 0
        self.proc = None
        return rc

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def cleanup(self):
        self.kill()
        if self.own_data:
            shutil.rmtree(self.data, ignore_errors=True)
        try:
            os.unlink(self.log)
        except OSError:
            pass


class Client:
    """requests with the server's address, a key and a namespace header."""

    def __init__(self, server, key=None, namespace=None):
        self.server = server
        self.key = key if key is not None else server.key
        self.namespace = namespace
        self.s = requests.Session()

    def headers(self, extra=None):
        h = {}
        if self.key:
            h["Authorization"] = "Bearer " + self.key
        if self.namespace:
            h["X-Namespace"] = self.namespace
        h.update(extra or {})
        return h

    def request(self, method, path, **kw):
        headers = self.headers(kw.pop("headers", None))
        return self.s.request(method, self.server.url + path, headers=headers,
                              timeout=kw.pop("timeout", 60), **kw)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def put(self, path, **kw):
        return self.request("PUT", path, **kw)

    def patch(self, path, **kw):
        return self.request("PATCH", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def with_namespace(self, ns):
        return Client(self.server, self.key, ns)


def create_key(data, namespaces=()):
    """`tally key create`: returns the plain key (last line of stdout)."""
    cmd = [BIN, "key", "create", "--data", data]
    for ns in namespaces:
        cmd += ["--namespace", ns]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def server():
    s = Server().start()
    yield s
    rc = s.stop()
    s.cleanup()
    assert rc == 0, "tally did not stop cleanly"


@pytest.fixture(scope="module")
def admin(server):
    return Client(server)


_counter = [0]


def unique(prefix):
    _counter[0] += 1
    return "%s-%d-%d" % (prefix, os.getpid(), _counter[0])


@pytest.fixture
def ns(admin):
    """A fresh namespace; yields a client bound to it."""
    r = admin.post("/v1/namespaces", json={"namespace_name": unique("ns")})
    assert r.status_code == 200, r.text
    return admin.with_namespace(r.json()["namespace_id"])


@pytest.fixture
def bucket(ns):
    """A fresh bucket without schema in a fresh namespace: (client, bucket id)."""
    r = ns.post("/v1/buckets", json={"bucket_name": unique("b"),
                                     "bucket_schema": {"properties": {}}})
    assert r.status_code == 200, r.text
    return ns, r.json()["bucket_id"]
