'use strict';
/*
 * diffgen.js - the objects and requests of tests/diff (gen.js and
 * requests.js, the mingo differential test's seeded generator) for the
 * differential test between backends: prints one JSON document
 * {lines, requests} for a seed.
 *
 *   node tests/clickhouse/diffgen.js SEED OBJECTS REQUESTS
 *
 * Two changes to what tests/diff sends, both because two servers answer
 * here: blobs get fixed ids (a server makes up the ids it is not given),
 * and lines are sorted by (created_at, object_id), the storage order of
 * the ClickHouse backend, so that the embedded store's insertion order
 * is the same order.
 */
const { makeRng, makeObject, toJsonLine } = require('../diff/gen');
const { makeRequest, makePools } = require('../diff/requests');

const [seed, nobj, nreq] = process.argv.slice(2).map(Number);
const rng = makeRng(seed);
const objects = [];
for (let i = 0; i < nobj; i++) {
    const o = makeObject(rng, i);
    (o.blobs || []).forEach((b, j) => {
        b.blob_id = 'blob_d' + String(i).padStart(5, '0') + 'x' + j;
    });
    objects.push(o);
}
const pools = makePools(objects);
const requests = [];
for (let i = 0; i < nreq; i++)
    requests.push(makeRequest(rng, pools));
objects.sort((a, b) => (a.created_at < b.created_at ? -1 :
    a.created_at > b.created_at ? 1 : a.object_id < b.object_id ? -1 : 1));
process.stdout.write(JSON.stringify({
    lines: objects.map(toJsonLine), requests }));
