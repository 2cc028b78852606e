"""The column path answers exactly as the row path, before and after every
kind of write, and falls back to rows when a column holds arrays or
objects."""
import random
import re

import requests

from conftest import unique

QUERIES = [
    {"group_by": [{"field": "metadata.cat"}],
     "aggregations": [{"function": "count", "alias": "n"},
                      {"function": "sum", "field": "metadata.v", "alias": "s"},
                      {"function": "avg", "field": "metadata.d", "alias": "a"},
                      {"function": "min", "field": "created_at", "alias": "lo"},
                      {"function": "max", "field": "metadata.v", "alias": "hi"},
                      {"function": "first", "field": "metadata.v", "alias": "f"},
                      {"function": "last", "field": "metadata.v", "alias": "l"},
                      {"function": "push", "field": "metadata.d", "alias": "p"},
                      {"function": "add_to_set", "field": "metadata.tag",
                       "alias": "tags"},
                      {"function": "count_distinct", "field": "metadata.tag",
                       "alias": "dt"}],
     "sort_by": "n"},
    {"filters": {"metadata.v": {"$gte": 10}, "metadata.cat": {"$in": ["a", "b"]}},
     "group_by": [{"field": "created_at", "alias": "day", "date_trunc": "day"},
                  {"field": "created_at", "alias": "dow", "date_part": "dayOfWeek"}],
     "aggregations": [{"function": "count", "alias": "n"}]},
    {"range_buckets": [{"field": "metadata.d", "boundaries": [0, 1.5, 3]}],
     "aggregations": [{"function": "count", "alias": "n"},
                      {"function": "count", "field": "metadata.v", "alias": "nv"}]},
    {"unwind": "blobs",
     "group_by": [{"field": "blobs.type"}],
     "aggregations": [{"function": "count", "alias": "n"},
                      {"function": "sum", "field": "blobs.details.size_bytes",
                       "alias": "bytes"},
                      {"function": "add_to_set", "field": "metadata.cat",
                       "alias": "cats"}],
     "sort_by": "bytes", "sort_direction": "asc"},
    {"filters": {"OR": [{"field": "metadata.cat", "operator": "eq", "value": "A"},
                        {"field": "metadata.v", "operator": "lt", "value": 5}]},
     "group_by": [{"field": "status"}],
     "aggregations": [{"function": "count", "alias": "n"}], "limit": 2},
]


def rows_used(server):
    text = requests.get(server.url + "/metrics").text
    return int(re.search(r"tally_aggregations_by_rows_total (\d+)", text).group(1))


def make_object(rnd, i):
    o = {"metadata": {"cat": rnd.choice(["a", "b", "c", None]), "v": rnd.randint(-5, 40),
                      "d": rnd.choice([0.5, 1.5, 2.25, 3, None]),
                      "tag": rnd.choice(["x", "y", "z"])},
         "status": rnd.choice(["DRAFT", "COMPLETED"]),
         "blobs": [{"property": "p%d" % j, "type": rnd.choice(["image", "video"]),
                    "details": {"size_bytes": rnd.randint(1, 1000)}}
                   for j in range(rnd.randint(0, 3))]}
    if i % 7 == 0:
        del o["metadata"]["v"]
    return o


def compare_all(c, bid, server, expect_columns=True):
    path = "/v1/buckets/%s/objects/aggregate" % bid
    for q in QUERIES:
        before = rows_used(server)
        cols = c.post(path, json=q)
        after = rows_used(server)
        rows = c.post(path + "?engine=rows", json=q)
        assert cols.status_code == 200 and rows.status_code == 200, cols.text
        assert cols.json()["results"] == rows.json()["results"], q
        assert cols.json()["query_info"]["matched_objects"] == \
            rows.json()["query_info"]["matched_objects"]
        if expect_columns:
            assert after == before, "the column path was not used for %s" % q


def test_columns_agree_through_creates_updates_and_deletes(server, bucket):
    c, bid = bucket
    rnd = random.Random(7)
    objs = c.post("/v1/buckets/%s/objects/batch" % bid,
                  json={"objects": [make_object(rnd, i) for i in range(300)]}).json()
    ids = [o["object_id"] for o in objs["succeeded"]]
    compare_all(c, bid, server)
    for round_ in range(4):
        c.post("/v1/buckets/%s/objects/batch" % bid,
               json={"objects": [make_object(rnd, i) for i in range(40)]})
        for oid in rnd.sample(ids, 15):
            c.patch("/v1/buckets/%s/objects/%s" % (bid, oid),
                    json={"metadata": {"cat": rnd.choice(["a", "b", "q"]),
                                       "v": rnd.randint(0, 99)},
                          "blobs": [{"property": "n", "type": "text",
                                     "details": {"size_bytes": 5}}] * rnd.randint(0, 4)})
        for oid in rnd.sample(ids, 10):
            if c.delete("/v1/buckets/%s/objects/%s" % (bid, oid)).status_code == 204:
                ids.remove(oid)
        compare_all(c, bid, server)


def test_arrays_fall_back_to_rows_with_the_same_answer(server, bucket):
    c, bid = bucket
    c.post("/v1/buckets/%s/objects/batch" % bid, json={"objects": [
        {"metadata": {"cat": "a", "v": 1}},
        {"metadata": {"cat": ["a", "b"], "v": 2}},
        {"metadata": {"cat": {"x": 1}, "v": 3}}]})
    path = "/v1/buckets/%s/objects/aggregate" % bid
    before = rows_used(server)
    q = {"group_by": [{"field": "metadata.cat"}],
         "aggregations": [{"function": "sum", "field": "metadata.v", "alias": "s"}]}
    r = c.post(path, json=q)
    assert r.status_code == 200
    assert rows_used(server) == before + 1
    assert r.json()["results"] == c.post(path + "?engine=rows", json=q).json()["results"]
    groups = [x["group"]["metadata.cat"] for x in r.json()["results"]]
    assert groups == ["a", {"x": 1}, ["a", "b"]]


def test_a_recreated_bucket_shows_no_stale_columns(server, ns):
    name = unique("again")
    q = {"group_by": [{"field": "metadata.k"}],
         "aggregations": [{"function": "count", "alias": "n"}]}
    b = ns.post("/v1/buckets", json={"bucket_name": name}).json()
    ns.post("/v1/buckets/%s/objects" % name, json={"metadata": {"k": "old"}})
    assert ns.post("/v1/buckets/%s/objects/aggregate" % name, json=q).json()["total_groups"] == 1
    ns.delete("/v1/buckets/" + b["bucket_id"])
    ns.post("/v1/buckets", json={"bucket_name": name})
    ns.post("/v1/buckets/%s/objects" % name, json={"metadata": {"k": "new"}})
    r = ns.post("/v1/buckets/%s/objects/aggregate" % name, json=q).json()
    assert [x["group"]["metadata.k"] for x in r["results"]] == ["new"]
