"""The examples of the aggregation documentation give the answers it shows.

docs/aggregation.md and docs/aggregation/*.md hold curl examples, each a
```sh block followed by a ```json block with the server's answer. This
test starts a real server, runs the set-up blocks of docs/aggregation.md
(they create the namespace and the bucket and import the data set), then
runs every example with bash and compares its answer with the one shown:
exactly, number tokens included (1 and 1.0 differ), except
query_info.execution_time_ms; an answer shown without query_info is
compared without it. Each aggregation example runs twice, the second time
with ?engine=rows, so that the row path gives the documented answer too.

HTML comments just before a block steer the test:
  <!-- doc-test: setup -->          run this block to load the data set
  <!-- doc-test: server ARGS... --> run the example on a server started
                                     with these extra options (same data)
  <!-- doc-test: xfail REASON -->   the server does not give this answer
                                     yet (an engine bug, named in REASON);
                                     strict, so a fix makes the test fail
                                     until the mark is removed

`python3 tests/api/test_doc_examples.py --update` runs every example and
rewrites the answer blocks from what the server says (keeping or leaving
out query_info as each block does; xfail blocks are left alone). Read the
diff before committing it: the point is that a person checked each
answer against the data set.
"""
import glob
import json
import os
import re
import subprocess
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from conftest import ROOT, Server  # noqa: E402

DOCS = [os.path.join(ROOT, "docs", "aggregation.md")] + \
    sorted(glob.glob(os.path.join(ROOT, "docs", "aggregation", "*.md")))

FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.S | re.M)
MARK = re.compile(r"<!--\s*doc-test:\s*(\w+)\s*(.*?)\s*-->")


# --- reading the documents -----------------------------------------------

class Block:
    def __init__(self, path, lang, text, start, end, marks):
        self.path, self.lang, self.text = path, lang, text
        self.start, self.end = start, end    # offsets of the whole fence
        self.marks = marks                   # {name: argument}

    @property
    def line(self):
        with open(self.path) as f:
            return f.read()[:self.start].count("\n") + 1


def read_blocks(path):
    with open(path) as f:
        doc = f.read()
    blocks, last_end = [], 0
    for m in FENCE.finditer(doc):
        between = doc[last_end:m.start()]
        marks = {}
        # Marks count when nothing but blank lines separates them from
        # the block.
        tail = between.rstrip("\n").rsplit("\n", 1)[-1]
        for mk in MARK.finditer(tail):
            marks[mk.group(1)] = mk.group(2)
        blocks.append(Block(path, m.group(1), m.group(2), m.start(), m.end(),
                            marks))
        last_end = m.end()
    return blocks


class Example:
    def __init__(self, command, answer):
        self.command, self.answer = command, answer

    @property
    def name(self):
        return "%s:%d" % (os.path.relpath(self.command.path, ROOT),
                          self.command.line)

    def server_args(self):
        return tuple(self.command.marks.get("server", "").split())


def examples():
    out = []
    for path in DOCS:
        blocks = read_blocks(path)
        for a, b in zip(blocks, blocks[1:]):
            if a.lang == "sh" and "curl" in a.text and b.lang == "json" \
                    and "setup" not in a.marks:
                out.append(Example(a, b))
    return out


def setup_blocks():
    return [b for b in read_blocks(DOCS[0]) if "setup" in b.marks]


# --- JSON with its number tokens kept ------------------------------------

class Num:
    """A number as written: 1 and 1.0 stay different."""

    def __init__(self, text):
        self.text = text

    def __eq__(self, other):
        return isinstance(other, Num) and other.text == self.text

    def __repr__(self):
        return self.text


def parse(text):
    return placeholders(json.loads(text, parse_int=Num, parse_float=Num,
                                   parse_constant=Num))


GENERATED_ID = re.compile(r"\b(ns|bkt|obj|blob|key)_[0-9A-Za-z]{20}\b")


def placeholders(v):
    """Identifiers the server generates differ from run to run: the pages
    show them as ns_... and so does the comparison."""
    if isinstance(v, str):
        return GENERATED_ID.sub(lambda m: m.group(1) + "_...", v)
    if isinstance(v, dict):
        return {placeholders(k): placeholders(x) for k, x in v.items()}
    if isinstance(v, list):
        return [placeholders(x) for x in v]
    return v


def without_timing(answer, keep_query_info):
    if isinstance(answer, dict) and "query_info" in answer:
        answer = dict(answer)
        if not keep_query_info:
            del answer["query_info"]
        elif isinstance(answer["query_info"], dict):
            answer["query_info"] = dict(answer["query_info"],
                                        execution_time_ms=None)
    return answer


def render(v, indent=0, width=88, lead=0):
    """JSON laid out for reading: a value on one line when it fits (lead:
    characters already on its first line), else one member per line."""
    flat = render_flat(v)
    if indent + lead + len(flat) <= width or not isinstance(v, (dict, list)) \
            or not v:
        return flat
    pad = " " * (indent + 2)
    if isinstance(v, dict):
        items = []
        for k, x in v.items():
            key = json.dumps(k) + ": "
            items.append(pad + key + render(x, indent + 2, width, len(key)))
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    if not any(isinstance(x, (dict, list)) for x in v):
        return "[" + fill([render_flat(x) for x in v], indent + 1 + lead,
                          width) + "]"
    items = [pad + render(x, indent + 2, width) for x in v]
    return "[\n" + ",\n".join(items) + "\n" + " " * indent + "]"


def fill(words, column, width):
    """Scalars of a list, as many to a line as fit, aligned after '['."""
    lines, line = [], ""
    for w in words:
        if line and column + len(line) + len(w) + 2 > width:
            lines.append(line + ",")
            line = ""
        line = line + ", " + w if line else w
    lines.append(line)
    return ("\n" + " " * column).join(lines)


def render_flat(v):
    if isinstance(v, Num):
        return v.text
    if isinstance(v, dict):
        return "{" + ", ".join("%s: %s" % (json.dumps(k), render_flat(x))
                               for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ", ".join(render_flat(x) for x in v) + "]"
    return json.dumps(v, ensure_ascii=False)


# --- running them ---------------------------------------------------------

def run_shell(command, server, cwd):
    env = dict(os.environ, TALLY=server.url, KEY=server.key)
    p = subprocess.run(["bash", "-e", "-c", command], env=env, cwd=cwd,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, "%s\nstderr: %s" % (command, p.stderr)
    return p.stdout


def rows_variant(command):
    """The same command on the row path."""
    return re.sub(r'(/objects/aggregate)(\?([^"\s]*))?"',
                  lambda m: m.group(1) + "?" +
                  (m.group(3) + "&" if m.group(3) else "") + 'engine=rows"',
                  command)


class Servers:
    """One server per set of extra options, each loaded by the set-up
    blocks of docs/aggregation.md."""

    def __init__(self):
        self.running = {}
        self.work = tempfile.mkdtemp(prefix="tally-doc-")

    def get(self, args):
        if args not in self.running:
            s = Server(args=args).start()
            self.running[args] = s
            for b in setup_blocks():
                out = run_shell(b.text, s, self.work)
                assert '"success":false' not in out and '"detail"' not in out, out
        return self.running[args]

    def close(self):
        for s in self.running.values():
            s.stop()
            s.cleanup()
        subprocess.run(["rm", "-rf", self.work])


@pytest.fixture(scope="module")
def servers():
    s = Servers()
    yield s
    s.close()


def answer_of(example, servers, command=None):
    server = servers.get(example.server_args())
    out = run_shell(command or example.command.text, server, servers.work)
    return parse(out)


def test_setup_loads_the_data_set(servers):
    blocks = setup_blocks()
    assert blocks, "docs/aggregation.md has no set-up blocks"
    server = servers.get(())
    out = run_shell('curl -s "$TALLY/v1/buckets/clips" '
                    '-H "Authorization: Bearer $KEY" -H "X-Namespace: demo"',
                    server, servers.work)
    assert json.loads(out)["object_count"] == 12


def test_every_page_has_a_checked_example():
    pages = {e.command.path for e in examples()}
    assert set(DOCS) <= pages, sorted(set(DOCS) - pages)


def params():
    out = []
    for e in examples():
        marks = []
        if "xfail" in e.command.marks:
            marks.append(pytest.mark.xfail(reason=e.command.marks["xfail"],
                                           strict=True))
        out.append(pytest.param(e, id=e.name, marks=marks))
    return out


@pytest.mark.parametrize("example", params())
def test_example_answer(example, servers):
    shown = parse(example.answer.text)
    keep = isinstance(shown, dict) and "query_info" in shown
    want = without_timing(shown, keep)
    got = without_timing(answer_of(example, servers), keep)
    assert got == want, "%s\nserver said:\n%s" % (example.name, render(got))
    if "/objects/aggregate" in example.command.text:
        rows = without_timing(
            answer_of(example, servers, rows_variant(example.command.text)),
            keep)
        assert rows == want, "%s (engine=rows)\nserver said:\n%s" % (
            example.name, render(rows))


# --- rewriting the answers ------------------------------------------------

def update():
    servers = Servers()
    try:
        for path in DOCS:
            with open(path) as f:
                doc = f.read()
            edits = []
            for e in examples():
                if e.command.path != path or "xfail" in e.command.marks:
                    continue
                shown = None
                try:
                    shown = parse(e.answer.text)
                except ValueError:
                    pass
                keep = isinstance(shown, dict) and "query_info" in shown
                got = answer_of(e, servers)
                if not keep and isinstance(got, dict):
                    got.pop("query_info", None)
                text = "```json\n" + render(got) + "\n```\n"
                edits.append((e.answer.start, e.answer.end, text))
            for start, end, text in sorted(edits, reverse=True):
                doc = doc[:start] + text + doc[end:]
            with open(path, "w") as f:
                f.write(doc)
            print("updated %s (%d answers)" % (os.path.relpath(path, ROOT),
                                              len(edits)))
    finally:
        servers.close()


if __name__ == "__main__":
    if sys.argv[1:] == ["--update"]:
        update()
    else:
        sys.exit("usage: %s --update" % sys.argv[0])
