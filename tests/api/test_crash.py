"""Durability: a write answered with 2xx survives kill -9 of the server."""
import json
import random
import subprocess
import threading
import time

import requests

from conftest import BIN, Client, Server


def check_store(data):
    out = subprocess.run([BIN, "check", "--data", data], capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert " 0 problems" in out.stdout
    return out.stdout


def test_kill_during_http_import_loses_no_answered_write():
    server = Server().start()
    try:
        admin = Client(server)
        ns = admin.post("/v1/namespaces", json={"namespace_name": "crash"}).json()
        c = admin.with_namespace(ns["namespace_id"])
        c.post("/v1/buckets", json={"bucket_name": "b"})
        acknowledged = []
        stop = threading.Event()

        def writer():
            i = 0
            s = requests.Session()
            while not stop.is_set():
                i += 1
                try:
                    r = s.post(server.url + "/v1/buckets/b/objects/batch",
                               headers=c.headers(),
                               json={"objects": [{"metadata": {"w": i, "j": j}}
                                                 for j in range(20)]},
                               timeout=10)
                except requests.RequestException:
                    return
                if r.status_code == 200:
                    acknowledged.extend(o["object_id"]
                                        for o in r.json()["succeeded"])

        def importer():
            def lines():
                for i in range(400000):
                    yield (json.dumps({"metadata": {"imp": i, "pad": "x" * 100}})
                           + "\n").encode()
            try:
                requests.post(server.url + "/v1/buckets/b/objects/import",
                              headers=c.headers(), data=lines(), timeout=60)
            except requests.RequestException:
                pass

        threads = [threading.Thread(target=writer), threading.Thread(target=importer)]
        for t in threads:
            t.start()
        time.sleep(random.uniform(0.8, 2.0))
        server.kill()
        stop.set()
        for t in threads:
            t.join()
        assert len(acknowledged) > 0, "no write was answered before the kill"

        check_store(server.data)
        server.start()
        c = Client(server, key=server.key or admin.key, namespace=ns["namespace_id"])
        c.key = admin.key
        listed = set()
        cursor = None
        while True:
            url = "/v1/buckets/b/objects/list?limit=1000&select=object_id"
            if cursor:
                url += "&cursor=" + cursor
            body = c.post(url, json={"select": ["object_id"]}).json()
            listed.update(o["object_id"] for o in body["results"])
            cursor = body["pagination"]["next_cursor"]
            if not cursor:
                break
        missing = [oid for oid in acknowledged if oid not in listed]
        assert not missing, "%d answered writes lost" % len(missing)
        bucket = c.get("/v1/buckets/b").json()
        assert bucket["object_count"] == len(listed)
    finally:
        server.stop()
        server.cleanup()


def test_kill_rounds_during_mixed_writes():
    """Five rounds of tests/crash/crash.py (`make crash` runs fifty)."""
    import os
    import sys
    script = os.path.join(os.path.dirname(__file__), "..", "crash", "crash.py")
    out = subprocess.run([sys.executable, script, "--rounds", "5"],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.strip().splitlines()[-1] == "5 passed, 0 failed"
