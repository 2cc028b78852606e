"""Seeded random objects and requests for the differential test between
the embedded store and the ClickHouse backend (diff_backends.py).

Everything is a pure function of the seed. The objects are awkward on
purpose: nulls, missing fields, numeric strings where numbers are usual,
single values where arrays are usual, arrays of objects, deep paths,
accented letters, negative and fractional numbers, integral doubles
(written 3.0) beside integers, ISO date strings in undeclared fields,
values on range boundaries, nested arrays. The requests use every field
and option of the aggregation contract, both filter dialects with every
operator, and objects/list with filters, sort, search, select and
pagination.

Kept out, with the reason (docs/clickhouse.md, "Differences"):
  - strings ending with a newline (PCRE2's $ matches before it, RE2's
    does not);
  - dates outside 1970..2105 (ClickHouse's calendar functions);
  - regular expressions RE2 cannot run, except those in RE2_REFUSED,
    which check that the ClickHouse backend refuses them with a 422.
"""
import json
import random

CATEGORIES = ["books", "Books", "BOOKS", "café", "Café", "CAFÉ", "naïve",
              "über", "Über", "toys", "a.b", "x y", "", "10", "crème brûlée",
              "Ñandú", "it's", "back\\slash", "quote\"d", "tab\tin"]
TAGS = ["red", "Red", "blue", "green", "vert", "été", "Été", "b"]
STATUSES = ["DRAFT", "PENDING", "COMPLETED", "FAILED", "ACTIVE"]
BLOB_TYPES = ["image", "video", "text", "audio"]
BOUNDARIES = [-10, 0, 2.5, 5, 10, 25, 50, 99.99, 100, 200]
DAY = 86400000
START = 1672531200000          # 2023-01-01
END = 1767225600000            # 2026-01-01

# Patterns both dialects read alike, and patterns only PCRE2 runs.
REGEXES = ["^caf", "É", "e$", "r.d", "^u1", "\\d", "B|t", "^$", "é",
           "^[a-c]", "sku[0-2]", "2024-0[1-6]", "^re", "(?:ab|cd)+",
           "[[:alpha:]]{3}", "\\bred\\b", "o{2,}"]
RE2_REFUSED = ["(a)\\1", "foo(?=bar)", "(?<=x)y", "a++"]


class Rng:
    def __init__(self, seed):
        self.r = random.Random(seed)

    def next(self):
        return self.r.random()

    def int(self, lo, hi):
        return self.r.randint(lo, hi)

    def pick(self, xs):
        return xs[self.r.randrange(len(xs))]

    def chance(self, p):
        return self.r.random() < p

    def some(self, xs, lo, hi):
        n = self.r.randint(lo, min(hi, len(xs)))
        return self.r.sample(xs, n)


class Float:
    """A double that must be written with its fraction (3.0 stays 3.0)."""

    def __init__(self, v):
        self.v = float(v)


def iso(ms):
    import datetime
    d = datetime.datetime.utcfromtimestamp(ms / 1000)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)


def random_ms(r):
    roll = r.next()
    if roll < 0.15:
        y = r.int(2023, 2025)
        base = {2023: 1703721600000, 2024: 1735344000000, 2025: 1766880000000}[y]
        return base + r.int(0, 7) * DAY + r.int(0, DAY - 1)
    if roll < 0.3:
        return START + r.int(0, (END - START) // DAY - 1) * DAY
    return START + int(r.next() * (END - START))


def iso_string(r, ms):
    full = iso(ms)
    date, time = full[:10], full[11:19]
    k = r.int(0, 4)
    if k == 0:
        return date
    if k == 1:
        return "%sT%sZ" % (date, time)
    if k == 2:
        return full
    if k == 3:
        off = r.pick([-5, 2, 9])
        local = iso(ms + off * 3600000)[:23]
        return "%s%s%02d:00" % (local, "-" if off < 0 else "+", abs(off))
    return "%sT%sZ" % (date, time[:5])


def maybe(r, value, p_null, p_missing):
    roll = r.next()
    if roll < p_null:
        return None
    if roll < p_null + p_missing:
        return Ellipsis
    return value


def price(r):
    roll = r.next()
    if roll < 0.2:
        return r.pick(BOUNDARIES)
    if roll < 0.25:
        return r.pick(["42", "2.5", "cheap"])
    if roll < 0.28:
        return r.pick([True, False])
    if roll < 0.5:
        return r.int(-50, 250) + r.pick([0.5, 0.25, 0.1, 0.75])
    if roll < 0.53:
        return r.pick([9007199254740993, -9223372036854775807, 1e300, 5e-324])
    return r.int(-50, 250)


def qty(r):
    roll = r.next()
    if roll < 0.15:
        return Float(r.int(0, 6))
    if roll < 0.2:
        return 1.5
    return r.int(0, 6)


def tags(r):
    roll = r.next()
    if roll < 0.08:
        return r.pick(TAGS)
    if roll < 0.12:
        return None
    if roll < 0.2:
        return Ellipsis
    if roll < 0.25:
        return [r.pick(TAGS), None]
    if roll < 0.28:
        return [1, r.pick(TAGS)]
    if roll < 0.3:
        return []
    return r.some(TAGS, 0, 3)


def items(r):
    roll = r.next()
    if roll < 0.1:
        return Ellipsis
    if roll < 0.15:
        return {"sku": "sku%d" % r.int(0, 4), "n": r.int(0, 9)}
    out = []
    for _ in range(r.int(1, 4)):
        if r.chance(0.08):
            out.append(r.pick([7, "loose", None]))
            continue
        it = {"sku": "sku%d" % r.int(0, 4)}
        if r.chance(0.85):
            it["n"] = str(r.int(0, 9)) if r.chance(0.1) else r.int(0, 9)
        if r.chance(0.6):
            it["price"] = price(r)
        if r.chance(0.3):
            it["tags"] = r.some(TAGS, 1, 2)
        out.append(it)
    return out


def deep(r):
    roll = r.next()
    leaf = lambda: r.pick([1, 2, Float(2), "x", "X", None, -3.5])
    if roll < 0.15:
        return Ellipsis
    if roll < 0.25:
        return {"a": [{"b": {"c": leaf()}}, {"b": {"c": leaf()}}, {"b": {}}]}
    if roll < 0.3:
        return {"a": {"b": 5}}
    if roll < 0.35:
        return {"a": None}
    return {"a": {"b": {"c": leaf()}}}


def dims(r):
    roll = r.next()
    if roll < 0.1:
        return Ellipsis
    if roll < 0.15:
        return None
    if roll < 0.2:
        return 12
    if roll < 0.3:
        return {"w": r.int(1, 3)}
    return {"w": r.int(1, 3), "h": r.int(1, 2)}


def published(r):
    roll = r.next()
    if roll < 0.6:
        return iso_string(r, random_ms(r))
    if roll < 0.7:
        return r.pick(["n/a", "2024-13-01", "2023-02-29", "soon-ish",
                       "2024-06-01T25:00:00Z"])
    if roll < 0.75:
        return r.int(0, 100)
    return maybe(r, iso_string(r, random_ms(r)), 0.4, 0.6)


BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def blobs(r):
    """Blobs carry their ids (a server would make up its own)."""
    if r.chance(0.15):
        return Ellipsis
    out = []
    for _ in range(r.int(1, 3)):
        b = {"blob_id": "blob_" + "".join(r.pick(BASE62) for _ in range(20)),
             "property": "p%d" % r.int(0, 2), "type": r.pick(BLOB_TYPES)}
        if r.chance(0.7):
            b["details"] = {"size_bytes": r.int(0, 5000)}
        out.append(b)
    return out


def make_object(r, i):
    created = random_ms(r)
    o = {"object_id": "obj_diff%05d" % i,
         "created_at": iso(created),
         "updated_at": iso(created + (0 if r.chance(0.5) else r.int(0, 40 * DAY))),
         "status": r.pick(STATUSES)}
    if r.chance(0.4):
        o["key_prefix"] = r.pick(["/a", "/b", "/a/c"])
    m = {}

    def put(k, v):
        if v is not Ellipsis:
            m[k] = v
    cat = r.int(1, 3) if r.chance(0.05) else (
        [r.pick(CATEGORIES)] if r.chance(0.03) else r.pick(CATEGORIES))
    put("category", maybe(r, cat, 0.05, 0.08))
    put("price", maybe(r, price(r), 0.04, 0.06))
    put("qty", maybe(r, qty(r), 0.03, 0.05))
    put("tags", tags(r))
    put("user", maybe(r, ("U%d" % r.int(0, 9)) if r.chance(0.05)
                      else "u%d" % r.int(0, 25), 0.03, 0.05))
    put("when", maybe(r, iso_string(r, random_ms(r))[:10], 0.1, 0.1))
    put("at", maybe(r, iso_string(r, random_ms(r)), 0.1, 0.1))
    put("label", maybe(r, r.pick(CATEGORIES + TAGS), 0.1, 0.1))
    put("count", maybe(r, r.int(-3, 20), 0.1, 0.1))
    put("published", published(r))
    put("score", maybe(r, r.int(-5, 5) if r.chance(0.3)
                       else round(r.next() * 20 - 5, 2), 0.05, 0.05))
    put("active", maybe(r, "true" if r.chance(0.1) else r.chance(0.5), 0.05, 0.1))
    put("dims", dims(r))
    put("deep", deep(r))
    put("items", items(r))
    if r.chance(0.05):
        m["matrix"] = [[r.int(0, 3), r.int(0, 3)], [r.int(0, 3)]]
    if r.chance(0.9):
        o["metadata"] = m
    b = blobs(r)
    if b is not Ellipsis:
        o["blobs"] = b
    return o


def to_json(v):
    """JSON with Float written with its fraction."""
    if isinstance(v, Float):
        return repr(v.v) if v.v != int(v.v) else "%d.0" % int(v.v)
    if isinstance(v, dict):
        return "{" + ",".join(json.dumps(k) + ":" + to_json(x)
                              for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ",".join(to_json(x) for x in v) + "]"
    if isinstance(v, float):
        return repr(v)
    return json.dumps(v, ensure_ascii=False)


SCHEMA = {"properties": {"when": {"type": "date"}, "at": {"type": "datetime"},
                         "label": {"type": "string"},
                         "count": {"type": "integer"}}}


# --- requests ------------------------------------------------------------

VALUE_PATHS = ["status", "key_prefix", "metadata.category", "metadata.user",
               "metadata.qty", "metadata.price", "metadata.tags",
               "metadata.active", "metadata.dims", "metadata.dims.w",
               "metadata.deep.a.b.c", "metadata.deep.a", "metadata.items.sku",
               "metadata.when", "metadata.published", "metadata.missing",
               "blobs.type", "metadata.score", "metadata.matrix",
               "created_at", "metadata.label", "metadata.count",
               "metadata.items.0.sku", "metadata", "bucket_id"]
DATE_PATHS = ["created_at", "updated_at", "metadata.when", "metadata.at",
              "metadata.published", "metadata.category", "metadata.price",
              "metadata.missing", "metadata.label"]
NUMBER_PATHS = ["metadata.price", "metadata.qty", "metadata.score",
                "metadata.dims.w", "metadata.items.n", "metadata.category",
                "metadata.deep.a.b.c", "blobs.details.size_bytes",
                "metadata.count"]
FILTER_PATHS = ["status", "metadata.category", "metadata.price",
                "metadata.qty", "metadata.tags", "metadata.user",
                "metadata.when", "metadata.at", "created_at", "updated_at",
                "metadata.published", "metadata.score", "metadata.active",
                "metadata.dims.w", "metadata.dims", "metadata.deep.a.b.c",
                "metadata.items.sku", "metadata.items.n", "blobs.type",
                "metadata.missing", "metadata.items.0.sku", "metadata.tags.0",
                "key_prefix", "metadata.label", "metadata.count",
                "metadata.items.price", "object_id"]
ARRAY_PATHS = ["metadata.tags", "metadata.items", "blobs", "metadata.matrix"]
DATE_FIELDS = {"created_at", "updated_at", "metadata.when", "metadata.at"}
UNWINDS = {
    "metadata.tags": ["metadata.tags"],
    "$metadata.tags": ["metadata.tags"],
    "metadata.items": ["metadata.items", "metadata.items.sku",
                       "metadata.items.n", "metadata.items.price",
                       "metadata.items.tags"],
    "blobs": ["blobs", "blobs.type", "blobs.property",
              "blobs.details.size_bytes"],
    "metadata.dims": ["metadata.dims", "metadata.dims.w"],
    "metadata.deep.a": ["metadata.deep.a", "metadata.deep.a.b.c"],
    "metadata.category": ["metadata.category"],
    "metadata.matrix": ["metadata.matrix"],
}
TRUNC_UNITS = ["year", "month", "week", "day", "hour", "minute", "second"]
PART_UNITS = TRUNC_UNITS + ["dayOfWeek", "dayOfYear"]
FUNCTIONS = ["count", "count_distinct", "sum", "avg", "min", "max", "first",
             "last", "push", "add_to_set"]
HAVING_OPS = ["gt", "gte", "lt", "lte", "eq", "ne"]


def values_at(objects, path):
    out = []

    def walk(v, parts):
        if isinstance(v, list):
            for x in v:
                walk(x, parts)
            return
        if not parts:
            if v is None or not isinstance(v, (dict, list)):
                out.append(v)
            return
        if isinstance(v, dict) and parts[0] in v:
            walk(v[parts[0]], parts[1:])
    for o in objects:
        walk(o, [p for p in path.split(".") if not p.isdigit()])
    return [v.v if isinstance(v, Float) else v for v in out]


def make_pools(objects):
    return {p: values_at(objects, p)
            for p in set(FILTER_PATHS + VALUE_PATHS + NUMBER_PATHS)}


def flip_case(r, s):
    if not isinstance(s, str):
        return s
    roll = r.next()
    return s.upper() if roll < 0.3 else s.lower() if roll < 0.5 else s


def operand(r, pools, path):
    pool = pools.get(path, [])
    roll = r.next()
    if roll < 0.65 and pool:
        return r.pick(pool)
    if roll < 0.75 and path in DATE_FIELDS:
        return iso_string(r, random_ms(r))
    return r.pick([0, 10, 2.5, -3, "10", "red", "café", True, "sku1",
                   "COMPLETED", "2024-06-01", "u1", None, [1, "red"],
                   {"w": 1}])


def operands(r, pools, path):
    return [operand(r, pools, path) for _ in range(r.int(1, 3))]


def elem_match(r):
    if r.chance(0.5):
        q = {"sku": r.pick(["sku0", "sku1", "sku2"])}
        if r.chance(0.5):
            q["n"] = {r.pick(["$gt", "$gte", "$lt", "$ne"]): r.int(0, 9)}
        return {"metadata.items": {"$elemMatch": q}}
    ops = [{"$in": r.some(TAGS, 1, 3)}, {"$gt": "c", "$lt": "s"},
           {"$regex": "^r", "$options": "i"}, {"$eq": r.pick(TAGS)},
           {"$gte": "b"}]
    return {"metadata.tags": {"$elemMatch": r.pick(ops)}}


def query_operator(r, pools, path):
    op = r.pick(["$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin",
                 "$exists", "$regex", "$not", "$range"])
    if op in ("$in", "$nin"):
        return {op: operands(r, pools, path)}
    if op == "$exists":
        return {"$exists": r.chance(0.5)}
    if op == "$regex":
        q = {"$regex": r.pick(REGEXES)}
        if r.chance(0.7):
            q["$options"] = r.pick(["i", "", "m", "s", "is"])
        return q
    if op == "$not":
        inner = query_operator(r, pools, path)
        if "$not" in inner or "$range" in inner:
            inner = {"$eq": operand(r, pools, path)}
        return {"$not": inner}
    if op == "$range":
        return {"$gte": operand(r, pools, path), "$lt": operand(r, pools, path)}
    return {op: operand(r, pools, path)}


def query_leaf(r, pools):
    roll = r.next()
    if roll < 0.06:
        return elem_match(r)
    if roll < 0.1:
        return {r.pick(ARRAY_PATHS): {"$size": r.int(0, 3)}}
    if roll < 0.14:
        p = r.pick(["metadata.tags", "metadata.items.sku"])
        return {p: {"$all": r.some(TAGS, 0, 2) if p == "metadata.tags"
                    else ["sku%d" % r.int(0, 2)]}}
    path = r.pick(FILTER_PATHS)
    if roll < 0.35:
        return {path: operand(r, pools, path)}
    return {path: query_operator(r, pools, path)}


def query_document(r, pools, depth):
    q = {}
    for _ in range(r.int(1, 3)):
        if depth < 2 and r.chance(0.2):
            kids = [query_document(r, pools, depth + 1)
                    for _ in range(r.int(1, 3))]
            q[r.pick(["$and", "$or", "$nor"])] = kids
        else:
            q.update(query_leaf(r, pools))
    return q


def substring(r, pools, path):
    strings = [v for v in pools.get(path, []) if isinstance(v, str) and v]
    if not strings:
        return r.pick(["e", "u", "sku"])
    s = r.pick(strings)
    a = r.int(0, len(s) - 1)
    return flip_case(r, s[a:a + r.int(1, 3)])


def condition(r, pools):
    field = r.pick(FILTER_PATHS)
    op = r.pick(["eq", "ne", "gt", "gte", "lt", "lte", "in", "nin", "exists",
                 "is_null", "contains", "starts_with", "ends_with", "regex",
                 "text", "eq", "in"])
    if op in ("in", "nin"):
        value = [flip_case(r, v) for v in operands(r, pools, field)]
    elif op in ("exists", "is_null"):
        value = r.chance(0.5)
    elif op in ("contains", "starts_with", "ends_with", "text"):
        value = substring(r, pools, field)
    elif op == "regex":
        value = r.pick(REGEXES)
    else:
        value = flip_case(r, operand(r, pools, field))
    return {"field": field, "operator": op, "value": value}


def condition_list(r, pools, depth):
    out = {}
    for part in r.some(["AND", "OR", "NOT"], 1, 2):
        out[part] = [condition_list(r, pools, depth + 1)
                     if depth < 2 and r.chance(0.2) else condition(r, pools)
                     for _ in range(r.int(1, 3))]
    if r.chance(0.4):
        out["case_sensitive"] = r.chance(0.5)
    return out


def filters(r, pools):
    if r.chance(0.03):
        return {r.pick(FILTER_PATHS): {"$regex": r.pick(RE2_REFUSED)}}
    return query_document(r, pools, 0) if r.chance(0.5) \
        else condition_list(r, pools, 0)


def name_for(r, used, field, prefix):
    name = field
    if name is None or name in used or r.chance(0.35):
        name = r.pick([prefix, prefix + ".x", "Ñ" + prefix, "$" + prefix]) + \
            str(len(used))
    used.add(name)
    return name


def group_key(r, used, paths):
    key = {}
    roll = r.next()
    if roll < 0.55:
        key["field"] = r.pick(paths)
    else:
        key["field"] = r.pick(DATE_PATHS)
        if roll < 0.8:
            key["date_trunc"] = r.pick(TRUNC_UNITS)
        else:
            key["date_part"] = r.pick(PART_UNITS)
    name = name_for(r, used, key["field"], "k")
    if name != key["field"]:
        key["alias"] = name
    elif r.chance(0.05):
        key["alias"] = None
    return key


def range_bucket(r, used):
    free = [p for p in NUMBER_PATHS if p not in used]
    if not free:
        return None
    field = r.pick(free)
    used.add(field)
    if r.chance(0.7):
        bounds = sorted(r.some(BOUNDARIES, 1, 5))
    else:
        bounds = [-5.5, 0.25, 3.75, 12.125][:r.int(1, 4)]
    b = {"field": field, "boundaries": bounds}
    if r.chance(0.5):
        b["default_bucket"] = r.pick(["none", "other bucket", ""])
    return b


def metric(r, used, paths, index):
    fn = r.pick(FUNCTIONS)
    roll = r.next()
    m = {"function": fn.upper() if roll < 0.1 else
         fn[0].upper() + fn[1:] if roll < 0.15 else fn}
    numeric = fn in ("sum", "avg")
    field = r.pick(NUMBER_PATHS) if numeric and r.chance(0.7) else r.pick(paths)
    if fn == "count_distinct" and r.chance(0.5):
        m["distinct_field"] = field
    elif fn != "count" or r.chance(0.5):
        m["field"] = field
    m["alias"] = name_for(r, used, None, ["m", "metric", "café"][index % 3])
    return m


def having(r, names):
    return [{"field": r.pick(names), "operator": r.pick(HAVING_OPS),
             "value": r.pick([0, 1, 2, 3, 5, 10, 2.5, -1, 100])
             if r.chance(0.6) else
             r.pick(["a", "m", "red", "café", "u1", "other",
                     "2024-01-01T00:00:00.000Z", "10-25"])}
            for _ in range(r.int(1, 2))]


def make_request(r, pools):
    req, used, key_names = {}, set(), []
    unwind = r.pick(list(UNWINDS)) if r.chance(0.25) else None
    paths = VALUE_PATHS + (UNWINDS[unwind] if unwind else [])
    if unwind:
        req["unwind"] = unwind
    nkeys = r.int(0, 2)
    if nkeys > 0 or r.chance(0.3):
        req["group_by"] = []
        for _ in range(nkeys):
            k = group_key(r, used, paths)
            req["group_by"].append(k)
            key_names.append(k.get("alias") or k["field"])
    if nkeys == 0 or r.chance(0.3):
        req["range_buckets"] = []
        for _ in range(2 if r.chance(0.15) else 1):
            b = range_bucket(r, used)
            if b:
                req["range_buckets"].append(b)
                key_names.append(b["field"])
    req["aggregations"] = [metric(r, used, paths, i)
                           for i in range(r.int(1, 4))]
    names = key_names + [m["alias"] for m in req["aggregations"]]
    if r.chance(0.5):
        req["filters"] = filters(r, pools)
    if r.chance(0.25):
        req["having"] = having(r, names)
    if r.chance(0.6):
        req["sort_by"] = r.pick(names)
    if r.chance(0.6):
        req["sort_direction"] = r.pick(["asc", "desc"])
    if r.chance(0.35):
        req["limit"] = r.int(1, 8)
    if r.chance(0.05):
        req["description"] = "ignored by the server"
    for opt in ("filters", "having", "unwind", "sort_by", "limit"):
        if opt not in req and r.chance(0.03):
            req[opt] = None
    return req


def make_list_request(r, pools):
    """objects/list: (query string, body)."""
    body, query = {}, {"limit": r.pick([1, 3, 7, 50])}
    if r.chance(0.6):
        body["filters"] = filters(r, pools)
    if r.chance(0.4):
        body["sort"] = {"field": r.pick(VALUE_PATHS),
                        "direction": r.pick(["asc", "desc"])}
    if r.chance(0.3):
        body["search"] = r.pick(["sku", "RED", "é", "u1", "draft", "2024"])
    if r.chance(0.3):
        body["select"] = r.some(["metadata.category", "metadata.items",
                                 "status", "blobs.type", "metadata.deep"], 1, 3)
    if r.chance(0.3):
        query["include_total"] = "true"
    if r.chance(0.2):
        query["offset"] = r.int(0, 5)
    return query, body
