"""Buckets: create, read (with object_count and total_size_bytes), replace,
change, delete, list."""
from conftest import unique
from schemas import check_error, check_response


def test_create_and_read_by_id_or_name(ns):
    r = ns.post("/v1/buckets", json={
        "bucket_name": "videos",
        "description": "my videos",
        "bucket_schema": {"properties": {"title": {"type": "string", "required": True}}},
        "unique_key": {"fields": ["sku"], "default_policy": "upsert"},
        "metadata": {"team": "a"}})
    b = check_response(r, 200, "BucketResponse")
    assert b["bucket_id"].startswith("bkt_")
    assert b["object_count"] == 0 and b["total_size_bytes"] == 0
    assert b["unique_key"]["fields"] == ["sku"]
    assert b["status"] == "ACTIVE"
    for ident in ("videos", b["bucket_id"]):
        got = check_response(ns.get("/v1/buckets/" + ident), 200, "BucketResponse")
        assert got["bucket_id"] == b["bucket_id"]
        assert "_num" not in got and "_ns" not in got


def test_counts_follow_writes(bucket):
    c, bid = bucket
    for i in range(3):
        assert c.post("/v1/buckets/%s/objects" % bid,
                      json={"metadata": {"i": i}}).status_code == 200
    b = check_response(c.get("/v1/buckets/" + bid), 200, "BucketResponse")
    assert b["object_count"] == 3
    assert b["total_size_bytes"] > 0
    assert b["last_upload_at"] is not None


def test_invalid_schema_and_unique_key_are_reported_together(ns):
    r = ns.post("/v1/buckets", json={
        "bucket_name": "",
        "bucket_schema": {"properties": {"x": {"type": "colour"}}},
        "unique_key": {"fields": []}})
    body = check_error(r, 422)
    locs = [tuple(p["loc"]) for p in body["detail"]]
    assert ("body", "bucket_name") in locs
    assert ("body", "bucket_schema", "properties", "x", "type") in locs
    assert ("body", "unique_key", "fields") in locs


def test_duplicate_name_conflicts_only_within_a_namespace(admin, ns):
    assert ns.post("/v1/buckets", json={"bucket_name": "same"}).status_code == 200
    check_error(ns.post("/v1/buckets", json={"bucket_name": "same"}), 409)
    other = admin.post("/v1/namespaces", json={"namespace_name": unique("ns")}).json()
    c2 = admin.with_namespace(other["namespace_name"])
    assert c2.post("/v1/buckets", json={"bucket_name": "same"}).status_code == 200


def test_patch_merges_metadata_and_put_replaces_it(ns):
    b = ns.post("/v1/buckets", json={"bucket_name": "m",
                                     "metadata": {"a": 1, "b": 2}}).json()
    path = "/v1/buckets/" + b["bucket_id"]
    body = check_response(ns.patch(path, json={"metadata": {"b": None, "c": 3}}),
                          200, "BucketResponse")
    assert body["metadata"] == {"a": 1, "c": 3}
    body = check_response(ns.put(path, json={"bucket_name": "m2",
                                              "metadata": {"z": 1}}),
                          200, "BucketResponse")
    assert body["bucket_name"] == "m2" and body["metadata"] == {"z": 1}
    check_error(ns.patch(path, json={"bucket_schema": {"properties": {}}}), 422,
                "cannot be changed")


def test_delete_hides_the_bucket_and_its_objects(bucket):
    c, bid = bucket
    obj = c.post("/v1/buckets/%s/objects" % bid, json={}).json()
    r = c.delete("/v1/buckets/" + bid)
    assert r.status_code == 200 and r.json()["bucket_id"] == bid
    check_error(c.get("/v1/buckets/" + bid), 404)
    check_error(c.get("/v1/buckets/%s/objects/%s" % (bid, obj["object_id"])), 404)
    check_error(c.delete("/v1/buckets/" + bid), 404)


def test_list_with_filters_and_pagination(ns):
    for i in range(4):
        ns.post("/v1/buckets", json={"bucket_name": "l%d" % i,
                                     "metadata": {"even": i % 2 == 0}})
    body = check_response(ns.post("/v1/buckets/list", json={"limit": 3}), 200,
                          "ListBucketsResponse")
    assert len(body["results"]) == 3 and body["total_count"] == 4
    assert body["pagination"]["next_cursor"]
    body = ns.post("/v1/buckets/list", json={"search": "L2"}).json()
    assert [b["bucket_name"] for b in body["results"]] == ["l2"]
    body = ns.post("/v1/buckets/list",
                   json={"filters": {"bucket_name": "l3"}}).json()
    assert [b["bucket_name"] for b in body["results"]] == ["l3"]
