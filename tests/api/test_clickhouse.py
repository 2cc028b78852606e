"""The API on the ClickHouse backend: `tally serve --backend clickhouse://...`
over a two-shard ClickHouse 18.16 cluster on loopback, started for this
module (tests/clickhouse/cluster.sh) and stopped by PID at its end.

A subset of the endpoint tests of the other modules runs here unchanged
(namespaces and buckets live in the local catalog, objects in ClickHouse),
then tests of the backend itself: literal escaping against injection,
the RE2 dialect, tables following buckets, restarts.
"""
import json
import os
import shutil
import subprocess
import tempfile
import urllib.request

import pytest

from conftest import BIN, ROOT, Client, Server, unique
from schemas import check_error

# Endpoint tests that must pass on either backend.
from test_objects import (test_create_fills_server_fields,  # noqa: F401
                          test_create_keeps_exact_numbers,
                          test_status_is_the_clients_and_checked,
                          test_blob_records_and_inline_data,
                          test_bad_blobs_are_located,
                          test_schema_is_enforced_on_write,
                          test_put_replaces_patch_merges,
                          test_delete_then_404, test_batch_partial_success,
                          test_unique_key_policies,
                          test_unique_key_default_policy_and_numbers,
                          test_unknown_bucket_and_object)
from test_import import (test_import_keeps_ids_times_and_status,  # noqa: F401
                         test_rejected_lines_are_reported_and_the_rest_kept,
                         test_import_into_unknown_bucket_is_404,
                         test_overlong_line_is_rejected_not_fatal)
from test_buckets import (test_create_and_read_by_id_or_name,  # noqa: F401
                          test_counts_follow_writes,
                          test_delete_hides_the_bucket_and_its_objects)
from test_namespaces import (test_create_returns_the_namespace_with_counts,  # noqa: F401
                             test_delete_removes_buckets_and_objects)
from test_auth import test_nothing_of_one_namespace_is_visible_from_another  # noqa: F401

CLUSTER = os.path.join(ROOT, "tests", "clickhouse", "cluster.sh")


@pytest.fixture(scope="module")
def cluster():
    """The --backend URL of a fresh two-shard cluster."""
    if shutil.which("clickhouse-server") is None:
        pytest.fail("clickhouse-server is not installed (scripts/deps.sh test)")
    folder = tempfile.mkdtemp(prefix="tally-ch-api-")
    try:
        out = subprocess.run([CLUSTER, "start", folder, "2"], check=True,
                             capture_output=True, text=True)
        yield out.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run([CLUSTER, "stop", folder])
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def server(cluster):
    s = Server(args=["--backend", cluster]).start()
    yield s
    rc = s.stop()
    s.cleanup()
    assert rc == 0, "tally did not stop cleanly"


def clickhouse(url, sql, node=0):
    """Runs sql on a node of the cluster (the URL's nodes list)."""
    nodes = url.split("nodes=")[1].split(",")
    host = nodes[node]
    with urllib.request.urlopen("http://%s/" % host, data=sql.encode()) as r:
        return r.read().decode()


def objects(bid):
    return "/v1/buckets/%s/objects" % bid


def aggregate(c, bid, body):
    return c.post(objects(bid) + "/aggregate", json=body)


# --- literals ------------------------------------------------------------

HOSTILE = ["it's", "'", "\\", "\\'", "x'); DROP TABLE t; --", "x' OR '1'='1",
           "a\nb", "tab\tx", "nul\u0000byte", "é ü 漢字 😀", "`q`",
           "\\x27", "%s", "--", "/*", "''", "\"", "(?i)", "a.b*"]


def test_literals_survive_every_path_into_sql(cluster, bucket):
    c, bid = bucket
    ids = []
    # (A member name cannot hold U+0000: JSON readers refuse it.)
    key = lambda s: s.replace("\u0000", "0")
    for i, s in enumerate(HOSTILE):
        r = c.post(objects(bid), json={"metadata": {"s": s, key(s): i, "n": i}})
        assert r.status_code == 200, r.text
        ids.append(r.json()["object_id"])
    for i, s in enumerate(HOSTILE):
        o = c.get(objects(bid) + "/" + ids[i]).json()
        assert o["metadata"]["s"] == s and o["metadata"][key(s)] == i
        # Equality, a condition list, search and a literal regex find it.
        for f in ({"metadata.s": s},
                  {"AND": [{"field": "metadata.s", "operator": "eq",
                            "value": s}], "case_sensitive": True},
                  {"AND": [{"field": "metadata.s", "operator": "contains",
                            "value": s}], "case_sensitive": False}):
            r = c.post(objects(bid) + "/list", json={"filters": f})
            assert r.status_code == 200, r.text
            found = [x["metadata"]["s"] for x in r.json()["results"]]
            assert s in found, (s, f, found)
        # The value as a key, and as a field path.
        r = aggregate(c, bid, {"group_by": [{"field": "metadata.s"}],
                               "aggregations": [{"function": "sum",
                                                 "field": "metadata." + key(s),
                                                 "alias": "v"}],
                               "filters": {"metadata.s": s}})
        assert r.status_code == 200, r.text
        res = r.json()["results"]
        if "." not in s:
            assert res == [{"group": {"metadata.s": s}, "metrics": {"v": i}}]
    # Every object is still there: no statement was cut short or added.
    assert c.get("/v1/buckets/" + bid).json()["object_count"] == len(HOSTILE)
    r = c.post(objects(bid) + "/list", json={"search": "DROP"})
    assert [x["metadata"]["n"] for x in r.json()["results"]] == [4]


def test_hostile_object_ids_and_unique_keys(bucket, ns):
    c, bid = bucket
    lines = [{"object_id": "obj_'quote", "metadata": {"k": 1}},
             {"object_id": "obj_back\\slash", "metadata": {"k": 2}}]
    body = "\n".join(json.dumps(x) for x in lines)
    r = c.post(objects(bid) + "/import", data=body,
               headers={"Content-Type": "application/x-ndjson"})
    assert r.status_code == 200 and r.json()["imported"] == 2, r.text
    for x in lines:
        got = c.get(objects(bid) + "/" + urllib.request.quote(x["object_id"],
                                                                safe=""))
        assert got.status_code == 200 and got.json()["metadata"] == x["metadata"]
    b = ns.post("/v1/buckets", json={"bucket_name": unique("u"),
                                     "unique_key": {"fields": ["email"]}})
    ub = b.json()["bucket_id"]
    for email in ["a'b@x", "a\\'b@x"]:
        r = ns.post(objects(ub) + "?policy=insert", json={"metadata": {"email": email}})
        assert r.status_code == 200, r.text
    check_error(ns.post(objects(ub) + "?policy=insert",
                        json={"metadata": {"email": "a'b@x"}}), 409)


# --- dialect and documented limits ----------------------------------------

@pytest.mark.parametrize("pattern,options", [("(a)\\1", ""), ("foo(?=bar)", ""),
                                             ("(?<=x)y", ""), ("a b", "x")])
def test_patterns_re2_cannot_run_are_a_422(bucket, pattern, options):
    c, bid = bucket
    f = {"metadata.s": {"$regex": pattern, "$options": options}}
    for path, body in (("/aggregate", {"group_by": [{"field": "status"}],
                                       "aggregations": [{"function": "count",
                                                         "alias": "n"}],
                                       "filters": f}),
                       ("/list", {"filters": f})):
        r = c.post(objects(bid) + path, json=body)
        err = check_error(r, 422)
        assert "RE2" in json.dumps(err), r.text


def test_calendar_units_need_dates_from_1970_to_2106(bucket):
    c, bid = bucket
    for s in ["1969-07-20T20:17:00Z", "2024-02-29T10:00:00Z", "2200-01-01"]:
        assert c.post(objects(bid), json={"metadata": {"d": s}}).status_code == 200
    r = aggregate(c, bid, {"group_by": [{"field": "metadata.d", "date_trunc": "year",
                                         "alias": "y"},
                                        {"field": "metadata.d", "date_trunc": "hour",
                                         "alias": "h"}],
                           "aggregations": [{"function": "count", "alias": "n"}]})
    assert r.status_code == 200, r.text
    got = [(g["group"]["y"], g["group"]["h"]) for g in r.json()["results"]]
    # Hours are plain arithmetic (every date); years need ClickHouse's
    # calendar (docs/clickhouse.md): outside its range they key as null.
    assert got == [(None, "1969-07-20T20:00:00.000Z"),
                   (None, "2200-01-01T00:00:00.000Z"),
                   ("2024-01-01T00:00:00.000Z", "2024-02-29T10:00:00.000Z")]


def test_first_and_last_follow_creation_order(bucket):
    c, bid = bucket
    lines = [{"object_id": "obj_late", "created_at": "2024-01-02T00:00:00Z",
              "metadata": {"v": "late"}},
             {"object_id": "obj_early", "created_at": "2024-01-01T00:00:00Z",
              "metadata": {"v": "early"}}]
    r = c.post(objects(bid) + "/import", data="\n".join(json.dumps(x) for x in lines),
               headers={"Content-Type": "application/x-ndjson"})
    assert r.status_code == 200 and r.json()["imported"] == 2, r.text
    r = aggregate(c, bid, {"range_buckets": [{"field": "metadata.n",
                                              "boundaries": [0]}],
                           "aggregations": [
                               {"function": "first", "field": "metadata.v", "alias": "f"},
                               {"function": "last", "field": "metadata.v", "alias": "l"},
                               {"function": "push", "field": "metadata.v", "alias": "p"}]})
    # Imported late first: the embedded store answers in insertion order,
    # ClickHouse in (created_at, object_id) order (docs/clickhouse.md).
    assert r.json()["results"][0]["metrics"] == {"f": "early", "l": "late",
                                                 "p": ["early", "late"]}


def test_reads_see_every_write_with_or_without_final(cluster, bucket):
    """A bucket only ever appended to is read without FINAL; the first
    write that supersedes a live row brings FINAL back before its rows
    land (clickhouse_final.c). Either way an answer counts each object
    once, in its latest version, and never a deleted one."""
    c, bid = bucket
    r = c.post(objects(bid) + "/batch", json={"objects": [
        {"metadata": {"g": "a", "v": i}} for i in range(10)]})
    assert r.json()["succeeded_count"] == 10
    ids = [o["object_id"] for o in r.json()["succeeded"]]
    body = {"group_by": [{"field": "metadata.g"}],
            "aggregations": [{"function": "count", "alias": "n"},
                             {"function": "sum", "field": "metadata.v",
                              "alias": "s"}]}

    def groups():
        r = aggregate(c, bid, body)
        assert r.status_code == 200, r.text
        return {g["group"]["metadata.g"]: g["metrics"] for g in r.json()["results"]}

    assert groups() == {"a": {"n": 10, "s": 45}}
    # Two versions of the first two objects are now on their shards.
    assert c.patch(objects(bid) + "/" + ids[0],
                   json={"metadata": {"g": "b"}}).status_code == 200
    assert c.put(objects(bid) + "/" + ids[1],
                 json={"metadata": {"g": "b", "v": 100}}).status_code == 200
    assert groups() == {"a": {"n": 8, "s": 44}, "b": {"n": 2, "s": 100}}
    assert c.delete(objects(bid) + "/" + ids[2]).status_code == 204
    assert groups() == {"a": {"n": 7, "s": 42}, "b": {"n": 2, "s": 100}}
    rows = sum(int(clickhouse(cluster, "SELECT count() FROM tally.objects_%s_local"
                              % bid, node)) for node in (0, 1))
    assert rows >= 10, rows
    r = c.post(objects(bid) + "/list?limit=100", json={})
    assert sorted(o["object_id"] for o in r.json()["results"]) == \
        sorted(ids[:2] + ids[3:])
    # Merged away: equal counts make the bucket clean again; the answers
    # stay the same.
    for node in (0, 1):
        clickhouse(cluster, "OPTIMIZE TABLE tally.objects_%s_local FINAL" % bid,
                   node)
    assert groups() == {"a": {"n": 7, "s": 42}, "b": {"n": 2, "s": 100}}


def test_members_get_columns_and_keep_their_meaning(cluster, bucket):
    """Members of metadata get columns of their own when first written
    (clickhouse_schema.c); filters read them while they have held only
    scalars, keys read the key alone while it tells the value's form.
    Later values (an array, a double beside integers) change that for
    every later request, and answers stay the embedded store's."""
    c, bid = bucket

    def count(filters):
        r = c.post(objects(bid) + "/list?include_total=true",
                   json={"filters": filters})
        assert r.status_code == 200, r.text
        return r.json()["pagination"]["total"]

    def groups(field):
        r = aggregate(c, bid, {"group_by": [{"field": field}], "aggregations": [
            {"function": "count", "alias": "n"},
            {"function": "max", "field": field, "alias": "top"}],
            "sort_by": "n", "sort_direction": "desc"})
        assert r.status_code == 200, r.text
        return [(g["group"][field], g["metrics"]["n"], g["metrics"]["top"])
                for g in r.json()["results"]]

    assert c.post(objects(bid) + "/batch", json={"objects": [
        {"metadata": {"t": "x", "n": 1}}, {"metadata": {"t": "y", "n": 1}},
        {"metadata": {"t": "x", "n": 2}}]}).json()["succeeded_count"] == 3
    names = clickhouse(cluster, "SELECT name FROM system.columns WHERE "
                       "database = 'tally' AND table = 'objects_%s' "
                       "FORMAT TabSeparated" % bid).split()
    assert {"f_metadata_2Et__k", "f_metadata_2En__k",
            "f_metadata_2En__hi"} <= set(names)
    assert "f_metadata_2En__hd" not in names
    assert count({"metadata.t": "x"}) == 2
    assert groups("metadata.n") == [(1, 2, 1), (2, 1, 2)]

    # An array: filters go back to the entries (an array holds "x").
    c.post(objects(bid), json={"metadata": {"t": ["x", "z"], "n": 1.0}})
    assert count({"metadata.t": "x"}) == 3
    assert count({"metadata.t": {"$size": 2}}) == 1
    # 1 and 1.0 are one group, shown as the first written.
    assert groups("metadata.n") == [(1, 3, 1), (2, 1, 2)]
    assert groups("metadata.t")[0] == ("x", 2, "x")

    # Past the columns' room, members stay in the entries only.
    wide = {"m%02d" % i: i for i in range(80)}
    r = c.post(objects(bid), json={"metadata": wide})
    assert r.status_code == 200, r.text
    for field in ("metadata.m00", "metadata.m79"):
        assert count({field: {"$gte": 0}}) == 1
        assert groups(field) == [(None, 4, None), (int(field[-2:]), 1,
                                                  int(field[-2:]))]


def test_keys_of_a_member_holding_only_doubles_stay_doubles(bucket):
    """A member that has held doubles and no integers is read by its key
    alone (group keys, min, max, add_to_set); the key is decoded as a
    double, not cut to an integer."""
    c, bid = bucket
    assert c.post(objects(bid) + "/batch", json={"objects": [
        {"metadata": {"d": 1.5}}, {"metadata": {"d": 2.25}},
        {"metadata": {"d": 1.5}}, {"metadata": {"d": 8388.3}}]}
    ).json()["succeeded_count"] == 4
    r = aggregate(c, bid, {"group_by": [{"field": "metadata.d", "alias": "d"}],
                           "aggregations": [{"function": "count", "alias": "n"}],
                           "sort_by": "d", "sort_direction": "asc"})
    assert r.status_code == 200, r.text
    assert [(g["group"]["d"], g["metrics"]["n"]) for g in r.json()["results"]] == \
        [(1.5, 2), (2.25, 1), (8388.3, 1)]
    r = aggregate(c, bid, {"range_buckets": [{"field": "metadata.d",
                                              "boundaries": [0, 10000]}],
                           "aggregations": [
        {"function": "min", "field": "metadata.d", "alias": "lo"},
        {"function": "max", "field": "metadata.d", "alias": "hi"},
        {"function": "add_to_set", "field": "metadata.d", "alias": "set"}]})
    assert r.status_code == 200, r.text
    assert r.json()["results"][0]["metrics"] == {"lo": 1.5, "hi": 8388.3,
                                                 "set": [1.5, 2.25, 8388.3]}


def test_rows_whose_first_byte_is_white_space(bucket):
    """Rows follow the INSERT statement in the body, after a newline; a
    row starts with its object_id's length, which may be the byte of a
    tab, newline, carriage return or space (9, 10, 13, 32)."""
    c, bid = bucket
    ids = ["obj_" + "w" * (n - 4) for n in (9, 10, 13, 32)]
    for oid in ids:
        r = c.post(objects(bid) + "/import", data=json.dumps(
            {"object_id": oid, "metadata": {"n": len(oid)}}),
            headers={"Content-Type": "application/x-ndjson"})
        assert r.status_code == 200 and r.json()["imported"] == 1, r.text
        got = c.get(objects(bid) + "/" + oid)
        assert got.status_code == 200 and got.json()["metadata"]["n"] == len(oid)


# --- tables, restarts, configuration --------------------------------------

def tables(cluster, node):
    return clickhouse(cluster, "SELECT name FROM system.tables WHERE "
                      "database = 'tally' FORMAT TabSeparated", node).split()


def test_tables_follow_buckets_on_every_node(cluster, ns, admin):
    b = ns.post("/v1/buckets", json={"bucket_name": unique("t")}).json()
    names = {"objects_%s" % b["bucket_id"], "objects_%s_local" % b["bucket_id"]}
    for node in (0, 1):
        assert names <= set(tables(cluster, node))
    assert ns.delete("/v1/buckets/" + b["bucket_id"]).status_code == 200
    for node in (0, 1):
        assert not names & set(tables(cluster, node))

    n = admin.post("/v1/namespaces", json={"namespace_name": unique("ns")}).json()
    c = admin.with_namespace(n["namespace_id"])
    b = c.post("/v1/buckets", json={"bucket_name": "x"}).json()
    assert admin.delete("/v1/namespaces/" + n["namespace_id"]).status_code == 200
    assert "objects_%s" % b["bucket_id"] not in tables(cluster, 0)


def test_objects_are_spread_over_the_shards(cluster, bucket):
    c, bid = bucket
    r = c.post(objects(bid) + "/batch",
               json={"objects": [{"metadata": {"i": i}} for i in range(40)]})
    assert r.json()["succeeded_count"] == 40
    counts = [int(clickhouse(cluster, "SELECT count() FROM tally.objects_%s_local"
                             % bid, node)) for node in (0, 1)]
    assert sum(counts) == 40 and min(counts) > 0, counts


def test_objects_outlive_the_server(cluster):
    s = Server(args=["--backend", cluster]).start()
    try:
        admin = Client(s)
        n = admin.post("/v1/namespaces", json={"namespace_name": "keep"}).json()
        c = admin.with_namespace(n["namespace_id"])
        c.post("/v1/buckets", json={"bucket_name": "b"})
        o = c.post("/v1/buckets/b/objects", json={"metadata": {"x": 1}}).json()
        assert s.stop() == 0
        s.start()
        c = Client(s, namespace=n["namespace_id"])
        got = c.get("/v1/buckets/b/objects/" + o["object_id"])
        assert got.status_code == 200 and got.json() == o
        assert c.get("/v1/buckets/b").json()["object_count"] == 1
    finally:
        s.stop()
        s.cleanup()


@pytest.mark.parametrize("url,message", [
    ("clickhouse://127.0.0.1:1/tally?cluster=tally", "clickhouse at 127.0.0.1:1"),
    ("clickhouse://127.0.0.1:8123/tally", "cluster=NAME"),
    ("clickhouse://host/db?cluster=x", "HOST:PORT"),
    ("postgres://x", "--backend must be"),
])
def test_a_wrong_backend_stops_the_start(url, message):
    data = tempfile.mkdtemp(prefix="tally-test-")
    try:
        r = subprocess.run([BIN, "serve", "--data", data, "--listen",
                            "127.0.0.1:0", "--backend", url],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode != 0
        assert message in r.stdout + r.stderr, r.stdout + r.stderr
    finally:
        shutil.rmtree(data, ignore_errors=True)
