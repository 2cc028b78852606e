"""Cross-checks answers: Tally's groups and metrics against the rows a SQL
peer returned for the same request.

Both sides become {key tuple: {alias: value}}. Keys are the group_by
aliases (or fields) of the request, or the range-bucket field; the SQL
queries name that column "bucket" and label a bucket by its lower
boundary, which is turned into Tally's "lower-upper" label. Values are
normalised: numbers to float (compared with a relative tolerance of
1e-9), arrays to sets, timestamps to UTC text with milliseconds.

A request with a limit is checked against the reference's whole answer
(the SQL without its LIMIT): every group returned must be in it with the
same metrics, and no group left out may sort strictly before the last
one returned. Groups tied with that last one may differ, since SQL
leaves the order of ties open and Tally breaks them by the keys.
"""
import datetime
import decimal
import math
import re

REL_TOL = 1e-9
TS_RE = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(?:\.(\d+))?"
                   r"(Z|[+-]\d{2}(?::?\d{2})?)?$")
NUM_RE = re.compile(r"^-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?$")


class Shape:
    """What a request's answer looks like: key names and metric aliases."""

    def __init__(self, request):
        self.keys = [g.get("alias") or g["field"] for g in request.get("group_by") or []]
        self.ranges = request.get("range_buckets") or []
        self.keys += [r["field"] for r in self.ranges]
        self.metrics = [a["alias"] for a in request["aggregations"]]
        self.limit = request.get("limit")
        self.sort_by = request.get("sort_by")
        self.descending = request.get("sort_direction", "desc") == "desc"

    def sort_value(self, key, metrics):
        if self.sort_by in metrics:
            return metrics[self.sort_by]
        return key[self.keys.index(self.sort_by)]


def _number_text(x):
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def range_label(bucket, value):
    """SQL's bucket label (the lower boundary, or the default) as Tally's."""
    b = bucket["boundaries"]
    for lo, hi in zip(b, b[1:]):
        if value is not None and str(value) == _number_text(lo):
            return "%s-%s" % (_number_text(lo), _number_text(hi))
    return value


def _timestamp(date, clock, frac, zone):
    ms = (frac or "").ljust(3, "0")[:3]
    t = datetime.datetime.fromisoformat("%sT%s.%s" % (date, clock, ms))
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        off = datetime.timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or 0))
        t -= sign * off
    return t.strftime("%Y-%m-%d %H:%M:%S.") + "%03d" % (t.microsecond // 1000)


def norm(v):
    if v is None or isinstance(v, bool):
        return v
    if isinstance(v, (int, float, decimal.Decimal)):
        return float(v)
    if isinstance(v, datetime.datetime):
        if v.tzinfo is not None:
            v = v.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        return v.strftime("%Y-%m-%d %H:%M:%S.") + "%03d" % (v.microsecond // 1000)
    if isinstance(v, (list, tuple)):
        return frozenset(norm(x) for x in v)
    s = str(v)
    m = TS_RE.match(s)
    if m:
        return _timestamp(*m.groups())
    if NUM_RE.match(s):
        return float(s)
    return s


def from_tally(shape, answer):
    """Tally's answer as {key tuple: {alias: value}}, plus the key order."""
    out, order = {}, []
    for r in answer["results"]:
        k = tuple(norm(r["group"].get(name)) for name in shape.keys)
        out[k] = {a: norm(r["metrics"].get(a)) for a in shape.metrics}
        order.append(k)
    return out, order


def from_sql(shape, columns, rows):
    """A SQL peer's rows as {key tuple: {alias: value}}, plus the key order."""
    out, order = {}, []
    for row in rows:
        d = dict(zip(columns, row))
        for bucket in shape.ranges:
            d[bucket["field"]] = range_label(bucket, d.pop("bucket", None))
        k = tuple(norm(d.get(name)) for name in shape.keys)
        out[k] = {a: norm(d.get(a)) for a in shape.metrics}
        order.append(k)
    return out, order


def same(a, b):
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=1e-12)
    return a == b


def _show(v):
    if isinstance(v, frozenset):
        return "{%d values}" % len(v)
    return repr(v)


def _sorts_before(shape, a, b):
    """Whether value a sorts strictly before b in the request's order."""
    try:
        return a > b if shape.descending else a < b
    except TypeError:
        return True  # incomparable values: count the group as wrongly left out


def _left_out(shape, ref, got, only_ref):
    """Of the reference's groups missing from a limited answer, those that
    should have been in it, and how many merely tie with its last group."""
    if not got:
        return sorted(only_ref, key=str), 0
    values = [shape.sort_value(k, m) for k, m in got.items()]
    last = min(values) if shape.descending else max(values)
    wrong = [k for k in only_ref if _sorts_before(shape, shape.sort_value(k, ref[k]), last)]
    ties = sum(1 for k in only_ref if same(shape.sort_value(k, ref[k]), last))
    return wrong, ties


def compare(shape, ref, got, ref_is_whole=False):
    """What differs between a reference answer and another: a dict with
    the notes (empty when they agree), the groups compared, and the
    groups left out that tie at a limit's cut. With ref_is_whole, ref is
    the answer without the request's limit."""
    notes = []
    only_ref, only_got = set(ref) - set(got), set(got) - set(ref)
    ties = 0
    if ref_is_whole and shape.limit and shape.sort_by:
        want = min(shape.limit, len(ref))
        if len(got) != want:
            notes.append("%d groups returned, %d expected" % (len(got), want))
        only_ref, ties = _left_out(shape, ref, got, only_ref)
    if only_ref or only_got:
        notes.append("groups: %d only in the reference %s, %d only in this answer %s"
                     % (len(only_ref), sorted(map(str, only_ref))[:3],
                        len(only_got), sorted(map(str, only_got))[:3]))
    common = [k for k in got if k in ref]
    for alias in shape.metrics:
        bad = [k for k in common if not same(ref[k][alias], got[k][alias])]
        if bad:
            k = bad[0]
            notes.append("%s differs in %d/%d groups (e.g. %s: reference %s, here %s)"
                         % (alias, len(bad), len(common), k, _show(ref[k][alias]),
                            _show(got[k][alias])))
    return {"notes": notes, "groups": len(common), "ties_at_cut": ties}
