"""Aggregations run on a pool of their own (--agg-workers), so a load of
aggregations never holds up creates, reads and lists."""
import json
import re
import threading
import time

from conftest import Client, Server

# Each of these rows makes the regular expression backtrack until its match
# limit: an aggregation over them takes seconds of CPU, whatever the machine.
SLOW = {"filters": {"metadata.s": {"$regex": "^(a|aa)+(b|c)$"}},
        "group_by": [{"field": "status"}],
        "aggregations": [{"function": "count", "alias": "n"}]}


def heavy_queued(c):
    text = c.get("/metrics").text
    return int(re.search(r'tally_http_queued\{pool="heavy"\} (\d+)', text).group(1))


def test_creates_and_reads_do_not_wait_behind_aggregations():
    s = Server(args=["--workers", "1", "--agg-workers", "1"]).start()
    try:
        c = Client(s)
        ns = c.post("/v1/namespaces", json={"namespace_name": "pools"}).json()
        c = c.with_namespace(ns["namespace_id"])
        assert c.post("/v1/buckets", json={"bucket_name": "b"}).status_code == 200
        body = "".join(json.dumps({"metadata": {"s": "a" * 30 + str(i)}}) + "\n"
                       for i in range(300))
        r = c.post("/v1/buckets/b/objects/import", data=body,
                   headers={"Content-Type": "application/x-ndjson"})
        assert r.json()["imported"] == 300

        answers = []
        runs = [threading.Thread(target=lambda: answers.append(
            c.post("/v1/buckets/b/objects/aggregate", json=SLOW)))
            for _ in range(3)]
        for t in runs:
            t.start()
        deadline = time.time() + 60
        while heavy_queued(c) < 2:      # one runs, two wait for the pool
            assert time.time() < deadline, "the aggregations never queued"
            time.sleep(0.01)

        made = c.post("/v1/buckets/b/objects", json={"metadata": {"s": "new"}})
        assert made.status_code == 200, made.text
        oid = made.json()["object_id"]
        assert c.get("/v1/buckets/b/objects/" + oid).status_code == 200
        assert c.post("/v1/buckets/b/objects/list", json={}).status_code == 200
        # The aggregations still wait: the requests above went past them.
        assert heavy_queued(c) >= 1

        for t in runs:
            t.join()
        assert [a.status_code for a in answers] == [400, 400, 400]
        assert all("match limit" in a.text for a in answers)
    finally:
        s.stop()
        s.cleanup()
