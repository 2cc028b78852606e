"""Objects: create, batch, read, replace, change, delete; schema checks,
unique keys, blob records."""
import base64
import hashlib

from conftest import unique
from schemas import check, check_error, check_response


def objects(bid):
    return "/v1/buckets/%s/objects" % bid


def test_create_fills_server_fields(bucket):
    c, bid = bucket
    r = c.post(objects(bid), json={"key_prefix": "/a", "metadata": {"n": 1},
                                   "extra": {"kept": True},
                                   "skip_duplicates": True})
    o = check_response(r, 200, "ObjectResponse")
    assert o["object_id"].startswith("obj_")
    assert o["bucket_id"] == bid
    assert o["status"] == "DRAFT"
    assert o["key_prefix"] == "/a"
    assert o["metadata"] == {"n": 1}
    assert o["extra"] == {"kept": True}
    assert "skip_duplicates" not in o
    assert o["created_at"] == o["updated_at"]
    assert len(o["created_at"]) == 24 and o["created_at"].endswith("Z")
    got = check_response(c.get(objects(bid) + "/" + o["object_id"]), 200,
                         "ObjectResponse")
    assert got == o


def test_create_keeps_exact_numbers(bucket):
    c, bid = bucket
    meta = {"big": 9223372036854775807, "neg": -9223372036854775808,
            "f": 0.1, "whole": 3.0, "tiny": 5e-324, "s": "h\u00e9\u2603\U0001F600"}
    o = c.post(objects(bid), json={"metadata": meta}).json()
    got = c.get(objects(bid) + "/" + o["object_id"])
    assert got.json()["metadata"] == meta
    assert '"whole":3.0' in got.text.replace(" ", "")


def test_status_is_the_clients_and_checked(bucket):
    c, bid = bucket
    o = c.post(objects(bid), json={"status": "COMPLETED"}).json()
    assert o["status"] == "COMPLETED"
    check_error(c.post(objects(bid), json={"status": "DONE"}), 422, "status")


def test_blob_records_and_inline_data(bucket):
    c, bid = bucket
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 24
    data = base64.b64encode(png).decode()
    o = c.post(objects(bid), json={"blobs": [
        {"property": "thumb", "type": "image", "data": data,
         "metadata": {"w": 10}},
        {"property": "video", "type": "video", "data": "https://example.com/v.mp4"},
        {"property": "note", "type": "text",
         "data": "data:text/plain;base64," + base64.b64encode(b"hi").decode()},
    ]}).json()
    check("ObjectResponse", o)
    thumb, video, note = o["blobs"]
    assert thumb["blob_id"].startswith("blob_")
    assert thumb["details"]["size_bytes"] == len(png)
    assert thumb["details"]["mime_type"] == "image/png"
    assert thumb["details"]["hash"] == hashlib.sha256(png).hexdigest()
    assert thumb["properties"]["w"] == 10
    assert "size_bytes" not in video["details"]
    assert video["properties"]["data"] == "https://example.com/v.mp4"
    assert note["details"]["mime_type"] == "text/plain"
    assert note["details"]["size_bytes"] == 2


def test_bad_blobs_are_located(bucket):
    c, bid = bucket
    r = c.post(objects(bid), json={"blobs": [{"type": "image"},
                                             {"property": "p", "type": ""}]})
    locs = [p["loc"] for p in check_error(r, 422)["detail"]]
    assert ["body", "blobs", 0, "property"] in locs
    assert ["body", "blobs", 1, "type"] in locs


def test_schema_is_enforced_on_write(ns):
    schema = {"properties": {
        "title": {"type": "string", "required": True},
        "views": {"type": "integer"},
        "published": {"type": "date"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "kind": {"type": "string", "enum": ["a", "b"]},
        "cover": {"type": "image", "required": True}}}
    b = ns.post("/v1/buckets", json={"bucket_name": "s",
                                     "bucket_schema": schema}).json()
    bid = b["bucket_id"]
    good = {"metadata": {"title": "t", "views": 3, "published": "2024-03-05",
                         "tags": ["x"], "kind": "a"},
            "blobs": [{"property": "cover", "type": "image"}]}
    o = check_response(ns.post(objects(bid), json=good), 200, "ObjectResponse")
    assert o["metadata"]["published"] == "2024-03-05T00:00:00.000Z"
    bad = {"metadata": {"views": "3", "published": "yesterday", "tags": [1],
                        "kind": "c"}}
    r = ns.post(objects(bid), json=bad)
    locs = {tuple(p["loc"]) for p in check_error(r, 422)["detail"]}
    assert ("body", "metadata", "title") in locs
    assert ("body", "metadata", "views") in locs
    assert ("body", "metadata", "published") in locs
    assert ("body", "metadata", "tags", 0) in locs
    assert ("body", "metadata", "kind") in locs
    assert ("body", "blobs") in locs
    assert ns.get("/v1/buckets/" + bid).json()["object_count"] == 1


def test_put_replaces_patch_merges(bucket):
    c, bid = bucket
    o = c.post(objects(bid), json={"metadata": {"a": 1, "b": {"c": 2}},
                                   "key_prefix": "/k", "status": "PENDING"}).json()
    path = objects(bid) + "/" + o["object_id"]
    p = check_response(c.patch(path, json={"metadata": {"b": {"d": 3}, "a": None}}),
                       200, "ObjectResponse")
    assert p["metadata"] == {"b": {"c": 2, "d": 3}}
    assert p["key_prefix"] == "/k" and p["status"] == "PENDING"
    assert p["created_at"] == o["created_at"]
    assert p["object_id"] == o["object_id"]
    u = check_response(c.put(path, json={"metadata": {"z": 1}}), 200,
                       "ObjectResponse")
    assert u["metadata"] == {"z": 1} and "key_prefix" not in u
    assert u["status"] == "PENDING"
    assert c.get(path).json() == u


def test_delete_then_404(bucket):
    c, bid = bucket
    o = c.post(objects(bid), json={}).json()
    path = objects(bid) + "/" + o["object_id"]
    r = c.delete(path)
    assert r.status_code == 204 and r.content == b""
    check_error(c.get(path), 404)
    check_error(c.delete(path), 404)
    check_error(c.patch(path, json={}), 404)


def test_batch_partial_success(bucket):
    c, bid = bucket
    r = c.post(objects(bid) + "/batch", json={"objects": [
        {"metadata": {"i": 0}}, {"status": "NOPE"}, {"metadata": {"i": 2}},
        "not an object"]})
    body = check_response(r, 200, "CreateObjectsBatchResponse")
    assert body["total_requested"] == 4
    assert body["succeeded_count"] == 2 and body["failed_count"] == 2
    assert [f["object_index"] for f in body["failed"]] == [1, 3]
    assert all(f["error"] and f["error_type"] for f in body["failed"])
    assert [o["metadata"]["i"] for o in body["succeeded"]] == [0, 2]
    assert c.get("/v1/buckets/" + bid).json()["object_count"] == 2
    check_error(c.post(objects(bid) + "/batch", json={"objects": {}}), 422)


def test_unique_key_policies(ns):
    b = ns.post("/v1/buckets", json={"bucket_name": "u",
                                     "unique_key": {"fields": ["sku"]}}).json()
    path = objects(b["bucket_id"])
    check_error(ns.post(path, json={"metadata": {"sku": "a"}}), 400, "policy")
    first = ns.post(path + "?policy=insert", json={"metadata": {"sku": "a", "v": 1}})
    assert first.status_code == 200
    check_error(ns.post(path + "?policy=insert", json={"metadata": {"sku": "a"}}), 409)
    check_error(ns.post(path + "?policy=update", json={"metadata": {"sku": "b"}}), 404)
    up = ns.post(path + "?policy=upsert", json={"metadata": {"sku": "a", "v": 2}})
    assert up.json()["object_id"] == first.json()["object_id"]
    assert up.json()["metadata"]["v"] == 2
    new = ns.post(path + "?policy=upsert", json={"metadata": {"sku": "c"}})
    assert new.status_code == 200 and new.json()["object_id"] != first.json()["object_id"]
    check_error(ns.post(path + "?policy=insert", json={"metadata": {}}), 422, "sku")
    check_error(ns.post(path + "?policy=sideways", json={"metadata": {"sku": "z"}}), 400)
    assert ns.get("/v1/buckets/" + b["bucket_id"]).json()["object_count"] == 2


def test_unique_key_default_policy_and_numbers(ns):
    b = ns.post("/v1/buckets", json={"bucket_name": "u2",
                                     "unique_key": {"fields": ["n"],
                                                    "default_policy": "insert"}}).json()
    path = objects(b["bucket_id"])
    assert ns.post(path, json={"metadata": {"n": 1}}).status_code == 200
    check_error(ns.post(path, json={"metadata": {"n": 1.0}}), 409)


def test_unknown_bucket_and_object(bucket):
    c, bid = bucket
    check_error(c.post(objects("nope"), json={}), 404, "bucket")
    check_error(c.get(objects(bid) + "/obj_doesnotexist"), 404, "object")
