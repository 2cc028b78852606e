"""The column path answers exactly as the row path, before and after every
kind of write, and falls back to rows when a column holds arrays or
objects."""
import datetime
import json
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
        for field in ("matched_objects", "groups_before_limit"):
            assert cols.json()["query_info"][field] == \
                rows.json()["query_info"][field], (field, q)
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


# Queries whose metrics take every way into the column path's lanes:
# counts, exact sums past 64 bits, min and max over integers, dates and
# mixed kinds (a group's lane spills to its accumulator), bounded and
# unbounded keys together, and string sets merged across threads.
THREADED_QUERIES = [
    {"group_by": [{"field": "metadata.g"}],
     "aggregations": [{"function": "count", "alias": "n"},
                      {"function": "count", "field": "metadata.m", "alias": "nm"},
                      {"function": "sum", "field": "metadata.big", "alias": "big"},
                      {"function": "sum", "field": "metadata.i", "alias": "si"},
                      {"function": "avg", "field": "metadata.d", "alias": "ad"},
                      {"function": "min", "field": "metadata.m", "alias": "lo"},
                      {"function": "max", "field": "metadata.m", "alias": "hi"},
                      {"function": "min", "field": "created_at", "alias": "first"},
                      {"function": "max", "field": "metadata.i", "alias": "top"},
                      {"function": "max", "field": "metadata.d", "alias": "dtop"},
                      {"function": "min", "field": "metadata.d", "alias": "dlow"},
                      {"function": "count_distinct", "field": "metadata.s",
                       "alias": "ds"},
                      {"function": "add_to_set", "field": "metadata.g",
                       "alias": "gs"}]},
    {"group_by": [{"field": "created_at", "alias": "dow", "date_part": "dayOfWeek"},
                  {"field": "created_at", "alias": "hour", "date_part": "hour"}],
     "aggregations": [{"function": "count", "alias": "n"},
                      {"function": "avg", "field": "metadata.i", "alias": "a"}],
     "sort_by": "n", "sort_direction": "desc"},
    {"group_by": [{"field": "created_at", "alias": "day", "date_trunc": "day"},
                  {"field": "metadata.h"}],
     "aggregations": [{"function": "sum", "field": "metadata.d", "alias": "s"},
                      {"function": "first", "field": "metadata.s", "alias": "f"},
                      {"function": "last", "field": "metadata.m", "alias": "l"}]},
    {"group_by": [{"field": "created_at", "alias": "y", "date_part": "year"}],
     "range_buckets": [{"field": "metadata.d", "boundaries": [-1, 0, 0.5, 2]}],
     "aggregations": [{"function": "count", "alias": "n"},
                      {"function": "push", "field": "metadata.h", "alias": "p"}],
     "filters": {"metadata.i": {"$lt": 40}}},
    # Past 16 boundaries the bucket is found by a search, not a count.
    {"range_buckets": [{"field": "metadata.i", "boundaries": list(range(-100, 100, 10)),
                        "default_bucket": "far"}],
     "aggregations": [{"function": "count", "alias": "n"},
                      {"function": "avg", "field": "metadata.d", "alias": "a"}]},
    {"range_buckets": [{"field": "metadata.m", "boundaries": [-60, -0.5, 0, 7, 7.5, 1e6]}],
     "aggregations": [{"function": "count", "alias": "n"}]},
    {"group_by": [{"field": "metadata.h"}],
     "aggregations": [{"function": "count", "alias": "n"},
                      {"function": "max", "field": "created_at", "alias": "last"}],
     "filters": {"created_at": {"$gte": "2024-03-01"}}},
    # Over 16384 possible groups: the threads split the groups, not the rows.
    {"group_by": [{"field": "metadata.s"}, {"field": "metadata.g"}],
     "aggregations": [{"function": "count", "alias": "n"},
                      {"function": "first", "field": "metadata.m", "alias": "f"},
                      {"function": "last", "field": "metadata.i", "alias": "l"},
                      {"function": "sum", "field": "metadata.big", "alias": "big"},
                      {"function": "min", "field": "metadata.m", "alias": "lo"},
                      {"function": "push", "field": "metadata.h", "alias": "p"}],
     "filters": {"metadata.i": {"$gte": -90}},
     "sort_by": "n", "sort_direction": "desc"},
    # Top-N by count over split groups: only the groups that can reach the
    # limit are kept; many are tied at the last place in either direction.
    {"group_by": [{"field": "metadata.s"}, {"field": "metadata.g"}],
     "aggregations": [{"function": "count", "alias": "n"},
                      {"function": "sum", "field": "metadata.i", "alias": "si"},
                      {"function": "count_distinct", "field": "metadata.h",
                       "alias": "dh"}],
     "sort_by": "n", "sort_direction": "desc", "limit": 7},
    {"group_by": [{"field": "metadata.s"}, {"field": "metadata.g"}],
     "aggregations": [{"function": "max", "field": "metadata.d", "alias": "d"},
                      {"function": "count", "field": "metadata.m", "alias": "n"}],
     "sort_by": "n", "sort_direction": "asc", "limit": 5},
]


def threaded_object(rnd, i):
    day = rnd.randrange(700)
    created = "2023-%02d-%02dT%02d:%02d:00Z" % (1 + day // 60 % 12, 1 + day % 28,
                                               rnd.randrange(24), rnd.randrange(60))
    if day >= 360:
        created = "2024" + created[4:]
    m = rnd.choice([rnd.randint(-50, 50), rnd.randint(-50, 50) + 0.5, "s%d" % (i % 9),
                    True, None, 7])
    md = {"g": rnd.choice(["a", "b", "c", "d", None]),
          "h": rnd.choice([0, 1, 2, 3, "x", None]),
          "i": rnd.randint(-100, 100),
          "d": rnd.choice([0.1, 0.25, -0.75, 1.5, 3.0, 1e-30]),
          "big": rnd.choice([2 ** 62, 2 ** 62 + 1, -(2 ** 61), 5]),
          "s": "u%d" % rnd.randrange(3000)}
    if i % 11 == 0:
        md["m"] = m
    elif i % 5:
        md["m"] = rnd.randint(0, 10 ** 6)
    if i % 13 == 0:
        del md["i"]
    if i % 36864 < 5:
        # Extremes early in each thread's rows, held in the lane until a
        # value of another kind spills them to the accumulator.
        md["m"] = -10 ** 9 - i
        md["g"] = "abcde"[i % 5] if i % 5 < 4 else None
    return {"metadata": md, "created_at": created}


def test_threads_and_lanes_agree_with_rows(bucket, server):
    """Over 65536 rows the column path scans on two threads, each with its
    own groups and lanes, merged at the end: the same answer as rows."""
    c, bid = bucket
    rnd = random.Random(11)
    lines = "".join(json.dumps(threaded_object(rnd, i)) + "\n" for i in range(70000))
    r = c.post("/v1/buckets/%s/objects/import" % bid, data=lines,
               headers={"Content-Type": "application/x-ndjson"})
    assert r.status_code == 200 and r.json()["imported"] == 70000, r.text
    path = "/v1/buckets/%s/objects/aggregate" % bid
    for q in THREADED_QUERIES:
        before = rows_used(server)
        cols = c.post(path, json=q)
        assert cols.status_code == 200, cols.text
        assert rows_used(server) == before, "the column path was not used: %s" % q
        rows = c.post(path + "?engine=rows", json=q)
        assert cols.json()["results"] == rows.json()["results"], q
        for field in ("matched_objects", "groups_before_limit"):
            assert cols.json()["query_info"][field] == \
                rows.json()["query_info"][field], (field, q)
        assert len(cols.json()["results"]) > 1


def test_date_parts_by_arithmetic_agree_with_rows_around_1970(bucket, server):
    """The column path computes hours and weekdays by arithmetic on the
    milliseconds; dates before 1970 (negative) must land on the same
    parts as the row path's calendar."""
    c, bid = bucket
    rnd = random.Random(5)
    days = list(range(-8, 8)) + [-3650, -400, 400, 20000]
    lines = ""
    for i in range(400):
        ms = (rnd.choice(days) * 86400 + rnd.randrange(86400)) * 1000 + i % 1000
        created = datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc)
        lines += json.dumps({"metadata": {"i": i},
                             "created_at": created.isoformat().replace("+00:00", "Z")})
        lines += "\n"
    r = c.post("/v1/buckets/%s/objects/import" % bid, data=lines,
               headers={"Content-Type": "application/x-ndjson"})
    assert r.status_code == 200 and r.json()["imported"] == 400, r.text
    q = {"group_by": [{"field": "created_at", "alias": "dow", "date_part": "dayOfWeek"},
                      {"field": "created_at", "alias": "h", "date_part": "hour"}],
         "aggregations": [{"function": "count", "alias": "n"}]}
    path = "/v1/buckets/%s/objects/aggregate" % bid
    before = rows_used(server)
    cols = c.post(path, json=q)
    assert cols.status_code == 200, cols.text
    assert rows_used(server) == before, "the column path was not used"
    rows = c.post(path + "?engine=rows", json=q)
    assert cols.json()["results"] == rows.json()["results"]
    weekdays = {g["group"]["dow"] for g in cols.json()["results"]}
    assert weekdays == set(range(1, 8))


def test_date_filters_at_the_edges_agree_with_rows(bucket, server):
    """The column path turns a date comparison into a range of
    milliseconds: each operator, at an instant some objects have exactly,
    must count what the row path counts."""
    c, bid = bucket
    instants = ["1969-12-31T23:59:59.999Z", "1970-01-01T00:00:00.000Z",
                "2024-01-01T00:00:00.000Z", "2024-01-01T00:00:00.001Z",
                "2024-06-30T12:00:00.000Z"]
    lines = "".join(json.dumps({"metadata": {"i": i},
                                "created_at": instants[i % len(instants)]}) + "\n"
                    for i in range(50))
    r = c.post("/v1/buckets/%s/objects/import" % bid, data=lines,
               headers={"Content-Type": "application/x-ndjson"})
    assert r.status_code == 200 and r.json()["imported"] == 50, r.text
    path = "/v1/buckets/%s/objects/aggregate" % bid
    at = {"$eq": lambda x, y: x == y, "$gt": lambda x, y: x > y,
          "$gte": lambda x, y: x >= y, "$lt": lambda x, y: x < y,
          "$lte": lambda x, y: x <= y, "$ne": lambda x, y: x != y}
    before = rows_used(server)
    for edge in instants[:4]:
        for op, holds in at.items():
            q = {"filters": {"created_at": {op: edge}},
                 "group_by": [{"field": "metadata.none"}],
                 "aggregations": [{"function": "count", "alias": "n"}]}
            cols = c.post(path, json=q).json()["results"]
            rows = c.post(path + "?engine=rows", json=q).json()["results"]
            want = sum(10 for x in instants if holds(x, edge))
            got = cols[0]["metrics"]["n"] if cols else 0
            assert got == want and cols == rows, (op, edge, cols, rows)
    assert rows_used(server) == before + 24, "the column path was not used"
