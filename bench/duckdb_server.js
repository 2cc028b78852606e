// DuckDB as a long-lived benchmark peer: loads the NDJSON file into a native
// table once, then answers SQL requests read from stdin, one JSON document a
// line, with one JSON document a line on stdout. bench.py owns the process.
//
//   node duckdb_server.js --file DATA.ndjson --schema duckdb_schema.sql --threads 2
//
// Protocol (every line is one JSON object):
//   started:  {"ready": true, "version", "load_ms", "rows", "rss_mb"}
//             or {"ready": false, "error"} when the load failed
//   request:  {"sql": "...", "rows": true|false}
//   answer:   {"ok": true, "ms", "cpu_ms", "columns"?, "rows"?}
//             or {"ok": false, "error"}
// "ms" is wall time around the query and the reading of its whole result,
// taken with performance.now(); rows are sent only when asked for, so timed
// runs do not pay for encoding them.
"use strict";
const fs = require("fs");
const readline = require("readline");
const { DuckDBInstance } = require("@duckdb/node-api");

function arg(name, def) {
    const i = process.argv.indexOf("--" + name);
    return i >= 0 ? process.argv[i + 1] : def;
}

function send(obj) {
    process.stdout.write(JSON.stringify(obj) + "\n");
}

function rssMB() {
    const s = fs.readFileSync("/proc/self/status", "utf8");
    const m = s.match(/VmRSS:\s+(\d+) kB/);
    return m ? Math.round(parseInt(m[1], 10) / 1024) : null;
}

// The schema file is a read_json(...) call with a {FILE} placeholder.
function sourceSql(schemaPath, file) {
    return fs.readFileSync(schemaPath, "utf8").replace(/^--.*$/mg, "")
        .replace("{FILE}", file.replace(/'/g, "''"));
}

async function load(con, schemaPath, file, threads) {
    await con.run("SET threads = " + threads);
    const t0 = performance.now();
    await con.run("CREATE TABLE objects AS SELECT * FROM " + sourceSql(schemaPath, file));
    const loadMs = performance.now() - t0;
    const count = (await con.runAndReadAll("SELECT count(*) FROM objects")).getRows()[0][0];
    const version = (await con.runAndReadAll("SELECT version()")).getRows()[0][0];
    return { ready: true, version: String(version), load_ms: +loadMs.toFixed(1),
             rows: Number(count), rss_mb: rssMB() };
}

async function answer(con, req) {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const reader = await con.runAndReadAll(req.sql);
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const cpuMs = (cpu.user + cpu.system) / 1000;
    const out = { ok: true, ms: +ms.toFixed(3), cpu_ms: +cpuMs.toFixed(3) };
    if (req.rows) {
        out.columns = reader.columnNames();
        out.rows = reader.getRowsJson();
    }
    return out;
}

async function serve(con) {
    const rl = readline.createInterface({ input: process.stdin, terminal: false });
    for await (const line of rl) {
        if (!line.trim()) continue;
        try {
            send(await answer(con, JSON.parse(line)));
        } catch (e) {
            send({ ok: false, error: String(e && e.message ? e.message : e) });
        }
    }
}

(async () => {
    const inst = await DuckDBInstance.create(":memory:");
    const con = await inst.connect();
    try {
        send(await load(con, arg("schema"), arg("file"), parseInt(arg("threads", "2"), 10)));
    } catch (e) {
        send({ ready: false, error: String(e && e.message ? e.message : e) });
        process.exit(1);
    }
    await serve(con);
})().catch((e) => { console.error(e); process.exit(1); });
