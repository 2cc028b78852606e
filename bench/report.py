"""The Markdown report of one bench.py run, from its results JSON.

  /usr/bin/python3 bench/report.py $BENCH_DATA/results/bench_n1000000.json
"""
import json
import sys

LABELS = {"tally": "Tally", "tally_rows": "Tally rows", "duckdb": "DuckDB",
          "clickhouse": "ClickHouse", "postgres": "PG jsonb", "tally_ch": "Tally on CH",
          "ch_direct": "CH direct"}
PEERS = ("duckdb", "clickhouse")
STRICT = ("Q1", "Q2", "Q4", "Q6")    # Tally must be twice as fast as the best peer
TARGET_ALL = 1.0
TARGET_STRICT = 0.5
TARGET_PG = 0.05
TARGET_CH_DIRECT = 1.2   # Tally on ClickHouse / hand-written SQL, same cluster


def median(res, system, q, kind="wall"):
    s = (res["timings"].get(system, {}).get(q) or {}).get(kind)
    return s["median"] if s else None


def fmt_ms(v):
    if v is None:
        return "–"
    return "%.0f" % v if v >= 100 else "%.1f" % v


def fmt_ratio(v):
    return "–" if v is None else "%.2f" % v


def verdict(ratio, target):
    if ratio is None:
        return "n/a"
    return "met" if ratio <= target else "**not met**"


def target_of(q):
    return TARGET_STRICT if q in STRICT else TARGET_ALL


def ratios(res, q, kind="wall"):
    """(Tally / best of DuckDB and ClickHouse, Tally / PostgreSQL, best peer)."""
    t = median(res, "tally", q, kind)
    peers = [(median(res, p, q, kind), p) for p in PEERS if median(res, p, q, kind)]
    best = min(peers) if peers else (None, None)
    pg = median(res, "postgres", q, kind)
    r_best = t / best[0] if t and best[0] else None
    r_pg = t / pg if t and pg else None
    return r_best, r_pg, best[1]


NUMERIC_NOTE = ("agrees with DuckDB once numeric-string `metadata.views` are not "
                "counted as numbers")


def explained(entry):
    """A difference that Tally's typing rule accounts for entirely."""
    return bool(entry and entry["notes"]) and entry.get("vs_numeric_views") == []


def check_cell(entry):
    """ok, or MISMATCH with what explains it when something does."""
    if entry is None:
        return "n/a"
    ties = " (%d tied at the cut)" % entry["ties_at_cut"] if entry.get("ties_at_cut") else ""
    if not entry["notes"]:
        return "ok" + ties
    if explained(entry):
        return "**MISMATCH**: " + NUMERIC_NOTE
    return "**MISMATCH**"


def mismatches(res):
    """(unexplained, explained) differences of Tally's answers."""
    bad, typing = [], []
    for q, c in res["crosscheck"].items():
        for system in ("tally", "tally_rows"):
            e = c.get(system)
            if e and e["notes"]:
                (typing if explained(e) else bad).append("%s %s" % (q, LABELS[system]))
        if c.get("tally_vs_rows"):
            bad.append("%s column path vs row path" % q)
        for system in ("tally_ch", "ch_direct"):
            if c.get(system + "_vs_tally"):
                bad.append("%s %s vs Tally" % (q, LABELS[system]))
    return bad, typing


def section_headline(res, lines):
    errs = res.get("errors", [])
    bad, typing = mismatches(res)
    if bad:
        lines.append("**ANSWER MISMATCH, unexplained: %s.** See the cross-check below."
                     % ", ".join(bad))
        lines.append("")
    if typing:
        lines.append("**Answers differ from DuckDB's in %s**: Tally skips numeric strings in sums "
                     "and averages (its contract), the shared DuckDB load casts them to BIGINT; "
                     "with that rule applied to DuckDB the answers agree." % ", ".join(typing))
        lines.append("")
    if errs:
        lines.append("**%d error(s) during the run**; see Errors at the end." % len(errs))
        lines.append("")


def section_times(res, lines):
    qs = res["queries"]
    lines.append("## Query time, median of %d timed runs (Tally row path: %d), ms, client wall time"
                 % (res["runs"], res["row_runs"]))
    lines.append("")
    lines.append("| query | " + " | ".join(LABELS.values()) + " | Tally / best peer | target "
                 "| Tally / PG | target ≤ 0.05 | answer vs DuckDB |")
    lines.append("|---|" + "---:|" * len(LABELS) + "---:|---|---:|---|---|")
    for q in qs:
        r_best, r_pg, best = ratios(res, q)
        target = target_of(q)
        cells = [fmt_ms(median(res, s, q)) for s in LABELS]
        lines.append("| %s | %s | %s (%s) | ≤ %.1f: %s | %s | %s | %s |" % (
            q, " | ".join(cells), fmt_ratio(r_best), LABELS.get(best, "–"), target,
            verdict(r_best, target), fmt_ratio(r_pg), verdict(r_pg, TARGET_PG),
            check_cell(res["crosscheck"].get(q, {}).get("tally"))))
    lines.append("")
    met = sum(1 for q in qs if verdict(ratios(res, q)[0], target_of(q)) == "met")
    met_pg = sum(1 for q in qs if verdict(ratios(res, q)[1], TARGET_PG) == "met")
    pg_ran = any(ratios(res, q)[1] is not None for q in qs)
    lines.append("Targets met: %d of %d against the best peer%s." % (
        met, len(qs), ", %d of %d against PostgreSQL" % (met_pg, len(qs)) if pg_ran else ""))
    lines.append("")


def section_spread(res, lines):
    lines.append("### Spread of the timed runs (min–max ms)")
    lines.append("")
    lines.append("| query | " + " | ".join(LABELS.values()) + " |")
    lines.append("|---|" + "---:|" * len(LABELS))
    for q in res["queries"]:
        cells = []
        for s in LABELS:
            w = (res["timings"].get(s, {}).get(q) or {}).get("wall")
            cells.append("%s–%s" % (fmt_ms(w["min"]), fmt_ms(w["max"])) if w else "–")
        lines.append("| %s | %s |" % (q, " | ".join(cells)))
    lines.append("")


def section_cpu(res, lines):
    lines.append("### CPU time of the serving process, median, ms")
    lines.append("")
    lines.append("Tally, ClickHouse: the server process (all threads) from /proc, 10 ms ticks; "
                 "DuckDB: the node process (`process.cpuUsage`); PostgreSQL: the backend plus "
                 "finished parallel workers, 10 ms ticks. Steadier than wall time on a busy "
                 "machine, but coarse for queries under ~50 ms.")
    lines.append("")
    lines.append("The last column is Tally's own `query_info.execution_time_ms` (wall time "
                 "inside the server, without HTTP and the answer's transfer).")
    lines.append("")
    lines.append("| query | " + " | ".join(LABELS.values())
                 + " | Tally / best peer (CPU) | Tally server-side wall ms |")
    lines.append("|---|" + "---:|" * (len(LABELS) + 2))
    for q in res["queries"]:
        cells = [fmt_ms(median(res, s, q, "cpu")) for s in LABELS]
        ratio = fmt_ratio(ratios(res, q, "cpu")[0])
        lines.append("| %s | %s | %s | %s |" % (q, " | ".join(cells), ratio,
                                               fmt_ms(median(res, "tally", q, "server"))))
    lines.append("")


def section_check(res, lines):
    lines.append("## Cross-check of the answers (warm-up run, reference DuckDB)")
    lines.append("")
    lines.append("Numbers with relative tolerance 1e-9, arrays as sets, timestamps to the "
                 "millisecond; Q6's bucket labels mapped to Tally's `lo-hi` form. A request "
                 "with a limit is checked against DuckDB's whole answer (its SQL without "
                 "LIMIT): groups tied with the last one returned may differ, since SQL leaves "
                 "ties unordered and Tally orders them by key.")
    lines.append("")
    lines.append("| query | Tally | Tally rows | Tally column = row path | ClickHouse | PG jsonb "
                 "| Tally on CH | Tally on CH = Tally | CH direct = Tally |")
    lines.append("|---|---|---|---|---|---|---|---|---|")
    details = []
    for q in res["queries"]:
        c = res["crosscheck"].get(q, {})
        rows_same = c.get("tally_vs_rows")
        cells = [check_cell(c.get("tally")), check_cell(c.get("tally_rows")),
                 same_cell(rows_same), check_cell(c.get("clickhouse")),
                 check_cell(c.get("postgres")), check_cell(c.get("tally_ch")),
                 same_cell(c.get("tally_ch_vs_tally")), same_cell(c.get("ch_direct_vs_tally"))]
        lines.append("| %s | %s |" % (q, " | ".join(cells)))
        for system in ("tally", "tally_rows", "clickhouse", "postgres", "tally_ch"):
            e = c.get(system)
            if e and e["notes"]:
                details.append("- %s %s vs DuckDB: %s" % (q, LABELS[system], "; ".join(e["notes"])))
                if "vs_numeric_views" in e:
                    rest = e["vs_numeric_views"]
                    details.append("  - vs DuckDB with numeric-string views not counted: %s"
                                   % ("agree" if not rest else "; ".join(rest)))
        if rows_same:
            details.append("- %s Tally column path vs row path: %s" % (q, "; ".join(rows_same)))
        for system in ("tally_ch", "ch_direct"):
            if c.get(system + "_vs_tally"):
                details.append("- %s %s vs Tally: %s" % (q, LABELS[system],
                                                        "; ".join(c[system + "_vs_tally"])))
    lines.append("")
    if details:
        lines.append("Differences:")
        lines.append("")
        lines.extend(details)
        lines.append("")


def same_cell(notes):
    return "n/a" if notes is None else ("yes" if not notes else "**NO**")


def ch_ratio(res, q, a, b):
    x, y = median(res, a, q), median(res, b, q)
    return x / y if x and y else None


def section_clickhouse(res, lines):
    """Tally on ClickHouse against the same cluster queried directly."""
    if not res["timings"].get("tally_ch"):
        return
    ld = res["load"].get("tally_ch", {})
    lines.append("## Tally on ClickHouse (%s shards) against ClickHouse queried directly"
                 % ld.get("shards", "?"))
    lines.append("")
    lines.append("Tally on CH: `tally serve --backend clickhouse://...` over a cluster of "
                 "clickhouse-server processes on this machine (tests/clickhouse/cluster.sh), "
                 "the objects imported through Tally's HTTP import. CH direct: the hand-written "
                 "SQL of bench/clickhouse_direct/ over the same Distributed table, sent to the "
                 "same entry node. ClickHouse: the single server of the peer columns, loaded "
                 "with its own flat table. Medians of wall ms; CPU is Tally's plus every "
                 "node's.")
    lines.append("")
    lines.append("| query | Tally | Tally on CH | CH direct | Tally on CH / CH direct "
                 "| target ≤ %.1f | Tally on CH / Tally | ClickHouse (own table) "
                 "| CPU ms, Tally on CH / CH direct | SQL Tally sent, bytes |" % TARGET_CH_DIRECT)
    lines.append("|---|---:|---:|---:|---:|---|---:|---:|---:|---:|")
    sql = res.get("tally_ch", {}).get("sql", {})
    met = 0
    for q in res["queries"]:
        r_direct = ch_ratio(res, q, "tally_ch", "ch_direct")
        met += verdict(r_direct, TARGET_CH_DIRECT) == "met"
        cpu = "%s / %s" % (fmt_ms(median(res, "tally_ch", q, "cpu")),
                           fmt_ms(median(res, "ch_direct", q, "cpu")))
        stmts = sql.get(q) or []
        size = "%d (%d statement%s)" % (sum(len(x) for x in stmts), len(stmts),
                                        "" if len(stmts) == 1 else "s") if stmts else "–"
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            q, fmt_ms(median(res, "tally", q)), fmt_ms(median(res, "tally_ch", q)),
            fmt_ms(median(res, "ch_direct", q)), fmt_ratio(r_direct),
            verdict(r_direct, TARGET_CH_DIRECT), fmt_ratio(ch_ratio(res, q, "tally_ch", "tally")),
            fmt_ms(median(res, "clickhouse", q)), cpu, size))
    lines.append("")
    lines.append("Target Tally on CH / CH direct ≤ %.1f met: %d of %d."
                 % (TARGET_CH_DIRECT, met, len(res["queries"])))
    lines.append("")


def section_cold(res, lines):
    cold = res["tally"].get("cold") or {}
    if not cold:
        return
    lines.append("## Tally: first aggregation after a restart")
    lines.append("")
    lines.append("The server restarted before each query: empty column cache, warm OS page cache.")
    lines.append("")
    lines.append("| query | first run, client ms | first run, server ms | first run, "
                 "server CPU ms | second run, ms | warm median, ms |")
    lines.append("|---|---:|---:|---:|---:|---:|")
    for q in res["queries"]:
        c = cold.get(q)
        if c:
            cells = [c["first_ms"], c["server_first_ms"], c.get("first_cpu_ms"), c["second_ms"],
                     median(res, "tally", q)]
            lines.append("| %s | %s |" % (q, " | ".join(fmt_ms(v) for v in cells)))
    lines.append("")


def mb(v):
    return "–" if v is None else "%.1f MB" % (v / 1e6)


def load_rows_tally(res):
    ld, t = res["load"], res["tally"]
    rows = []
    h = ld.get("tally_http")
    if h:
        rows.append(("Tally HTTP import (chunked NDJSON stream)",
                     "%d objects/s (%s objects in %.1f s; server elapsed %.1f s, server CPU "
                     "%s s; %s rejected)"
                     % (h["objects_per_s"], h["imported"], h["wall_s"],
                        (h["server_elapsed_ms"] or 0) / 1000, h.get("server_cpu_s"),
                        h["rejected"])))
        rows.append(("Tally store after the HTTP import",
                     "data.mdb %s = %.0f bytes/object (used %s)"
                     % (mb(h["data_mdb_bytes"]), h["bytes_per_object"],
                        mb(h.get("store_used_bytes")))))
    o = ld.get("tally_offline")
    if o:
        rows.append(("`tally import` offline, separate folder",
                     "%d objects/s (%d objects in %.1f s, CPU %s s); data.mdb %s = %.0f "
                     "bytes/object"
                     % (o["objects_per_s"], o["imported"], o["wall_s"], o.get("cpu_s"),
                        mb(o["data_mdb_bytes"]), o["bytes_per_object"])))
    m = t.get("metrics") or {}
    if m:
        rows.append(("Tally column cache after all queries",
                     "%s in %d columns = %s bytes per object per cached column"
                     % (mb(m.get("tally_column_cache_bytes")),
                        m.get("tally_column_cache_columns", 0),
                        t.get("cache_bytes_per_object_per_column"))))
        rows.append(("Tally server RSS after the queries",
                     "%s MiB (peak %s MiB): %s MiB anonymous, %s MiB file-backed (the "
                     "mapped data.mdb pages it touched)"
                     % (t.get("rss_mb"), t.get("hwm_mb"), t.get("rss_anon_mb"),
                        t.get("rss_file_mb"))))
        rows.append(("Tally aggregations by the row path (counter)",
                     "%d" % m.get("tally_aggregations_by_rows_total", 0)))
    return rows


def load_rows_peers(res):
    ld, mem = res["load"], res["memory"]
    rows = []
    d = ld.get("duckdb")
    if d:
        m = mem.get("duckdb", {})
        rows.append(("DuckDB load (CREATE TABLE AS SELECT FROM read_json)",
                     "%.1f s; RSS %s MiB after the load, %s MiB at the end (peak %s)"
                     % (d["load_ms"] / 1000, d["rss_after_load_mb"], m.get("rss_mb"),
                        m.get("hwm_mb"))))
    c = ld.get("clickhouse")
    if c:
        m = mem.get("clickhouse", {})
        rows.append(("ClickHouse load (flatten.py into clickhouse-client, OPTIMIZE FINAL)",
                     "%.1f s (%.1f + %.1f s); table %s on disk; server RSS %s MiB (peak %s)"
                     % (c["load_ms"] / 1000, c["flatten_and_insert_ms"] / 1000,
                        c["optimize_final_ms"] / 1000, mb(c["table_bytes"]),
                        m.get("rss_mb"), m.get("hwm_mb"))))
    c = ld.get("tally_ch")
    if c:
        m = mem.get("tally_ch", {})
        rows.append(("Tally on ClickHouse import (HTTP stream into %s shards, then OPTIMIZE "
                     "FINAL on each)" % c["shards"],
                     "%d objects/s (%s objects in %.1f s; OPTIMIZE FINAL %.1f s, then %s "
                     "active parts per shard); tables %s on disk; Tally RSS %s MiB, nodes "
                     "RSS %s MiB"
                     % (c["objects_per_s"], c["imported"], c["import_wall_s"],
                        c["optimize_final_s"], c.get("parts_per_shard", "?"),
                        mb(c["table_bytes"]), m.get("tally_rss_mb"), m.get("nodes_rss_mb"))))
    p = ld.get("postgres")
    if p:
        m = mem.get("postgres", {})
        steps = ", ".join("%s %.1f s" % (k, v / 1000) for k, v in p["steps_ms"].items())
        rows.append(("PostgreSQL jsonb load (COPY + VACUUM ANALYZE)",
                     "%.1f s (steps: %s; GIN index %s); table+index %s; server PSS %s MiB"
                     % (p["load_ms"] / 1000, steps, p["gin_index"], mb(p["table_bytes"]),
                        m.get("pss_mb"))))
    return rows


def section_load(res, lines):
    lines.append("## Load, store and memory (%d objects)" % res["n"])
    lines.append("")
    lines.append("| what | figure |")
    lines.append("|---|---|")
    for what, figure in load_rows_tally(res) + load_rows_peers(res):
        lines.append("| %s | %s |" % (what, figure))
    lines.append("")


def section_machine(res, lines):
    m = res.get("machine", {})
    lines.append("## Machine and load")
    lines.append("")
    lines.append("- %s CPUs (%s usable), %s, cache %s, %s GiB RAM, Linux %s" % (
        m.get("nproc"), m.get("usable_cpus"), m.get("model"), m.get("cache"), m.get("ram_gib"),
        m.get("kernel")))
    la = res.get("loadavg", [])
    if la:
        lines.append("- load average (1, 5, 15 min): " + "; ".join(
            "%s %s: %s" % (x["at"], x["time"], " ".join("%.2f" % v for v in x["loadavg"]))
            for x in la))
    for key, label in (("busiest_processes_at_start", "start"),
                       ("busiest_processes_at_end", "end")):
        if m.get(key):
            lines.append("- busiest processes at the %s (%%CPU over their lifetime, name): %s"
                         % (label, ", ".join(m[key])))
    lines.append("- every system ran with %d threads: Tally `--engine-threads`, "
                 "DuckDB `SET threads`, ClickHouse `max_threads`, PostgreSQL "
                 "`max_parallel_workers_per_gather` = %d"
                 % (res["threads"], res["threads"] - 1))
    lines.append("- run took %s s" % res.get("elapsed_s"))
    lines.append("")


def section_versions(res, lines):
    lines.append("## Versions and command")
    lines.append("")
    for k, v in sorted(res.get("versions", {}).items()):
        lines.append("- %s: %s" % (k, v))
    lines.append("")
    lines.append("```")
    lines.append(res["command"])
    lines.append("```")
    lines.append("")


def section_errors(res, lines):
    errs = res.get("errors", [])
    if not errs:
        return
    lines.append("## Errors")
    lines.append("")
    for e in errs:
        lines.append("- **%s, %s%s**: %s" % (e["system"], e["stage"],
                                             ", " + e["query"] if e.get("query") else "",
                                             e["error"].replace("\n", " ")[:1500]))
    lines.append("")


def render(res):
    lines = ["# Tally against its peers, %d objects" % res["n"], ""]
    section_headline(res, lines)
    section_times(res, lines)
    section_spread(res, lines)
    section_cpu(res, lines)
    section_clickhouse(res, lines)
    section_check(res, lines)
    section_cold(res, lines)
    section_load(res, lines)
    section_machine(res, lines)
    section_versions(res, lines)
    section_errors(res, lines)
    return "\n".join(lines)


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        print(render(json.load(f)))
