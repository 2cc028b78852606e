"""Authentication and namespace isolation."""
import requests

from conftest import Client, create_key, unique
from schemas import check_error


def test_missing_and_bad_keys_get_the_same_401(server, admin):
    anon = Client(server, key="")
    bad = Client(server, key="sk_notarealkey")
    answers = []
    for c in (anon, bad):
        body = check_error(c.post("/v1/namespaces/list", json={}), 401)
        answers.append(body["error"]["message"])
    assert answers[0] == answers[1]
    r = requests.get(server.url + "/v1/namespaces/x",
                     headers={"Authorization": "Basic abc"})
    check_error(r, 401)


def test_namespace_header_required_and_resolved(admin):
    check_error(admin.post("/v1/buckets/list", json={}), 400, "X-Namespace")
    check_error(admin.with_namespace("no-such-ns").post("/v1/buckets/list", json={}),
                404)


def test_restricted_key_is_forbidden_elsewhere(server, admin):
    a = admin.post("/v1/namespaces", json={"namespace_name": unique("a")}).json()
    b = admin.post("/v1/namespaces", json={"namespace_name": unique("b")}).json()
    key = create_key(server.data, [a["namespace_name"]])
    ka = Client(server, key=key, namespace=a["namespace_id"])
    assert ka.post("/v1/buckets", json={"bucket_name": "x"}).status_code == 200
    kb = Client(server, key=key, namespace=b["namespace_id"])
    check_error(kb.post("/v1/buckets/list", json={}), 403)
    # A namespace it may not use looks the same whether it exists or not.
    ghost = Client(server, key=key, namespace="ghost-" + unique("n"))
    check_error(ghost.post("/v1/buckets/list", json={}), 403)
    check_error(ka.get("/v1/namespaces/" + b["namespace_id"]), 403)
    listed = ka.post("/v1/namespaces/list", json={}).json()
    assert [n["namespace_id"] for n in listed["results"]] == [a["namespace_id"]]
    check_error(ka.post("/v1/namespaces", json={"namespace_name": unique("c")}), 403)


def test_revoked_key_is_refused(server):
    import subprocess
    from conftest import BIN
    key = create_key(server.data)
    c = Client(server, key=key)
    assert c.post("/v1/namespaces/list", json={}).status_code == 200
    listing = subprocess.run([BIN, "key", "list", "--data", server.data],
                             capture_output=True, text=True, check=True).stdout
    key_id = [line for line in listing.splitlines() if key[:7] in line][0]
    key_id = key_id.split('"key_id":"')[1].split('"')[0]
    subprocess.run([BIN, "key", "revoke", "--data", server.data, key_id], check=True,
                   capture_output=True)
    check_error(c.post("/v1/namespaces/list", json={}), 401)
    assert key not in listing, "the plain key must never be stored or listed"


def test_nothing_of_one_namespace_is_visible_from_another(admin):
    a = admin.with_namespace(admin.post("/v1/namespaces",
                                        json={"namespace_name": unique("iso")}).json()["namespace_id"])
    b = admin.with_namespace(admin.post("/v1/namespaces",
                                        json={"namespace_name": unique("iso")}).json()["namespace_id"])
    bkt = a.post("/v1/buckets", json={"bucket_name": "secret"}).json()
    obj = a.post("/v1/buckets/secret/objects", json={"metadata": {"x": 1}}).json()
    bid, oid = bkt["bucket_id"], obj["object_id"]
    for ident in ("secret", bid):
        check_error(b.get("/v1/buckets/" + ident), 404)
        check_error(b.put("/v1/buckets/" + ident, json={}), 404)
        check_error(b.patch("/v1/buckets/" + ident, json={}), 404)
        check_error(b.delete("/v1/buckets/" + ident), 404)
        base = "/v1/buckets/%s/objects" % ident
        check_error(b.post(base, json={}), 404)
        check_error(b.post(base + "/batch", json={"objects": [{}]}), 404)
        check_error(b.post(base + "/list", json={}), 404)
        check_error(b.post(base + "/aggregate", json={
            "group_by": [{"field": "status"}],
            "aggregations": [{"function": "count", "alias": "n"}]}), 404)
        check_error(b.post(base + "/import", data=b"{}\n"), 404)
        check_error(b.get(base + "/" + oid), 404)
        check_error(b.put(base + "/" + oid, json={}), 404)
        check_error(b.patch(base + "/" + oid, json={}), 404)
        check_error(b.delete(base + "/" + oid), 404)
    assert b.post("/v1/buckets/list", json={}).json()["total_count"] == 0
    assert a.get("/v1/buckets/secret/objects/" + oid).json()["metadata"] == {"x": 1}


def test_restricted_key_reaches_nothing_of_another_namespace(server, admin):
    """Every route that takes a namespace, with a key restricted to
    another one: 403, and the namespace and its data are unchanged."""
    mine = admin.post("/v1/namespaces", json={"namespace_name": unique("own")}).json()
    other = admin.post("/v1/namespaces", json={"namespace_name": unique("oth")}).json()
    o = admin.with_namespace(other["namespace_id"])
    bkt = o.post("/v1/buckets", json={"bucket_name": "b"}).json()
    obj = o.post("/v1/buckets/b/objects", json={"metadata": {"x": 1}}).json()
    key = create_key(server.data, [mine["namespace_name"]])
    for ident in (other["namespace_id"], other["namespace_name"]):
        k = Client(server, key=key, namespace=ident)
        nsp = "/v1/namespaces/" + ident
        check_error(k.get(nsp), 403)
        check_error(k.put(nsp, json={"namespace_name": "stolen"}), 403)
        check_error(k.patch(nsp, json={"description": "stolen"}), 403)
        check_error(k.delete(nsp), 403)
        check_error(k.post("/v1/buckets", json={"bucket_name": "new"}), 403)
        check_error(k.post("/v1/buckets/list", json={}), 403)
        for b in ("b", bkt["bucket_id"]):
            base = "/v1/buckets/" + b
            check_error(k.get(base), 403)
            check_error(k.put(base, json={"bucket_name": "b"}), 403)
            check_error(k.patch(base, json={}), 403)
            check_error(k.delete(base), 403)
            check_error(k.post(base + "/objects", json={}), 403)
            check_error(k.post(base + "/objects/batch", json={"objects": [{}]}), 403)
            check_error(k.post(base + "/objects/list", json={}), 403)
            check_error(k.post(base + "/objects/aggregate", json={
                "group_by": [{"field": "status"}],
                "aggregations": [{"function": "count", "alias": "n"}]}), 403)
            check_error(k.post(base + "/objects/import", data=b"{}\n"), 403)
            oid = base + "/objects/" + obj["object_id"]
            check_error(k.get(oid), 403)
            check_error(k.put(oid, json={"metadata": {"x": 2}}), 403)
            check_error(k.patch(oid, json={"metadata": {"x": 2}}), 403)
            check_error(k.delete(oid), 403)
    # Its own namespace cannot reach the other's bucket by id either.
    own = Client(server, key=key, namespace=mine["namespace_id"])
    check_error(own.get("/v1/buckets/" + bkt["bucket_id"]), 404)
    check_error(own.get("/v1/buckets/%s/objects/%s" % (bkt["bucket_id"],
                                                      obj["object_id"])), 404)
    assert o.get("/v1/namespaces/" + other["namespace_id"]).json()[
        "namespace_name"] == other["namespace_name"]
    assert o.get("/v1/buckets/b/objects/" + obj["object_id"]).json()[
        "metadata"] == {"x": 1}
