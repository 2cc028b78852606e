"""GET /openapi.json: the server's own OpenAPI document.

It must describe every route of src/api/routes.c, stay wire-compatible with
the upstream reference (same paths, parameter names and status codes), and
tell the truth: real answers of the server validate against the document's
schema for their route and status."""
import base64
import json
import os
import re

import jsonschema
import pytest
import requests

from conftest import ROOT, Client, Server, unique
from schemas import spec as upstream_spec

METHODS = ("get", "put", "post", "patch", "delete")

# Routes of Tally's own, absent from the upstream reference.
TALLY_ONLY = {("post", "/v1/buckets/{bucket_identifier}/objects/import")}

# Parameters Tally accepts beyond the upstream operation's.
EXTENSIONS = {
    ("post", "/v1/buckets/list"): {"limit", "offset", "cursor",
                                   "include_total"},
    ("post", "/v1/buckets/{bucket_identifier}/objects/batch"): {"policy"},
}

# Timestamps on the wire: RFC 3339, UTC, milliseconds.
TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
FORMATS = jsonschema.FormatChecker(formats=())
FORMATS.checks("date-time")(lambda s: not isinstance(s, str)
                            or TIME_RE.match(s) is not None)


@pytest.fixture(scope="module")
def doc(server):
    r = requests.get(server.url + "/openapi.json")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    return r.json()


def template_key(path):
    """A path with its parameter names blanked: /v1/buckets/{}."""
    return re.sub(r"\{[^}]*\}", "{}", path)


def c_routes():
    """(method, path) of every entry of the C route table."""
    with open(os.path.join(ROOT, "src", "api", "routes.c")) as f:
        text = f.read()
    found = re.findall(r'(?:ROUTE|HEAVY|STREAM)\(\s*'
                       r'"(GET|POST|PUT|PATCH|DELETE)",\s*"([^"]+)"', text)
    assert len(found) >= 20, "route table not understood"
    return {(m.lower(), template_key(p)) for m, p in found}


def operations(d):
    for path, item in d["paths"].items():
        for method in METHODS:
            if method in item:
                yield method, path, item[method]


def resolve(d, node):
    """Follows a local $ref (components/...) one level."""
    while isinstance(node, dict) and "$ref" in node:
        target = d
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def walk(node, path=()):
    if isinstance(node, dict):
        yield path, node
        for k, v in node.items():
            yield from walk(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk(v, path + (i,))


def params_of(d, op):
    return [resolve(d, p) for p in op.get("parameters", [])]


# --- the document itself ---------------------------------------------------


def test_is_openapi_31_with_resolvable_refs(doc):
    assert re.fullmatch(r"3\.1\.\d+", doc["openapi"])
    assert doc["info"]["title"] and doc["info"]["version"]
    for where, node in walk(doc):
        if isinstance(node.get("$ref"), str):
            resolve(doc, node)  # raises KeyError when it points nowhere
    for name, schema in doc["components"]["schemas"].items():
        jsonschema.Draft202012Validator.check_schema(schema)


def test_every_route_is_documented_and_nothing_else(doc):
    documented = {(m, template_key(p)) for m, p, _ in operations(doc)}
    routes = c_routes()
    assert routes - documented == set(), "routes without documentation"
    assert documented - routes == set(), "documented routes the server lacks"


def test_security_and_namespace_header(doc):
    scheme = doc["components"]["securitySchemes"]["ApiKey"]
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer"
    for method, path, op in operations(doc):
        names = {p["name"] for p in params_of(doc, op)}
        security = op.get("security", doc.get("security"))
        if not path.startswith("/v1/"):
            assert security == [], path
            continue
        assert security == [{"ApiKey": []}], (method, path)
        wants_ns = not path.startswith("/v1/namespaces")
        assert ("X-Namespace" in names) == wants_ns, (method, path)
        for p in params_of(doc, op):
            if p["name"] == "X-Namespace":
                assert p["in"] == "header" and p["required"] is True


def test_v1_operations_match_the_upstream_reference(doc):
    up = upstream_spec()
    for method, path, op in operations(doc):
        if not path.startswith("/v1/") or (method, path) in TALLY_ONLY:
            continue
        assert path in up["paths"] and method in up["paths"][path], \
            "%s %s is not upstream" % (method, path)
        uop = up["paths"][path][method]
        ours = {(p["in"], p["name"]) for p in params_of(doc, op)}
        theirs = {(p["in"], p["name"]) for p in uop.get("parameters", [])}

        def names(s, where):
            return {n for i, n in s if i == where}
        assert names(ours, "path") == names(theirs, "path"), path
        extra = {n for _, n in ours - theirs}
        assert extra <= EXTENSIONS.get((method, path), set()), \
            (method, path, extra)
        # Upstream's Authorization header is our bearer security scheme.
        missing = {n for _, n in theirs - ours} - {"Authorization"}
        assert missing == set(), (method, path, missing)
        assert set(uop["responses"]) <= set(op["responses"]), (method, path)
        ubody = uop.get("requestBody", {}).get("content", {})
        obody = op.get("requestBody", {}).get("content", {})
        assert set(ubody) == set(obody), (method, path)


def test_import_route_is_documented_as_ndjson(doc):
    op = doc["paths"]["/v1/buckets/{bucket_identifier}/objects/import"]["post"]
    assert set(op["requestBody"]["content"]) == {"application/x-ndjson"}
    assert "policy" in {p["name"] for p in params_of(doc, op)}
    ok = resolve(doc, op["responses"]["200"]["content"]["application/json"]
                 ["schema"])
    assert set(ok["required"]) >= {"bucket_id", "lines", "imported",
                                   "rejected", "elapsed_ms", "rejections"}


def prose(d):
    for _, node in walk(d):
        for key in ("description", "summary", "title"):
            if isinstance(node.get(key), str):
                yield node[key]


def test_no_prose_is_taken_from_the_upstream_reference(doc):
    def grams(text, n=6):
        words = re.findall(r"[a-z0-9_]+", text.lower())
        return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}

    theirs = set()
    for text in prose(upstream_spec()):
        theirs |= grams(text)
    shared = [t for t in prose(doc) if grams(t) & theirs]
    assert shared == []


# --- real answers against the document ---------------------------------------


class Checker:
    """Validates responses against the document's schema for their route,
    method and status."""

    def __init__(self, d):
        self.doc = d
        self.seen = set()

    def __call__(self, r, method, path, status):
        assert r.status_code == status, "%d: %s" % (r.status_code, r.text)
        op = self.doc["paths"][path][method]
        assert str(status) in op["responses"], \
            "%s %s does not document %d" % (method, path, status)
        resp = resolve(self.doc, op["responses"][str(status)])
        self.seen.add((method, path, status))
        if "content" not in resp:
            assert r.content == b""
            return None
        ctype = r.headers["Content-Type"].split(";")[0]
        assert ctype in resp["content"], (ctype, list(resp["content"]))
        if ctype != "application/json":
            return r.text
        schema = dict(resp["content"][ctype]["schema"])
        schema["components"] = self.doc["components"]
        body = r.json()
        jsonschema.Draft202012Validator(
            schema, format_checker=FORMATS).validate(body)
        return body


@pytest.fixture(scope="module")
def check(doc):
    return Checker(doc)


# The tests below that hold real answers to the document, by name, and
# those of them that have run (for the coverage test at the end).
RAN = set()


@pytest.fixture(autouse=True)
def _record(request):
    yield
    RAN.add(request.node.originalname)


B = "/v1/buckets/{bucket_identifier}"
O = B + "/objects"
OBJ = O + "/{object_identifier}"


def test_namespace_answers_fit_the_document(admin, check):
    name = unique("oa-ns")
    ns = check(admin.post("/v1/namespaces", json={
        "namespace_name": name,
        "feature_extractors": [{"feature_extractor_name": "text",
                                "version": "v1"}]}),
        "post", "/v1/namespaces", 200)
    assert ns["feature_extractors"][0]["feature_extractor_id"] == "text_v1"
    path = "/v1/namespaces/" + ns["namespace_id"]
    check(admin.get(path), "get", "/v1/namespaces/{namespace_identifier}",
          200)
    check(admin.patch(path, json={"note": "x"}), "patch",
          "/v1/namespaces/{namespace_identifier}", 200)
    check(admin.put(path, json={"namespace_name": name + "-2"}), "put",
          "/v1/namespaces/{namespace_identifier}", 200)
    page = check(admin.post("/v1/namespaces/list?limit=1", json={}), "post",
                 "/v1/namespaces/list", 200)
    assert len(page["results"]) == 1
    check(admin.post("/v1/namespaces", json={"namespace_name": name + "-2"}),
          "post", "/v1/namespaces", 409)
    check(admin.post("/v1/namespaces", json={"namespace_name": "ns_abc"}),
          "post", "/v1/namespaces", 422)
    check(admin.post("/v1/namespaces", data=b"{oops"), "post",
          "/v1/namespaces", 400)
    check(Client(admin.server, key="sk_wrong").get(path), "get",
          "/v1/namespaces/{namespace_identifier}", 401)
    check(admin.delete(path), "delete",
          "/v1/namespaces/{namespace_identifier}", 200)
    check(admin.get(path), "get", "/v1/namespaces/{namespace_identifier}",
          404)


def make_bucket(c, check, **extra):
    body = {"bucket_name": unique("oa-b"),
            "bucket_schema": {"properties": {
                "title": {"type": "string", "required": True},
                "views": {"type": "integer", "default": 0},
                "day": {"type": "date"},
                "cover": {"type": "image"}}}}
    body.update(extra)
    return check(c.post("/v1/buckets", json=body), "post", "/v1/buckets",
                 200)


def test_bucket_answers_fit_the_document(ns, check):
    b = make_bucket(ns, check, unique_key={"fields": ["title"],
                                           "default_policy": "upsert"},
                    description="d", metadata={"team": "a"})
    path = "/v1/buckets/" + b["bucket_id"]
    check(ns.get(path), "get", B, 200)
    check(ns.patch(path, json={"metadata": {"team": None, "x": 1}}), "patch",
          B, 200)
    check(ns.put(path, json={"description": "e"}), "put", B, 200)
    check(ns.patch(path, json={"unique_key": {"fields": ["views"]}}),
          "patch", B, 422)
    make_bucket(ns, check)
    page = check(ns.post("/v1/buckets/list?limit=1", json={}), "post",
                 "/v1/buckets/list", 200)
    assert page["pagination"]["next_cursor"]
    check(ns.post("/v1/buckets/list?cursor=" +
                  page["pagination"]["next_cursor"]), "post",
          "/v1/buckets/list", 200)
    check(ns.post("/v1/buckets", json={"bucket_name": b["bucket_name"]}),
          "post", "/v1/buckets", 409)
    check(ns.with_namespace(None).get(path), "get", B, 400)
    check(ns.with_namespace(unique("missing")).get(path), "get", B, 404)
    check(ns.delete(path), "delete", B, 200)
    check(ns.get(path), "get", B, 404)


def test_object_answers_fit_the_document(ns, check):
    b = make_bucket(ns, check)
    bid = b["bucket_id"]
    objects = "/v1/buckets/%s/objects" % bid
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 8).decode()
    o = check(ns.post(objects, json={
        "key_prefix": "/k", "status": "PENDING", "extra": [1],
        "metadata": {"title": "a", "day": "2024-03-05"},
        "blobs": [{"property": "cover", "type": "image", "data": png},
                  {"property": "link", "type": "text",
                   "data": "https://example.com/a.txt"},
                 {"property": "extra", "type": "json", "data": {"k": 1}}]}),
        "post", O, 200)
    assert o["blobs"][0]["details"]["mime_type"] == "image/png"
    one = objects + "/" + o["object_id"]
    check(ns.get(one), "get", OBJ, 200)
    check(ns.patch(one, json={"metadata": {"views": 2}}), "patch", OBJ, 200)
    check(ns.put(one, json={"metadata": {"title": "b"}}), "put", OBJ, 200)
    check(ns.put(one, json={"metadata": {}}), "put", OBJ, 422)

    batch = check(ns.post(objects + "/batch", json={"objects": [
        {"metadata": {"title": "c"}}, {"metadata": {"views": 1}}]}),
        "post", O + "/batch", 200)
    assert batch["succeeded_count"] == 1 and batch["failed_count"] == 1

    page = check(ns.post(objects + "/list?limit=1&include_total=true",
                         json={"sort": {"field": "metadata.title",
                                        "direction": "desc"}}),
                 "post", O + "/list", 200)
    assert page["stats"]["total_objects"] == 2
    sel = check(ns.post(objects + "/list", json={
        "select": ["metadata.title"],
        "filters": {"AND": [{"field": "metadata.title", "operator": "eq",
                             "value": "c"}]}}),
        "post", O + "/list", 200)
    assert [set(x) for x in sel["results"]] == [
        {"object_id", "bucket_id", "metadata"}]
    check(ns.post(objects + "/list?limit=0", json={}), "post", O + "/list",
          422)
    check(ns.post(objects + "/list?cursor=nonsense", json={}), "post",
          O + "/list", 422)

    check(ns.delete(one), "delete", OBJ, 204)
    check(ns.get(one), "get", OBJ, 404)
    check(ns.post("/v1/buckets/nope/objects", json={}), "post", O, 404)


def test_unique_key_answers_fit_the_document(ns, check):
    b = make_bucket(ns, check, unique_key={"fields": ["title"]})
    objects = "/v1/buckets/%s/objects" % b["bucket_id"]
    body = {"metadata": {"title": "t"}}
    check(ns.post(objects, json=body), "post", O, 400)
    check(ns.post(objects + "?policy=insert", json=body), "post", O, 200)
    check(ns.post(objects + "?policy=insert", json=body), "post", O, 409)
    check(ns.post(objects + "?policy=update",
                  json={"metadata": {"title": "u"}}), "post", O, 404)
    check(ns.post(objects + "/batch?policy=upsert", json={"objects": [body]}),
          "post", O + "/batch", 200)


def test_aggregate_answers_fit_the_document(ns, check):
    b = make_bucket(ns, check)
    objects = "/v1/buckets/%s/objects" % b["bucket_id"]
    for i in range(4):
        ns.post(objects, json={"metadata": {"title": "t%d" % (i % 2),
                                            "views": i,
                                            "day": "2024-03-0%d" % (i + 1)}})
    res = check(ns.post(objects + "/aggregate", json={
        "group_by": [{"field": "metadata.title", "alias": "title"},
                     {"field": "metadata.day", "date_trunc": "month"}],
        "range_buckets": [{"field": "metadata.views", "boundaries": [0, 2]}],
        "aggregations": [{"function": "count", "alias": "n"},
                         {"function": "sum", "field": "metadata.views",
                          "alias": "views"},
                         {"function": "push", "field": "metadata.views",
                          "alias": "all"}],
        "having": [{"field": "n", "operator": "gte", "value": 1}],
        "sort_by": "views", "limit": 10}),
        "post", O + "/aggregate", 200)
    assert res["total_groups"] == len(res["results"]) > 0
    problems = check(ns.post(objects + "/aggregate", json={
        "group_by": [{"field": "x"}],
        "aggregations": [{"function": "median", "alias": "m"}]}),
        "post", O + "/aggregate", 422)
    assert problems["detail"][0]["loc"][:2] == ["body", "aggregations"]


def ndjson(lines):
    return "\n".join(lines).encode()


def test_import_answers_fit_the_document(ns, check):
    b = make_bucket(ns, check)
    path = "/v1/buckets/%s/objects/import" % b["bucket_id"]
    hdr = {"Content-Type": "application/x-ndjson"}
    res = check(ns.post(path, headers=hdr, data=ndjson([
        json.dumps({"object_id": "obj_kept", "status": "COMPLETED",
                    "created_at": "2023-01-01T00:00:00Z",
                    "metadata": {"title": "a"}}),
        "not json",
        json.dumps({"metadata": {}})])),
        "post", O + "/import", 200)
    assert (res["imported"], res["rejected"]) == (1, 2)
    assert [x["line"] for x in res["rejections"]] == [2, 3]
    err = check(ns.post("/v1/buckets/nope/objects/import", headers=hdr,
                        data=b"{}"), "post", O + "/import", 404)
    assert err["error"]["details"] is None


def test_stopped_import_fits_the_document(doc):
    s = Server(args=["--max-import-rejects", "2"]).start()
    try:
        c = Client(s)
        check = Checker(doc)
        ns = c.with_namespace(c.post("/v1/namespaces", json={
            "namespace_name": unique("oa-imp")}).json()["namespace_id"])
        bid = make_bucket(ns, check)["bucket_id"]
        r = ns.post("/v1/buckets/%s/objects/import" % bid,
                    data=ndjson(['{"metadata": {"title": "kept"}}', "x",
                                 "y", "z", "{}"]))
        err = check(r, "post", O + "/import", 400)
        assert err["error"]["type"] == "LimitExceededError"
        details = err["error"]["details"]
        assert (details["imported"], details["rejected"]) == (1, 3)
    finally:
        s.stop()
        s.cleanup()


def test_system_answers_fit_the_document(server, check):
    check(requests.get(server.url + "/healthz"), "get", "/healthz", 200)
    text = check(requests.get(server.url + "/metrics"), "get", "/metrics",
                 200)
    assert "tally_objects_written_total" in text
    check(requests.get(server.url + "/openapi.json"), "get", "/openapi.json",
          200)


def test_every_operation_was_exercised(check):
    """Runs last in this module: each documented operation has had at
    least one real answer checked against the document."""
    answers = {n for n in globals() if n.startswith("test_") and "_fit" in n}
    if not answers <= RAN:
        pytest.skip("needs every *_fit* test of this module to run first")
    exercised = {(m, p) for m, p, _ in check.seen}
    documented = {(m, p) for m, p, _ in operations(check.doc)}
    assert documented - exercised == set()
