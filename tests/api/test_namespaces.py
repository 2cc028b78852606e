"""Namespaces: create, read, replace, change, delete, list."""
from conftest import unique
from schemas import check, check_error, check_response


def test_create_returns_the_namespace_with_counts(admin):
    name = unique("ns")
    r = admin.post("/v1/namespaces", json={
        "namespace_name": name,
        "feature_extractors": [{"feature_extractor_name": "text", "version": "v1"}],
        "description": "kept as sent"})
    body = check_response(r, 200, "NamespaceModel")
    assert body["namespace_name"] == name
    assert body["namespace_id"].startswith("ns_")
    assert body["bucket_count"] == 0 and body["object_count"] == 0
    assert body["description"] == "kept as sent"
    assert body["feature_extractors"][0]["feature_extractor_name"] == "text"
    assert body["created_at"].endswith("Z")


def test_get_by_id_and_by_name(admin):
    name = unique("ns")
    created = admin.post("/v1/namespaces", json={"namespace_name": name}).json()
    for ident in (created["namespace_id"], name):
        body = check_response(admin.get("/v1/namespaces/" + ident), 200,
                              "NamespaceModel")
        assert body["namespace_id"] == created["namespace_id"]


def test_duplicate_name_is_a_conflict(admin):
    name = unique("ns")
    assert admin.post("/v1/namespaces", json={"namespace_name": name}).status_code == 200
    check_error(admin.post("/v1/namespaces", json={"namespace_name": name}), 409,
                "already exists")


def test_create_validation_reports_every_problem(admin):
    r = admin.post("/v1/namespaces", json={"namespace_name": ""})
    body = check_error(r, 422)
    assert body["detail"][0]["loc"] == ["body", "namespace_name"]
    r = admin.post("/v1/namespaces", json={})
    assert check_error(r, 422)["detail"][0]["type"] == "missing"
    r = admin.post("/v1/namespaces", json={"namespace_name": "ns_abcdefghij"})
    check_error(r, 422, "identifier")


def test_malformed_json_is_a_400_with_the_position(admin):
    r = admin.post("/v1/namespaces", data=b'{"namespace_name": "x",}',
                   headers={"Content-Type": "application/json"})
    body = check_error(r, 400, "byte 23")
    assert "json" in body["error"]["message"].lower()


def test_put_replaces_and_patch_merges(admin):
    name = unique("ns")
    ns = admin.post("/v1/namespaces", json={"namespace_name": name, "a": 1,
                                            "b": {"x": 1, "y": 2}}).json()
    path = "/v1/namespaces/" + ns["namespace_id"]
    body = check_response(admin.patch(path, json={"b": {"y": None, "z": 3}}),
                          200, "NamespaceModel")
    assert body["a"] == 1 and body["b"] == {"x": 1, "z": 3}
    new_name = unique("renamed")
    body = check_response(admin.put(path, json={"namespace_name": new_name, "c": 3}),
                          200, "NamespaceModel")
    assert body["namespace_name"] == new_name
    assert "a" not in body and body["c"] == 3
    assert body["created_at"] == ns["created_at"]
    assert admin.get("/v1/namespaces/" + name).status_code == 404
    assert admin.get("/v1/namespaces/" + new_name).status_code == 200


def test_delete_removes_buckets_and_objects(admin):
    ns = admin.post("/v1/namespaces", json={"namespace_name": unique("ns")}).json()
    c = admin.with_namespace(ns["namespace_id"])
    b = c.post("/v1/buckets", json={"bucket_name": "b"}).json()
    assert c.post("/v1/buckets/b/objects", json={"metadata": {"x": 1}}).status_code == 200
    r = admin.delete("/v1/namespaces/" + ns["namespace_id"])
    assert r.status_code == 200 and r.json()["success"] is True
    check_error(admin.get("/v1/namespaces/" + ns["namespace_id"]), 404)
    check_error(c.get("/v1/buckets/" + b["bucket_id"]), 404)
    check_error(admin.delete("/v1/namespaces/" + ns["namespace_id"]), 404)


def test_list_paginates_searches_and_sorts(admin):
    tag = unique("lst")
    ids = []
    for i in range(5):
        r = admin.post("/v1/namespaces", json={"namespace_name": "%s-%d" % (tag, i)})
        ids.append(r.json()["namespace_id"])
    body = check_response(admin.post("/v1/namespaces/list?limit=2",
                                     json={"search": tag.upper()}),
                          200, "ListNamespacesResponse")
    assert body["total_count"] == 5
    seen = [x["namespace_id"] for x in body["results"]]
    cursor = body["pagination"]["next_cursor"]
    while cursor:
        body = admin.post("/v1/namespaces/list?limit=2&cursor=" + cursor,
                          json={"search": tag}).json()
        seen += [x["namespace_id"] for x in body["results"]]
        cursor = body["pagination"]["next_cursor"]
    assert seen == ids
    body = admin.post("/v1/namespaces/list",
                      json={"search": tag,
                            "sort": {"field": "namespace_name", "direction": "desc"}}).json()
    assert [x["namespace_name"] for x in body["results"]] == \
        ["%s-%d" % (tag, i) for i in reversed(range(5))]
    check_error(admin.post("/v1/namespaces/list?limit=0", json={}), 422)
    check_error(admin.post("/v1/namespaces/list?cursor=garbage", json={}), 422)
