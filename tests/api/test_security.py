"""Security properties: API keys at rest, failed-auth answers, log lines
that a client cannot forge, and the data folder's permissions."""
import glob
import hashlib
import os
import re
import shutil
import socket
import subprocess
import tempfile

import pytest
import requests

from conftest import BIN, Client, Server, create_key
from schemas import check_error


def folder_bytes(data):
    """Every byte the store keeps: the data files and the key secret."""
    out = b""
    for path in sorted(glob.glob(os.path.join(data, "*"))):
        with open(path, "rb") as f:
            out += f.read()
    return out


def key_id_of(data, key):
    listing = subprocess.run([BIN, "key", "list", "--data", data],
                             capture_output=True, text=True, check=True).stdout
    line = [ln for ln in listing.splitlines() if key[:7] in ln][0]
    return re.search(r'"key_id":"([^"]+)"', line).group(1)


def test_keys_are_stored_only_as_keyed_hashes(server):
    key = create_key(server.data)
    assert Client(server, key=key).post("/v1/namespaces/list",
                                        json={}).status_code == 200
    stored = folder_bytes(server.data)
    secret_part = key[len("sk_"):].encode()
    for k in (key, server.key):
        assert k.encode() not in stored
        assert k[len("sk_"):].encode() not in stored
    assert secret_part[-16:] not in stored
    # What is kept is BLAKE2b keyed with the folder's secret: the keyed
    # hash is there, the plain (unkeyed) hash is not.
    with open(os.path.join(server.data, "key-hash.secret"), "rb") as f:
        secret = f.read()
    keyed = hashlib.blake2b(key.encode(), digest_size=32, key=secret).digest()
    plain = hashlib.blake2b(key.encode(), digest_size=32).digest()
    assert keyed in stored
    assert plain not in stored
    assert hashlib.sha256(key.encode()).digest() not in stored
    # The secret and the store are the owner's alone.
    for name in ("key-hash.secret", "data.mdb"):
        mode = os.stat(os.path.join(server.data, name)).st_mode & 0o777
        assert mode == 0o600, "%s has mode %o" % (name, mode)


def test_every_auth_failure_gets_the_same_answer(server):
    revoked = create_key(server.data)
    subprocess.run([BIN, "key", "revoke", "--data", server.data,
                    key_id_of(server.data, revoked)], check=True,
                   capture_output=True)
    valid = server.key
    attempts = {
        "no header": {},
        "empty bearer": {"Authorization": "Bearer "},
        "basic scheme": {"Authorization": "Basic " + valid},
        "no scheme": {"Authorization": valid},
        "unknown key": {"Authorization": "Bearer sk_" + "A" * 43},
        "key one byte off": {"Authorization": "Bearer " + valid[:-1] +
                             ("A" if valid[-1] != "A" else "B")},
        "key with a suffix": {"Authorization": "Bearer " + valid + "x"},
        "oversized key": {"Authorization": "Bearer sk_" + "A" * 5000},
        "revoked key": {"Authorization": "Bearer " + revoked},
    }
    bodies = {}
    for name, headers in attempts.items():
        for method, path in (("POST", "/v1/namespaces/list"),
                             ("GET", "/v1/buckets/x")):
            r = requests.request(method, server.url + path, headers=dict(
                headers, **{"X-Namespace": "x"}), data=b"{}")
            check_error(r, 401)
            bodies.setdefault(r.content, []).append(name)
    assert len(bodies) == 1, "answers differ: %s" % list(bodies.values())


def test_access_log_lines_cannot_be_forged(server):
    """--access-log with a hostile path, method and headers: every line on
    stdout and stderr stays one line, control bytes escaped."""
    s = Server(args=["--access-log"]).start()
    try:
        hostile = [
            b"GET /v1/x%0a2026-01-01T00:00:00Z%20level=error%20msg=%22forged"
            b"%22%1b[31m%0d HTTP/1.1\r\nHost: x\r\n"
            b"X-Namespace: a\x1b[2J\"b\\c\r\nUser-Agent: \x1b]0;pwn\x07\r\n"
            b"Connection: close\r\n\r\n",
            b"G\x1b[31mET\"x /healthz HTTP/1.1\r\nHost: x\r\n"
            b"Connection: close\r\n\r\n",
            b"POST /v1/buckets/%1b%5b1m/objects/list HTTP/1.1\r\nHost: x\r\n"
            b"Authorization: Bearer " + s.key.encode() + b"\r\n"
            b"X-Namespace: \x1b[1m\"\r\nContent-Length: 2\r\n"
            b"Connection: close\r\n\r\n{}",
        ]
        for raw in hostile:
            with socket.create_connection(("127.0.0.1", s.port)) as c:
                c.sendall(raw)
                c.settimeout(5)
                while c.recv(65536):
                    pass
        # SIGTERM: the server writes its last lines and exits.
        assert s.stop() == 0
        out = s.output()
    finally:
        s.cleanup()
    lines = out.splitlines()
    access = [ln for ln in lines if " id=req_" in ln]
    assert len(access) >= 3, out
    stamp = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ")
    for ln in lines:
        if ln.startswith("api_key: ") or ln.startswith("created the first"):
            continue
        assert stamp.match(ln), "a line that is not a log line: %r" % ln
        assert not re.search(r"[\x00-\x1f\x7f]", ln), "raw control byte: %r" % ln
    assert not any("forged" in ln and "level=error" in ln and
                   " id=req_" not in ln for ln in lines)
    joined = "\n".join(access)
    assert "\\x0a" in joined and "\\x1b" in joined and '\\"' in joined


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o702])
def test_refuses_a_data_folder_others_can_write(mode):
    data = tempfile.mkdtemp(prefix="tally-perm-")
    try:
        os.chmod(data, mode)
        r = subprocess.run([BIN, "serve", "--data", data, "--listen",
                            "127.0.0.1:0"], capture_output=True, text=True,
                           timeout=20)
        assert r.returncode != 0
        assert data in r.stderr
        assert "chmod go-w " + data in r.stderr
        assert not os.path.exists(os.path.join(data, "data.mdb"))
        # Every command that opens the folder says the same.
        r = subprocess.run([BIN, "key", "create", "--data", data],
                           capture_output=True, text=True, timeout=20)
        assert r.returncode != 0 and "chmod go-w" in r.stderr
    finally:
        os.chmod(data, 0o700)
        shutil.rmtree(data)
