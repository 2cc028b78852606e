#!/usr/bin/env python3
"""Crash safety: kill -9 the server at random moments during imports,
batch writes, updates and deletes, restart it, and check that the store
opens, passes `tally check`, and holds every write that was answered 2xx.

  tests/crash/crash.py [--rounds 50] [--seed S]

Prints one line per round and, last, "N passed, M failed" (rounds).
"""
import argparse
import json
import os
import random
import subprocess
import sys
import threading
import time

import requests

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "api"))
from conftest import BIN, Client, Server  # noqa: E402


class Ledger:
    """What the clients were told, under one lock."""

    def __init__(self):
        self.lock = threading.Lock()
        self.created = set()       # answered creates
        self.deleted = set()       # answered deletes
        self.deleting = set()      # deletes sent, answer unknown
        self.updates = {}          # object id -> values sent, in order
        self.answered = {}         # object id -> index of last answered update
        self.writes = 0


def batch_writer(url, headers, ledger, stop, rnd):
    s = requests.Session()
    while not stop.is_set():
        objs = [{"metadata": {"v": 0, "k": rnd.random()}} for _ in range(10)]
        try:
            r = s.post(url + "/batch", headers=headers, json={"objects": objs},
                       timeout=10)
        except requests.RequestException:
            return
        if r.status_code == 200:
            with ledger.lock:
                for o in r.json()["succeeded"]:
                    ledger.created.add(o["object_id"])
                ledger.writes += 1


def updater(url, headers, ledger, stop, rnd):
    s = requests.Session()
    while not stop.is_set():
        with ledger.lock:
            live = list(ledger.created - ledger.deleted - ledger.deleting)
        if not live:
            time.sleep(0.01)
            continue
        oid = rnd.choice(live)
        with ledger.lock:
            values = ledger.updates.setdefault(oid, [0])
            values.append(len(values))
            index = len(values) - 1
        try:
            r = s.patch(url + "/" + oid, headers=headers,
                        json={"metadata": {"v": index}}, timeout=10)
        except requests.RequestException:
            return
        if r.status_code == 200:
            with ledger.lock:
                ledger.answered[oid] = max(ledger.answered.get(oid, 0), index)
                ledger.writes += 1


def deleter(url, headers, ledger, stop, rnd):
    s = requests.Session()
    while not stop.is_set():
        time.sleep(0.005)
        with ledger.lock:
            live = list(ledger.created - ledger.deleted - ledger.deleting)
        if len(live) < 20:
            continue
        oid = rnd.choice(live)
        with ledger.lock:
            ledger.deleting.add(oid)
        try:
            r = s.delete(url + "/" + oid, headers=headers, timeout=10)
        except requests.RequestException:
            return  # the delete may or may not have happened
        with ledger.lock:
            ledger.deleting.discard(oid)
            if r.status_code == 204:
                ledger.deleted.add(oid)
                ledger.writes += 1


def importer(url, headers, stop, rnd):
    def lines():
        for i in range(200000):
            if stop.is_set():
                return
            yield (json.dumps({"metadata": {"imp": i, "r": rnd.random()}})
                   + "\n").encode()
    try:
        requests.post(url + "/import", headers=headers, data=lines(),
                      timeout=60)
    except requests.RequestException:
        pass


def all_objects(client):
    """object id -> metadata.v, following cursors."""
    found, cursor = {}, None
    while True:
        path = "/v1/buckets/b/objects/list?limit=1000"
        if cursor:
            path += "&cursor=" + cursor
        body = client.post(path, json={"select": ["metadata.v"]}).json()
        for o in body["results"]:
            found[o["object_id"]] = o.get("metadata", {}).get("v")
        cursor = body["pagination"]["next_cursor"]
        if not cursor:
            return found


def verify(client, ledger):
    found = all_objects(client)
    problems = []
    with ledger.lock:
        for oid in ledger.created - ledger.deleted:
            if oid not in found:
                if oid in ledger.deleting:
                    ledger.deleted.add(oid)  # its unanswered delete landed
                    continue
                problems.append("answered create lost: " + oid)
                continue
            floor = ledger.answered.get(oid, 0)
            if found[oid] is not None and found[oid] < floor:
                problems.append("answered update lost: %s has %s, want >= %d"
                                % (oid, found[oid], floor))
        for oid in ledger.deleted:
            if oid in found:
                problems.append("answered delete undone: " + oid)
    bucket = client.get("/v1/buckets/b").json()
    if bucket["object_count"] != len(found):
        problems.append("object_count %d but %d objects listed"
                        % (bucket["object_count"], len(found)))
    return problems


def check(data):
    out = subprocess.run([BIN, "check", "--data", data], capture_output=True,
                         text=True)
    return out.returncode == 0 and " 0 problems" in out.stdout, out.stdout


def run_round(server, key, ns, ledger, rnd):
    server.start()
    client = Client(server, key=key, namespace=ns)
    url = server.url + "/v1/buckets/b/objects"
    headers = client.headers()
    stop = threading.Event()
    workers = [threading.Thread(target=batch_writer,
                                args=(url, headers, ledger, stop, rnd)),
               threading.Thread(target=updater,
                                args=(url, headers, ledger, stop, rnd)),
               threading.Thread(target=deleter,
                                args=(url, headers, ledger, stop, rnd)),
               threading.Thread(target=importer, args=(url, headers, stop, rnd))]
    for w in workers:
        w.start()
    time.sleep(rnd.uniform(0.2, 1.5))
    server.kill()
    stop.set()
    for w in workers:
        w.join()

    ok, report = check(server.data)
    if not ok:
        return ["tally check failed: " + report]
    server.start()
    try:
        return verify(Client(server, key=key, namespace=ns), ledger)
    finally:
        server.kill()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=50)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    print("seed", a.seed)

    server = Server().start()
    key = server.key
    admin = Client(server)
    ns = admin.post("/v1/namespaces", json={"namespace_name": "crash"}).json()
    admin.with_namespace(ns["namespace_id"]).post(
        "/v1/buckets", json={"bucket_name": "b"})
    server.kill()

    ledger = Ledger()
    passed = failed = 0
    try:
        for i in range(a.rounds):
            problems = run_round(server, key, ns["namespace_id"], ledger, rnd)
            with ledger.lock:
                counts = (len(ledger.created), len(ledger.deleted),
                          len(ledger.answered), ledger.writes)
            status = "ok" if not problems else "FAIL"
            print("round %d %s: created %d, deleted %d, updated %d, "
                  "answered writes %d" % ((i + 1, status) + counts))
            for p in problems[:10]:
                print("  " + p)
            passed += not problems
            failed += bool(problems)
            sys.stdout.flush()
    finally:
        server.cleanup()
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
