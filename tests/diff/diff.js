'use strict';
/*
 * diff.js - the differential test of the aggregation engine.
 *
 * Starts the real server on a loopback port over a fresh data folder,
 * creates a bucket whose schema declares a date and a datetime field,
 * imports seeded random objects, then sends seeded random aggregation
 * requests. Each answer is compared exactly with mingo running the
 * server's own query_info.pipeline over the same objects (read back from
 * the server, date fields as Date). Filters are also checked through
 * matched_objects and, for some requests, through objects/list.
 *
 * Environment:
 *   TALLY_BIN            the server binary (default build/tally)
 *   TALLY_DIFF_SEED      seed (default 20240305)
 *   TALLY_DIFF_REQUESTS  number of requests (default 1500)
 *   TALLY_DIFF_OBJECTS   number of objects (default 400)
 *   TALLY_DIFF_KEEP      keep the data folder (for `tally aggregate`)
 *
 * Prints the seed first and "N passed, M failed" last (requests that
 * matched and did not); exits non-zero on any mismatch. A run that never
 * sent one of the contract's request fields or options (requests.js,
 * ALL_FEATURES) counts one more failure.
 */
const { spawn } = require('child_process');
const fs = require('fs');
const net = require('net');
const os = require('os');
const path = require('path');

const { makeRng, makeObject, toJsonLine } = require('./gen');
const { makeRequest, makePools, features, ALL_FEATURES } =
    require('./requests');
const { runPipeline } = require('./oracle');

const ROOT = path.resolve(__dirname, '..', '..');
const BIN = process.env.TALLY_BIN || path.join(ROOT, 'build', 'tally');
const SEED = Number(process.env.TALLY_DIFF_SEED || 20240305);
const REQUESTS = Number(process.env.TALLY_DIFF_REQUESTS || 1500);
const OBJECTS = Number(process.env.TALLY_DIFF_OBJECTS || 400);
const DATE_FIELDS = [['created_at'], ['updated_at'], ['metadata', 'when'],
    ['metadata', 'at']];
const SHOW_MAX = 10;

/* --- the server -------------------------------------------------------- */

function freePort() {
    return new Promise((resolve, reject) => {
        const s = net.createServer();
        s.once('error', reject);
        s.listen(0, '127.0.0.1', () => {
            const { port } = s.address();
            s.close(() => resolve(port));
        });
    });
}

async function startServer(dataDir) {
    const port = await freePort();
    const proc = spawn(BIN, ['serve', '--data', dataDir, '--listen',
        `127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout.on('data', (d) => { out += d; });
    proc.stderr.on('data', (d) => { out += d; });
    const url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 20000;
    while (Date.now() < deadline) {
        if (proc.exitCode !== null || proc.signalCode !== null)
            throw new Error('tally exited early:\n' + out);
        const m = /api_key: (sk_\w+)/.exec(out);
        if (m) {
            try {
                const r = await fetch(url + '/healthz');
                if (r.status === 200)
                    return { proc, url, key: m[1], log: () => out };
            } catch (e) {
                /* not listening yet */
            }
        }
        await new Promise((res) => setTimeout(res, 50));
    }
    proc.kill('SIGKILL');
    throw new Error('tally did not become ready:\n' + out);
}

async function stopServer(server) {
    if (server.proc.exitCode !== null || server.proc.signalCode !== null)
        return;
    const exited = new Promise((res) => server.proc.once('exit', res));
    server.proc.kill('SIGTERM');
    const timer = setTimeout(() => server.proc.kill('SIGKILL'), 10000);
    await exited;
    clearTimeout(timer);
}

function client(server, ns) {
    const headers = { Authorization: 'Bearer ' + server.key };
    if (ns)
        headers['X-Namespace'] = ns;
    return async (method, p, body, type = 'application/json') => {
        const r = await fetch(server.url + p, {
            method,
            headers: { ...headers, 'Content-Type': type },
            body: typeof body === 'string' ? body : JSON.stringify(body),
        });
        const text = await r.text();
        let json = null;
        try {
            json = JSON.parse(text);
        } catch (e) {
            /* reported by the caller */
        }
        return { status: r.status, text, json };
    };
}

/* --- the data ---------------------------------------------------------- */

async function setUp(server, rng) {
    const admin = client(server);
    const ns = await admin('POST', '/v1/namespaces',
        { namespace_name: 'diff' });
    if (ns.status !== 200)
        throw new Error('namespace: ' + ns.text);
    const call = client(server, ns.json.namespace_id);
    const b = await call('POST', '/v1/buckets', {
        bucket_name: 'diff',
        bucket_schema: { properties: { when: { type: 'date' },
            at: { type: 'datetime' } } },
    });
    if (b.status !== 200)
        throw new Error('bucket: ' + b.text);

    const lines = [];
    for (let i = 0; i < OBJECTS; i++)
        lines.push(toJsonLine(makeObject(rng, i)));
    const imp = await call('POST', '/v1/buckets/diff/objects/import',
        lines.join('\n') + '\n', 'application/x-ndjson');
    if (imp.status !== 200 || imp.json.imported !== OBJECTS)
        throw new Error('import: ' + imp.text);
    return { call, objects: await readBack(call) };
}

/* The stored objects, in insertion order, as JavaScript values with the
 * date fields as Date. */
async function readBack(call) {
    const out = [];
    let cursor = null;
    do {
        const q = cursor ? '&cursor=' + encodeURIComponent(cursor) : '';
        const r = await call('POST', '/v1/buckets/diff/objects/list?limit=1000'
            + q, {});
        if (r.status !== 200)
            throw new Error('list: ' + r.text);
        out.push(...r.json.results);
        cursor = r.json.pagination && r.json.pagination.next_cursor;
    } while (cursor);
    out.sort((a, b) => (a.object_id < b.object_id ? -1 : 1));
    for (const o of out) {
        for (const p of DATE_FIELDS) {
            const parent = p.length === 1 ? o : o[p[0]];
            const k = p[p.length - 1];
            if (parent && typeof parent[k] === 'string')
                parent[k] = new Date(parent[k]);
        }
    }
    return out;
}

/* --- comparing --------------------------------------------------------- */

function normalise(v) {
    if (v instanceof Date)
        return v.toISOString();
    if (Array.isArray(v))
        return v.map(normalise);
    if (v && typeof v === 'object') {
        const out = {};
        for (const k of Object.keys(v))
            out[k] = normalise(v[k]);
        return out;
    }
    return v;
}

function same(a, b) {
    return JSON.stringify(normalise(a)) === JSON.stringify(normalise(b));
}

async function listIds(call, filters) {
    const ids = [];
    let cursor = null;
    do {
        const q = cursor ? '&cursor=' + encodeURIComponent(cursor) : '';
        const r = await call('POST', '/v1/buckets/diff/objects/list?limit=1000'
            + q, { filters });
        if (r.status !== 200)
            return 'HTTP ' + r.status + ' ' + r.text;
        ids.push(...r.json.results.map((o) => o.object_id));
        cursor = r.json.pagination && r.json.pagination.next_cursor;
    } while (cursor);
    return ids;
}

async function rowsAnswered(call) {
    const r = await call('GET', '/metrics');
    const m = /^tally_aggregations_by_rows_total (\d+)$/m.exec(r.text);
    if (!m)
        throw new Error('no tally_aggregations_by_rows_total in /metrics');
    return Number(m[1]);
}

/* The server has two executors: the column path answers what it can, the
 * row path (?engine=rows) answers everything. Both must give the same
 * answer, to the byte apart from the timing. */
function withoutTiming(answer) {
    const copy = JSON.parse(JSON.stringify(answer));
    delete copy.query_info.execution_time_ms;
    return JSON.stringify(copy);
}

async function bothPaths(call, req, paths) {
    const url = '/v1/buckets/diff/objects/aggregate';
    const before = await rowsAnswered(call);
    const r = await call('POST', url, req);
    const byColumns = (await rowsAnswered(call)) === before;
    if (r.status !== 200 || !r.json)
        return { error: { why: 'HTTP ' + r.status, server: r.text } };
    if (byColumns)
        paths.columns++;
    const rows = await call('POST', url + '?engine=rows', req);
    if (byColumns && (rows.status !== 200 || !rows.json ||
                      withoutTiming(rows.json) !== withoutTiming(r.json)))
        return { error: { why: 'the column and row paths disagree',
            server: r.text, rows: rows.text } };
    return { got: r.json };
}

/* One request: null when the server and mingo agree, else a report. */
async function check(call, objects, req, withList, paths) {
    const answer = await bothPaths(call, req, paths);
    if (answer.error)
        return answer.error;
    const got = answer.got;
    const pipeline = got.query_info.pipeline;
    let want;
    try {
        want = runPipeline(objects, pipeline);
    } catch (e) {
        return { why: 'mingo failed: ' + e.message, server: got, pipeline };
    }
    const problems = [];
    if (!same(got.results, want.results))
        problems.push('results differ');
    if (got.total_groups !== got.results.length)
        problems.push('total_groups is not the number of results');
    if (got.query_info.scanned_objects !== objects.length)
        problems.push('scanned_objects');
    if (got.query_info.matched_objects !== want.info.matched)
        problems.push(`matched_objects ${got.query_info.matched_objects} ` +
            `!= ${want.info.matched}`);
    if (got.query_info.groups_before_limit !== want.info.beforeLimit)
        problems.push(`groups_before_limit ${got.query_info.groups_before_limit}`
            + ` != ${want.info.beforeLimit}`);
    if (got.query_info.pipeline_stages !== pipeline.length)
        problems.push('pipeline_stages');
    if (withList && req.filters) {
        const ids = await listIds(call, req.filters);
        const wantIds = runPipeline(objects, pipeline.slice(0, 1))
            .results.map((o) => o.object_id);
        if (!same(ids, wantIds))
            problems.push('objects/list disagrees with $match: ' +
                JSON.stringify(ids).slice(0, 300));
    }
    if (problems.length === 0)
        return null;
    return { why: problems.join('; '), server: got.results,
        mingo: normalise(want.results), pipeline };
}

function report(n, req, bad) {
    console.log(`--- mismatch in request ${n}: ${bad.why}`);
    console.log('request:  ' + JSON.stringify(req));
    console.log('server:   ' + JSON.stringify(bad.server));
    if (bad.rows !== undefined)
        console.log('rows:     ' + bad.rows);
    if (bad.mingo !== undefined)
        console.log('mingo:    ' + JSON.stringify(bad.mingo));
    if (bad.pipeline !== undefined)
        console.log('pipeline: ' + JSON.stringify(bad.pipeline));
}

async function main() {
    const started = Date.now();
    console.log(`seed ${SEED} (TALLY_DIFF_SEED), ${REQUESTS} requests over ` +
        `${OBJECTS} objects`);
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tally-diff-'));
    let server = null, passed = 0, failed = 0, current = null;
    try {
        server = await startServer(dataDir);
        const rng = makeRng(SEED);
        const { call, objects } = await setUp(server, rng);
        const pools = makePools(objects);
        const covered = new Set();
        const paths = { columns: 0 };
        for (let i = 0; i < REQUESTS; i++) {
            const req = makeRequest(rng, pools);
            current = req;
            features(req).forEach((f) => covered.add(f));
            const bad = await check(call, objects, req, i % 5 === 0,
                paths);
            if (bad === null) {
                passed++;
                continue;
            }
            failed++;
            if (failed <= SHOW_MAX)
                report(i, req, bad);
            else
                console.log(`--- mismatch in request ${i}: ${bad.why}: ` +
                    JSON.stringify(req));
        }
        current = null;
        console.log(`column path answered ${paths.columns} of ${REQUESTS}` +
            ' requests, each also asked of the row path');
        if (paths.columns === 0) {
            console.log('the column path never answered');
            failed++;
        }
        const missing = ALL_FEATURES.filter((f) => !covered.has(f));
        console.log(`coverage: ${ALL_FEATURES.length - missing.length} of ` +
            `${ALL_FEATURES.length} request fields and options sent`);
        if (missing.length > 0) {
            console.log('never sent (raise TALLY_DIFF_REQUESTS): ' +
                missing.join(' '));
            failed++;
        }
    } catch (e) {
        console.log('stopped: ' + e.message);
        if (current)
            console.log('request: ' + JSON.stringify(current));
        if (server)
            console.log('server output (end):\n' + server.log().slice(-3000) +
                '\nserver exit: ' + (server.proc.signalCode ||
                server.proc.exitCode));
        failed++;
    } finally {
        if (server)
            await stopServer(server);
        if (process.env.TALLY_DIFF_KEEP)
            console.log('data kept in ' + dataDir);
        else
            fs.rmSync(dataDir, { recursive: true, force: true });
    }
    console.log(`time ${((Date.now() - started) / 1000).toFixed(1)} s`);
    console.log(`${passed} passed, ${failed} failed`);
    process.exitCode = failed ? 1 : 0;
}

if (require.main === module)
    main();

module.exports = { startServer, stopServer, setUp, normalise };
