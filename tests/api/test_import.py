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
