"""A full disk, a size-limited store, a truncated or damaged data file:
clear errors, no crash, no silent wrong answer."""
import os
import shutil
import subprocess
import tempfile

import pytest

from conftest import BIN, Client, Server


def fill(c, bucket, until_status, max_batches=100):
    """Batches of padded objects until the store refuses: either the whole
    batch (the commit fails: 507) or some of its objects (200, with the
    refused ones in "failed"); then one more object gets a 507."""
    pad = "x" * 40000
    for _ in range(max_batches):
        r = c.post("/v1/buckets/%s/objects/batch" % bucket,
                   json={"objects": [{"metadata": {"pad": pad}}] * 50})
        if r.status_code == until_status:
            break
        assert r.status_code == 200, r.text
        if r.json()["failed_count"] > 0:
            assert r.json()["failed"][0]["error_type"] == \
                "InsufficientStorageError"
            break
    else:
        raise AssertionError("the store never filled up")
    r = c.post("/v1/buckets/%s/objects" % bucket, json={"metadata": {"pad": pad}})
    assert r.status_code == until_status, r.text
    return r


def setup_bucket(server):
    admin = Client(server)
    ns = admin.post("/v1/namespaces", json={"namespace_name": "d"}).json()
    c = admin.with_namespace(ns["namespace_id"])
    assert c.post("/v1/buckets", json={"bucket_name": "b"}).status_code == 200
    c.post("/v1/buckets/b/objects", json={"metadata": {"keep": "me"}})
    return c


def check(data):
    return subprocess.run([BIN, "check", "--data", data], capture_output=True,
                          text=True)


def test_size_limited_store_refuses_writes_and_keeps_serving():
    server = Server(args=["--max-store-size", "8M"]).start()
    try:
        c = setup_bucket(server)
        r = fill(c, "b", 507)
        body = r.json()
        assert body["error"]["type"] == "InsufficientStorageError"
        assert "max_store_size" in body["error"]["message"]
        listed = c.post("/v1/buckets/b/objects/list?limit=1",
                        json={"filters": {"metadata.keep": "me"}})
        assert listed.status_code == 200 and len(listed.json()["results"]) == 1
        assert server.stop() == 0
        server.start()
        assert check(server.data).returncode == 0
    finally:
        server.cleanup()


def test_full_disk_is_an_error_not_a_crash():
    mnt = tempfile.mkdtemp(prefix="tally-full-")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m",
                              "tmpfs", mnt]).returncode == 0
    assert mounted, "this test needs to mount a small tmpfs (run as root)"
    data = os.path.join(mnt, "data")
    os.mkdir(data, 0o700)
    server = Server(data=data)
    try:
        server.start()
        c = setup_bucket(server)
        r = fill(c, "b", 507)
        assert "disk is full" in r.json()["error"]["message"]
        assert c.get("/v1/buckets/b").status_code == 200
        assert server.stop() == 0
        server.start()
        assert check(data).returncode == 0
        server.stop()
    finally:
        server.kill()
        subprocess.run(["umount", mnt])
        shutil.rmtree(mnt, ignore_errors=True)


def stopped_store():
    server = Server().start()
    setup_bucket(server)
    server.stop()
    return server


def test_truncated_data_file_is_refused_at_start():
    server = stopped_store()
    try:
        path = os.path.join(server.data, "data.mdb")
        with open(path, "r+b") as f:
            f.truncate(os.path.getsize(path) // 2)
        with pytest.raises(RuntimeError) as exc:
            server.start(timeout=10)
        assert "truncated" in str(exc.value)
        assert "data.mdb" in str(exc.value)
    finally:
        server.cleanup()


def test_damaged_header_is_refused_at_start():
    server = stopped_store()
    try:
        path = os.path.join(server.data, "data.mdb")
        with open(path, "r+b") as f:
            f.write(b"\xff" * 8192)
        with pytest.raises(RuntimeError) as exc:
            server.start(timeout=10)
        assert "damaged" in str(exc.value) or "format" in str(exc.value)
    finally:
        server.cleanup()


def test_damaged_object_is_an_error_never_a_wrong_answer():
    server = Server().start()
    try:
        c = setup_bucket(server)
        marker = "needle-0123456789"
        oid = c.post("/v1/buckets/b/objects",
                     json={"metadata": {"name": marker, "n": 5}}).json()["object_id"]
        server.stop()
        path = os.path.join(server.data, "data.mdb")
        blob = open(path, "rb").read()
        at = blob.find(marker.encode())
        assert at > 0
        with open(path, "r+b") as f:
            f.seek(at)
            f.write(b"N")  # same length, different byte
        report = check(server.data)
        assert report.returncode == 1 and "damaged" in report.stdout

        server.start()
        r = c.get("/v1/buckets/b/objects/" + oid)
        assert r.status_code == 500 and "damaged" in r.json()["error"]["message"]
        for engine in ("", "?engine=rows"):
            r = c.post("/v1/buckets/b/objects/aggregate" + engine, json={
                "group_by": [{"field": "metadata.name"}],
                "aggregations": [{"function": "count", "alias": "n"}]})
            assert r.status_code == 500, r.text
            assert "damaged" in r.json()["error"]["message"]
    finally:
        server.stop()
        server.cleanup()
