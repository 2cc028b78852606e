"""Checks response bodies against the upstream reference schemas
(../shared/reference/mixpeek-openapi-subset.json): required fields present,
types right, as a strict generated client would insist."""
import json
import os

import jsonschema

from conftest import SHARED

_SPEC = None


def spec():
    global _SPEC
    if _SPEC is None:
        path = os.path.join(SHARED, "reference", "mixpeek-openapi-subset.json")
        with open(path) as f:
            _SPEC = json.load(f)
    return _SPEC


def check(name, body):
    """Raises jsonschema.ValidationError when body does not fit schema `name`."""
    s = spec()
    schema = {"$ref": "#/components/schemas/" + name,
              "components": s["components"]}
    jsonschema.Draft202012Validator(schema).validate(body)
    return body


def check_response(r, status, name):
    """The status, then the body against the schema; returns the body."""
    assert r.status_code == status, "%d: %s" % (r.status_code, r.text)
    return check(name, r.json())


def check_error(r, status, contains=None):
    """An error response in the upstream envelope (or the 422 shape)."""
    assert r.status_code == status, "%d: %s" % (r.status_code, r.text)
    body = r.json()
    if status == 422:
        check("HTTPValidationError", body)
        assert body["detail"], "422 without problems"
    else:
        check("ErrorResponse", body)
        assert body["status"] == status
        assert body["success"] is False
    if contains:
        assert contains.lower() in r.text.lower(), r.text
    return body
