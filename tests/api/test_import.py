"""Streamed NDJSON import."""
import json

from schemas import check_error


def imp(c, bid, data, **kw):
    return c.post("/v1/buckets/%s/objects/import" % bid, data=data,
                  headers={"Content-Type": "application/x-ndjson"}, **kw)


def test_import_keeps_ids_times_and_status(bucket):
    c, bid = bucket
    lines = [
        {"object_id": "obj_restored1", "created_at": "2023-01-02T03:04:05Z",
         "updated_at": "2023-01-03T00:00:00.5Z", "status": "COMPLETED",
         "metadata": {"i": 1}, "bucket_id": "bkt_elsewhere",
         "blobs": [{"blob_id": "blob_abc", "property": "v", "type": "video",
                    "details": {"size_bytes": 7}}]},
        {"metadata": {"i": 2}},
    ]
    body = "\n".join(json.dumps(x) for x in lines) + "\n"
    r = imp(c, bid, body)
    assert r.status_code == 200, r.text
    res = r.json()
    assert res["imported"] == 2 and res["rejected"] == 0 and res["lines"] == 2
    o = c.get("/v1/buckets/%s/objects/obj_restored1" % bid).json()
    assert o["created_at"] == "2023-01-02T03:04:05.000Z"
    assert o["updated_at"] == "2023-01-03T00:00:00.500Z"
    assert o["status"] == "COMPLETED"
    assert o["bucket_id"] == bid
    assert o["blobs"][0]["blob_id"] == "blob_abc"
    assert o["blobs"][0]["details"]["size_bytes"] == 7


def test_rejected_lines_are_reported_and_the_rest_kept(bucket):
    c, bid = bucket
    body = "\n".join([
        '{"metadata": {"i": 1}}',
        '{"metadata": ',
        '',
        '{"status": "WRONG"}',
        '{"object_id": "obj_dup"}',
        '{"object_id": "obj_dup"}',
        '[1, 2]',
        '{"metadata": {"i": 7}}',
    ])
    r = imp(c, bid, body)
    assert r.status_code == 200, r.text
    res = r.json()
    assert res["imported"] == 3 and res["rejected"] == 4
    assert [x["line"] for x in res["rejections"]] == [2, 4, 6, 7]
    assert "JSON" in res["rejections"][0]["error"]
    assert "already exists" in res["rejections"][2]["error"]
    assert c.get("/v1/buckets/" + bid).json()["object_count"] == 3


def test_import_streams_a_large_body(bucket):
    c, bid = bucket
    n = 20000

    def gen():
        for i in range(n):
            yield (json.dumps({"metadata": {"i": i, "pad": "x" * 200}}) + "\n").encode()

    r = imp(c, bid, gen())
    assert r.status_code == 200, r.text
    assert r.json()["imported"] == n
    assert c.get("/v1/buckets/" + bid).json()["object_count"] == n


def test_rejections_across_batches_are_exact_and_in_line_order(bucket):
    """Lines are written in batches of 10000 (two in flight at a time): a
    duplicate id two batches apart, and bad lines in every batch, are each
    reported once, in line order, and every other line is kept."""
    c, bid = bucket
    n = 25000
    bad = {7, 9999, 10000, 10001, 19999, 24999}
    lines = []
    for i in range(1, n + 1):
        if i in bad:
            lines.append("{not json")
        elif i in (3, 23000):
            lines.append(json.dumps({"object_id": "obj_twice", "metadata": {"i": i}}))
        else:
            lines.append(json.dumps({"metadata": {"i": i}}))
    r = imp(c, bid, "\n".join(lines) + "\n")
    assert r.status_code == 200, r.text
    res = r.json()
    want = sorted(bad | {23000})
    assert [x["line"] for x in res["rejections"]] == want
    assert "already exists" in res["rejections"][-2]["error"]
    assert (res["imported"], res["rejected"]) == (n - len(want), len(want))
    assert c.get("/v1/buckets/" + bid).json()["object_count"] == n - len(want)
    kept = c.get("/v1/buckets/%s/objects/obj_twice" % bid).json()
    assert kept["metadata"]["i"] == 3


def test_import_into_unknown_bucket_is_404(bucket):
    c, _ = bucket
    check_error(imp(c, "missing", b"{}\n"), 404)


def test_overlong_line_is_rejected_not_fatal(server, bucket):
    c, bid = bucket
    body = b'{"metadata": {"x": "' + b"y" * (17 << 20) + b'"}}\n{"metadata": {}}\n'
    r = imp(c, bid, body)
    assert r.status_code == 200, r.text
    res = r.json()
    assert res["imported"] == 1 and res["rejected"] == 1
    assert res["rejections"][0]["line"] == 1
    assert "max_object_bytes" in res["rejections"][0]["error"]


def test_lines_read_before_the_reject_limit_are_kept():
    """An import stopped by max_import_rejects keeps the good lines that
    came before the line that passed the limit, and counts them."""
    from conftest import Client, Server
    s = Server(args=["--max-import-rejects", "2"]).start()
    try:
        c = Client(s)
        ns = c.post("/v1/namespaces", json={"namespace_name": "imp"}).json()
        c = c.with_namespace(ns["namespace_id"])
        bid = c.post("/v1/buckets", json={"bucket_name": "b"}).json()["bucket_id"]
        body = '{"metadata": {"i": 1}}\nx\ny\nz\n{"metadata": {"i": 5}}\n'
        err = check_error(imp(c, bid, body), 400, "max_import_rejects")
        details = err["error"]["details"]
        assert details["lines"] == 4
        assert (details["imported"], details["rejected"]) == (1, 3)
        assert [x["line"] for x in details["rejections"]] == [2, 3, 4]
        assert c.get("/v1/buckets/" + bid).json()["object_count"] == 1
    finally:
        s.stop()
        s.cleanup()


def test_lines_read_before_max_import_bytes_are_kept():
    """An import stopped by max_import_bytes keeps the complete lines that
    arrived before the piece that passed the limit."""
    import time
    from conftest import Client, Server
    s = Server(args=["--max-import-bytes", "100"]).start()
    try:
        c = Client(s)
        ns = c.post("/v1/namespaces", json={"namespace_name": "imp"}).json()
        c = c.with_namespace(ns["namespace_id"])
        bid = c.post("/v1/buckets", json={"bucket_name": "b"}).json()["bucket_id"]

        def pieces():
            yield b'{"metadata": {"i": 1}}\n'
            time.sleep(0.3)  # let the server read the first line alone
            yield b'{"metadata": {"i": 2}}\n' + b" " * 200 + b"\n"

        err = check_error(imp(c, bid, pieces()), 413, "max_import_bytes")
        details = err["error"]["details"]
        assert (details["lines"], details["imported"]) == (1, 1)
        assert c.get("/v1/buckets/" + bid).json()["object_count"] == 1
    finally:
        s.stop()
        s.cleanup()
