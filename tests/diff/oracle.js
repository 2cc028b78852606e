'use strict';
/*
 * oracle.js - runs the server's own query_info.pipeline on mingo, stage
 * by stage, with the adjustments listed in EXCEPTIONS.md where mingo is
 * not MongoDB. Everything else is mingo's answer as it is.
 */
const mingo = require('mingo');

/* --- MongoDB's order of values (BSON comparison) ----------------------- */

function rank(v) {
    if (v === undefined || v === null)
        return 1;
    if (typeof v === 'number')
        return 2;
    if (typeof v === 'string')
        return 3;
    if (v instanceof Date)
        return 7;
    if (Array.isArray(v))
        return 5;
    if (typeof v === 'boolean')
        return 6;
    return 4;
}

function sign(x) {
    return x < 0 ? -1 : x > 0 ? 1 : 0;
}

/* null < numbers < strings < objects < arrays < booleans < dates; strings
 * by UTF-8 bytes; objects member by member (type, then name, then value);
 * arrays element by element; a prefix first. */
function bsonCompare(a, b) {
    const ra = rank(a), rb = rank(b);
    if (ra !== rb)
        return ra < rb ? -1 : 1;
    switch (ra) {
    case 1:
        return 0;
    case 2:
        return sign(a - b);
    case 3:
        return sign(Buffer.compare(Buffer.from(a, 'utf8'),
            Buffer.from(b, 'utf8')));
    case 4: {
        const ka = Object.keys(a), kb = Object.keys(b);
        for (let i = 0; i < ka.length && i < kb.length; i++) {
            const ta = rank(a[ka[i]]), tb = rank(b[kb[i]]);
            if (ta !== tb)
                return ta < tb ? -1 : 1;
            const c = bsonCompare(ka[i], kb[i]) || bsonCompare(a[ka[i]],
                b[kb[i]]);
            if (c)
                return c;
        }
        return sign(ka.length - kb.length);
    }
    case 5:
        for (let i = 0; i < a.length && i < b.length; i++) {
            const c = bsonCompare(a[i], b[i]);
            if (c)
                return c;
        }
        return sign(a.length - b.length);
    case 6:
        return sign(Number(a) - Number(b));
    default:
        return sign(a.getTime() - b.getTime());
    }
}

/* --- helpers ----------------------------------------------------------- */

function getPath(doc, path) {
    let v = doc;
    for (const part of path.split('.')) {
        if (v === null || typeof v !== 'object' || Array.isArray(v))
            return undefined;
        v = v[part];
    }
    return v;
}

/* MongoDB's $sort key of a value: an array sorts by its smallest element
 * ascending and by its largest descending; an empty array before null. */
const EMPTY = Symbol('empty array');
function sortKey(v, dir) {
    if (!Array.isArray(v))
        return v;
    if (v.length === 0)
        return EMPTY;
    return v.reduce((best, x) =>
        (dir > 0 ? bsonCompare(x, best) < 0 : bsonCompare(x, best) > 0) ?
            x : best);
}

function keyCompare(a, b) {
    if (a === EMPTY || b === EMPTY)
        return a === b ? 0 : a === EMPTY ? -1 : 1;
    return bsonCompare(a, b);
}

function mongoSort(docs, spec) {
    const fields = Object.entries(spec);
    return docs.map((d, i) => ({ d, i })).sort((x, y) => {
        for (const [f, dir] of fields) {
            const c = keyCompare(sortKey(getPath(x.d, f), dir),
                sortKey(getPath(y.d, f), dir));
            if (c)
                return c * dir;
        }
        return x.i - y.i;
    }).map((x) => x.d);
}

/* {"$date": "..."} (MongoDB extended JSON) as a JavaScript Date. */
function decodeDates(v) {
    if (Array.isArray(v))
        return v.map(decodeDates);
    if (v && typeof v === 'object') {
        const keys = Object.keys(v);
        if (keys.length === 1 && keys[0] === '$date')
            return new Date(v.$date);
        const out = {};
        for (const k of keys)
            out[k] = decodeDates(v[k]);
        return out;
    }
    return v;
}

/* Query documents rewritten where mingo reads them unlike MongoDB:
 *  - {f: {$all: [a, b]}} is {$and: [{f: a}, {f: b}]} in MongoDB, which
 *    also matches a field holding a single a; mingo wants an array;
 *  - {f: {$gte: null}} and {f: {$lte: null}} match a missing f in
 *    MongoDB (as {$eq: null} does); mingo's do not. */
function rewriteQuery(q) {
    if (Array.isArray(q))
        return q.map(rewriteQuery);
    if (!q || typeof q !== 'object' || q instanceof Date)
        return q;
    const parts = [];
    for (const [k, v] of Object.entries(q)) {
        if (k === '$and' || k === '$or' || k === '$nor') {
            parts.push({ [k]: v.map(rewriteQuery) });
            continue;
        }
        parts.push(...rewriteField(k, v));
    }
    return parts.length === 1 ? parts[0] : { $and: parts };
}

function isOperatorDoc(v) {
    return v && typeof v === 'object' && !Array.isArray(v) &&
        !(v instanceof Date) && Object.keys(v).length > 0 &&
        Object.keys(v).every((k) => k.startsWith('$'));
}

function rewriteField(path, v) {
    if (!isOperatorDoc(v))
        return [{ [path]: v }];
    const ops = {};
    const extra = [];
    for (const [op, arg] of Object.entries(v)) {
        if (op === '$all')
            extra.push(arg.length === 0 ? { [path]: { $in: [] } } :
                { $and: arg.map((a) => ({ [path]: { $eq: a } })) });
        else if ((op === '$gte' || op === '$lte') && arg === null)
            ops.$eq = null;
        else if (op === '$not')
            ops.$not = rewriteField(path, arg).length === 1 &&
                isOperatorDoc(rewriteField(path, arg)[0][path]) ?
                rewriteField(path, arg)[0][path] : arg;
        else
            ops[op] = arg;
    }
    if (Object.keys(ops).length > 0)
        extra.unshift({ [path]: ops });
    return extra;
}

/* --- ISO 8601 strings (mingo's $dateFromString reads few forms) -------- */

const ISO_RE = new RegExp('^(\\d{4})-(\\d{2})-(\\d{2})' +
    '(?:[Tt ](\\d{2}):(\\d{2})(?::(\\d{2})(?:[.,](\\d+))?)?' +
    '([Zz]|[+-]\\d{2}(?::?\\d{2})?)?)?$');

function parseIso(s) {
    const m = typeof s === 'string' ? ISO_RE.exec(s) : null;
    if (!m)
        return null;
    const [y, mo, d, h = 0, mi = 0, sec = 0] = m.slice(1, 7).map((x) =>
        x === undefined ? undefined : Number(x));
    const ms = m[7] ? Number((m[7] + '00').slice(0, 3)) : 0;
    if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || sec > 59)
        return null;
    const t = Date.UTC(y, mo - 1, d, h, mi, sec, ms);
    if (new Date(Date.UTC(y, mo - 1, d)).getUTCDate() !== d)
        return null;
    let offset = 0;
    const z = m[8];
    if (z && z !== 'Z' && z !== 'z') {
        const oh = Number(z.slice(1, 3));
        const om = z.length > 3 ? Number(z.slice(-2)) : 0;
        if (oh > 23 || om > 59)
            return null;
        offset = (z[0] === '-' ? -1 : 1) * (oh * 60 + om) * 60000;
    }
    return new Date(t - offset);
}

/* Replaces {$dateFromString: {dateString: X, onError: null}} with the
 * custom operator {$tallyIsoDate: X}, which reads the contract's ISO 8601
 * forms as MongoDB's $dateFromString does. */
function rewriteDateFromString(e) {
    if (Array.isArray(e))
        return e.map(rewriteDateFromString);
    if (e && typeof e === 'object' && !(e instanceof Date)) {
        if ('$dateFromString' in e)
            return { $tallyIsoDate: rewriteDateFromString(
                e.$dateFromString.dateString) };
        const out = {};
        for (const k of Object.keys(e))
            out[k] = rewriteDateFromString(e[k]);
        return out;
    }
    return e;
}

let customOps = null;
function options() {
    if (customOps === null) {
        const { Context, evalExpr } = require('mingo/core');
        customOps = {
            context: Context.init({
                expression: {
                    $tallyIsoDate: (obj, expr, opts) =>
                        parseIso(evalExpr(obj, expr, opts)),
                },
            }),
        };
    }
    return customOps;
}

function run(docs, stages) {
    return mingo.aggregate(docs, stages, options());
}

/* {$eq: [x, null]} and {$ne: [x, null]}: mingo holds an array holding
 * null equal to null; MongoDB compares the values whole. The test of the
 * type is the same in MongoDB and right in mingo. */
function rewriteNullTests(e) {
    if (Array.isArray(e))
        return e.map(rewriteNullTests);
    if (!e || typeof e !== 'object' || e instanceof Date)
        return e;
    const out = {};
    for (const [k, v] of Object.entries(e)) {
        if ((k === '$eq' || k === '$ne') && Array.isArray(v) &&
            v.length === 2 && v[1] === null)
            out[k] = [{ $type: rewriteNullTests(v[0]) }, 'null'];
        else
            out[k] = rewriteNullTests(v);
    }
    return out;
}

/* $unwind as MongoDB does it: the path through objects only; an array
 * gives a document per element; missing, null or an empty array gives
 * none; any other value (an empty string too, which mingo drops) gives
 * the document as it is. */
function runUnwind(docs, spec) {
    const parts = spec.slice(1).split('.');
    const out = [];
    for (const d of docs) {
        const v = getPath(d, parts.join('.'));
        if (v === undefined || v === null)
            continue;
        if (!Array.isArray(v)) {
            out.push(d);
            continue;
        }
        for (const el of v)
            out.push(setPath(d, parts, el));
    }
    return out;
}

function setPath(doc, parts, value) {
    const copy = { ...doc };
    if (parts.length === 1)
        copy[parts[0]] = value;
    else
        copy[parts[0]] = setPath(doc[parts[0]], parts.slice(1), value);
    return copy;
}

/* --- $group ------------------------------------------------------------ */

const MISSING = '\u0000missing\u0000';

/* mingo's $push and $addToSet add null for a missing value: they add a
 * marker instead, dropped afterwards. $min and $max go through the same list and are
 * chosen with MongoDB's order (mingo sorts arrays before comparing them
 * and compares objects by sorted member names). */
function presentOrMarker(expr) {
    return { $cond: [{ $eq: [{ $type: expr }, 'missing'] }, MISSING, expr] };
}

/* --- exact sums --------------------------------------------------------- */

/* The contract's sum is the exact total of its terms, rounded once (the
 * order of the rows must not change an answer); mingo adds in floating
 * point, row by row. The oracle adds exactly: every finite double is an
 * integer number of 2^-1074, so the total is a BigInt of those. */
const UNIT_BITS = 1074;

function scaledDouble(x) {
    const view = new DataView(new ArrayBuffer(8));
    view.setFloat64(0, x);
    const hi = view.getUint32(0), lo = view.getUint32(4);
    const biased = (hi >>> 20) & 0x7ff;
    let mant = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
    if (biased !== 0)
        mant |= 1n << 52n;
    const scaled = mant << BigInt(Math.max(biased, 1) - 1);
    return hi >>> 31 ? -scaled : scaled;
}

/* The double nearest total * 2^-1074 (ties to even). Sixty leading bits
 * and a sticky bit for the rest round as the whole would; totals in the
 * subnormal range (never met in the generated data) may round twice. */
function nearestDouble(total) {
    const negative = total < 0n;
    let a = negative ? -total : total;
    let shift = a.toString(2).length - 60;
    if (shift > 0) {
        const lost = a & ((1n << BigInt(shift)) - 1n);
        a = (a >> BigInt(shift)) | (lost ? 1n : 0n);
    } else {
        shift = 0;
    }
    let r = Number(a);
    for (let k = shift - UNIT_BITS; k !== 0;) {
        const step = Math.max(-1000, Math.min(1000, k));
        r *= 2 ** step;
        k -= step;
    }
    return negative ? -r : r;
}

/* $sum and $avg over the collected values: numbers only, as in MongoDB. */
function exactAccumulate(op, vals) {
    const nums = vals.filter((v) => typeof v === 'number');
    const total = nearestDouble(nums.reduce((t, v) => t + scaledDouble(v),
        0n));
    if (op === '$sum')
        return total;
    return nums.length === 0 ? null : total / nums.length;
}

function runGroup(docs, spec) {
    const rewritten = { _id: rewriteNullTests(rewriteDateFromString(spec._id)) };
    const post = {};
    for (const [name, acc] of Object.entries(spec)) {
        if (name === '_id')
            continue;
        const [op, expr] = Object.entries(acc)[0];
        if (op === '$push' || op === '$min' || op === '$max' ||
            op === '$addToSet' || op === '$sum' || op === '$avg') {
            rewritten[name] = { [op === '$addToSet' ? op : '$push']:
                presentOrMarker(rewriteNullTests(expr)) };
            post[name] = op;
        } else {
            rewritten[name] = rewriteNullTests(acc);
        }
    }
    const out = run(docs, [{ $group: rewritten }]);
    for (const g of out) {
        for (const [name, op] of Object.entries(post)) {
            const vals = g[name].filter((v) => v !== MISSING);
            if (op === '$push' || op === '$addToSet') {
                g[name] = vals;
                continue;
            }
            if (op === '$sum' || op === '$avg') {
                g[name] = exactAccumulate(op, vals);
                continue;
            }
            const present = vals.filter((v) => v !== null);
            const dir = op === '$min' ? -1 : 1;
            g[name] = present.length === 0 ? null : present.reduce((best, v) =>
                bsonCompare(v, best) * dir > 0 ? v : best);
        }
        /* mingo leaves $last of a missing value missing; MongoDB: null. */
        for (const name of Object.keys(spec))
            if (g[name] === undefined)
                g[name] = null;
    }
    return out;
}

/* $sortArray is done in JavaScript with MongoDB's order. */
function runAddFields(docs, spec) {
    const rest = {};
    const sorts = [];
    for (const [name, e] of Object.entries(spec)) {
        if (e && typeof e === 'object' && '$sortArray' in e)
            sorts.push([name, e.$sortArray]);
        else
            rest[name] = rewriteNullTests(e);
    }
    let out = Object.keys(rest).length ? run(docs, [{ $addFields: rest }])
        : docs;
    for (const [name, s] of sorts) {
        const input = s.input.slice(1);
        const dir = s.sortBy;
        out = out.map((d) => ({ ...d, [name]: d[input].slice().sort((a, b) =>
            bsonCompare(a, b) * dir) }));
    }
    return out;
}

/* The final $project builds {group, metrics} with $arrayToObject over
 * [[name, "$ref"], ...]. mingo reads the argument list [x] as the array
 * itself and flattens each pair (an array value loses its elements), so
 * the pairs are applied here: names as written ($literal unwrapped),
 * values read from the references. */
function runProject(docs, spec) {
    const fields = Object.entries(spec).filter(([k]) => k !== '_id');
    const simple = fields.every(([, e]) => e && e.$arrayToObject);
    if (!simple)
        return run(docs, [{ $project: spec }]);
    return docs.map((d) => {
        const out = {};
        for (const [name, e] of fields) {
            out[name] = {};
            for (const [k, ref] of e.$arrayToObject[0]) {
                const key = typeof k === 'string' ? k : k.$literal;
                const v = getPath(d, ref.slice(1));
                out[name][key] = v === undefined ? null : v;
            }
        }
        return out;
    });
}

/* Runs the pipeline; also returns the counts the server reports. */
function runPipeline(objects, pipeline) {
    let docs = objects;
    const info = { matched: objects.length, beforeLimit: null };
    pipeline.forEach((stage, i) => {
        const [op, spec] = Object.entries(stage)[0];
        if (op === '$match' && i === 0) {
            docs = run(docs, [{ $match: rewriteQuery(decodeDates(spec)) }]);
            info.matched = docs.length;
        } else if (op === '$unwind') {
            docs = runUnwind(docs, spec);
        } else if (op === '$group') {
            docs = runGroup(docs, spec);
        } else if (op === '$addFields') {
            docs = runAddFields(docs, spec);
        } else if (op === '$sort') {
            docs = mongoSort(docs, spec);
        } else if (op === '$project') {
            docs = runProject(docs, spec);
        } else if (op === '$limit') {
            info.beforeLimit = docs.length;
            docs = run(docs, [stage]);
        } else {
            docs = run(docs, [decodeDates(stage)]);
        }
    });
    if (info.beforeLimit === null)
        info.beforeLimit = docs.length;
    return { results: docs, info };
}

module.exports = { runPipeline, bsonCompare, parseIso };
