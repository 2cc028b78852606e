"""/healthz, /metrics, /openapi.json, and transport-level answers."""
import socket

import requests

from schemas import check_error


def test_healthz_metrics_openapi(server, admin):
    assert requests.get(server.url + "/healthz").json() == {"status": "ok"}
    admin.post("/v1/namespaces/list", json={})
    text = requests.get(server.url + "/metrics").text
    assert "tally_store_used_bytes" in text
    assert 'tally_http_requests_total{route="/v1/namespaces/list"' in text
    doc = requests.get(server.url + "/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    assert "/v1/buckets/{bucket_identifier}/objects/aggregate" in doc["paths"]


def test_unknown_route_and_method(server, admin):
    check_error(admin.get("/v1/nothing"), 404)
    r = admin.request("DELETE", "/v1/namespaces")
    check_error(r, 405)
    assert r.headers["Allow"] == "POST"


def test_request_id_on_every_answer(server):
    r = requests.get(server.url + "/healthz")
    assert r.headers["X-Request-Id"].startswith("req_")


def test_body_over_the_limit_is_413(server, admin):
    big = b'{"namespace_name": "' + b"x" * (65 << 20) + b'"}'
    try:
        r = admin.post("/v1/namespaces", data=big)
        check_error(r, 413, "max_body_bytes")
    except requests.ConnectionError:
        # The server may close the connection after answering early.
        pass
    assert requests.get(server.url + "/healthz").status_code == 200


def test_deeply_nested_json_is_rejected(server, admin):
    body = b"{\"a\": " + b"[" * 100000 + b"]" * 100000 + b"}"
    r = admin.post("/v1/namespaces", data=body)
    check_error(r, 400, "depth")


def test_garbage_request_line(server):
    with socket.create_connection(("127.0.0.1", server.port)) as s:
        s.sendall(b"\x00\x01garbage\r\n\r\n")
        s.settimeout(5)
        try:
            data = s.recv(4096)
        except socket.timeout:
            data = b""
    assert data == b"" or data.startswith(b"HTTP/1.1 4")
    assert requests.get(server.url + "/healthz").status_code == 200
