'use strict';
/*
 * gen.js - seeded random objects and aggregation requests for the
 * differential test. Everything here is a pure function of the seed.
 *
 * The objects are deliberately awkward: nulls, missing fields, numeric
 * strings where numbers are usual, single values where arrays are usual,
 * arrays of objects, deep paths, accented letters, negative and
 * fractional numbers, ISO date strings in undeclared fields and values
 * exactly on the range boundaries. The requests use every request field
 * and option of the contract.
 *
 * Two shapes are kept where no filter walks through them (EXCEPTIONS.md):
 * arrays nested in arrays (metadata.matrix only) and empty arrays of
 * objects (items and blobs are missing rather than empty).
 */

/* mulberry32: small, fast and good enough to drive a test. */
function makeRng(seed) {
    let a = seed >>> 0;
    const next = () => {
        a = (a + 0x6d2b79f5) >>> 0;
        let t = a;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    const r = {
        next,
        int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
        pick: (xs) => xs[Math.floor(next() * xs.length)],
        chance: (p) => next() < p,
        some: (xs, lo, hi) => {
            const n = r.int(lo, Math.min(hi, xs.length));
            const pool = xs.slice();
            const out = [];
            while (out.length < n)
                out.push(pool.splice(Math.floor(next() * pool.length), 1)[0]);
            return out;
        },
    };
    return r;
}

/* Letters whose case folding agrees between JavaScript and PCRE2. */
const CATEGORIES = ['books', 'Books', 'BOOKS', 'café', 'Café', 'CAFÉ',
    'naïve', 'über', 'Über', 'toys', 'a.b', 'x y', '', '10', 'crème brûlée',
    'Ñandú'];
const TAGS = ['red', 'Red', 'blue', 'green', 'vert', 'été', 'Été', 'b'];
const STATUSES = ['DRAFT', 'PENDING', 'COMPLETED', 'FAILED', 'ACTIVE'];
const BLOB_TYPES = ['image', 'video', 'text', 'audio'];
const BOUNDARIES = [-10, 0, 2.5, 5, 10, 25, 50, 99.99, 100, 200];

const DAY = 86400000;
const START = Date.UTC(2023, 0, 1);
const END = Date.UTC(2026, 0, 1);

/* A date, often near the edges that date_trunc and date_part care about:
 * midnight, year ends (ISO weeks 1 and 52/53), Sundays and Mondays. */
function randomMs(r) {
    const roll = r.next();
    if (roll < 0.15) {
        const y = r.int(2023, 2025);
        return Date.UTC(y, 11, 28) + r.int(0, 7) * DAY + r.int(0, DAY - 1);
    }
    if (roll < 0.3)
        return START + r.int(0, (END - START) / DAY - 1) * DAY;
    if (roll < 0.35)
        return START + r.int(0, (END - START) / DAY - 1) * DAY - 1;
    return START + Math.floor(r.next() * (END - START));
}

function iso(ms) {
    return new Date(ms).toISOString();
}

/* An ISO 8601 string in one of the contract's forms. */
function isoString(r, ms) {
    const d = new Date(ms);
    const p = (n, w = 2) => String(n).padStart(w, '0');
    const date = `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-` +
        p(d.getUTCDate());
    const time = `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:` +
        p(d.getUTCSeconds());
    switch (r.int(0, 4)) {
    case 0: return date;
    case 1: return `${date}T${time}Z`;
    case 2: return `${date}T${time}.${p(d.getUTCMilliseconds(), 3)}Z`;
    case 3: {
        /* The same instant written with an offset. */
        const off = r.pick([-5, 2, 9]);
        const local = new Date(ms + off * 3600000);
        const lt = local.toISOString().slice(0, 23);
        const sign = off < 0 ? '-' : '+';
        return `${lt}${sign}${p(Math.abs(off))}:00`;
    }
    default: return `${date}T${p(d.getUTCHours())}:${p(d.getUTCMinutes())}Z`;
    }
}

function maybe(r, value, pNull, pMissing) {
    const roll = r.next();
    if (roll < pNull)
        return null;
    if (roll < pNull + pMissing)
        return undefined;
    return value;
}

function price(r) {
    const roll = r.next();
    if (roll < 0.2)
        return r.pick(BOUNDARIES);
    if (roll < 0.25)
        return r.pick(['42', '2.5', 'cheap']);
    if (roll < 0.28)
        return r.pick([true, false]);
    if (roll < 0.5)
        return r.int(-50, 250) + r.pick([0.5, 0.25, 0.1, 0.75]);
    return r.int(-50, 250);
}

function qty(r) {
    const roll = r.next();
    if (roll < 0.15)
        return { float: r.int(0, 6) };   /* written as 3.0 */
    if (roll < 0.2)
        return 1.5;
    return r.int(0, 6);
}

function tags(r) {
    const roll = r.next();
    if (roll < 0.08)
        return r.pick(TAGS);
    if (roll < 0.12)
        return null;
    if (roll < 0.2)
        return undefined;
    if (roll < 0.25)
        return [r.pick(TAGS), null];
    if (roll < 0.28)
        return [1, r.pick(TAGS)];
    return r.some(TAGS, 0, 3);
}

function items(r) {
    const roll = r.next();
    if (roll < 0.1)
        return undefined;
    if (roll < 0.15)
        return { sku: 'sku' + r.int(0, 4), n: r.int(0, 9) };
    const out = [];
    for (let i = r.int(1, 4); i > 0; i--) {
        if (r.chance(0.08)) {
            out.push(r.pick([7, 'loose', null]));
            continue;
        }
        const it = { sku: 'sku' + r.int(0, 4) };
        if (r.chance(0.85))
            it.n = r.chance(0.1) ? String(r.int(0, 9)) : r.int(0, 9);
        if (r.chance(0.6))
            it.price = price(r);
        if (r.chance(0.3))
            it.tags = r.some(TAGS, 1, 2);
        out.push(it);
    }
    return out;
}

function deep(r) {
    const roll = r.next();
    const leaf = () => r.pick([1, 2, 2.0, 'x', 'X', null, -3.5]);
    if (roll < 0.15)
        return undefined;
    if (roll < 0.25)
        return { a: [{ b: { c: leaf() } }, { b: { c: leaf() } }, { b: {} }] };
    if (roll < 0.3)
        return { a: { b: 5 } };
    if (roll < 0.35)
        return { a: null };
    return { a: { b: { c: leaf() } } };
}

function dims(r) {
    const roll = r.next();
    if (roll < 0.1)
        return undefined;
    if (roll < 0.15)
        return null;
    if (roll < 0.2)
        return 12;
    if (roll < 0.3)
        return { w: r.int(1, 3) };
    return { w: r.int(1, 3), h: r.int(1, 2) };
}

function published(r) {
    const roll = r.next();
    if (roll < 0.6)
        return isoString(r, randomMs(r));
    if (roll < 0.7)
        return r.pick(['n/a', '2024-13-01', '2023-02-29', 'soon-ish',
            '2024-06-01T25:00:00Z']);
    if (roll < 0.75)
        return r.int(0, 100);
    return maybe(r, isoString(r, randomMs(r)), 0.4, 0.6);
}

function blobs(r) {
    if (r.chance(0.15))
        return undefined;
    const out = [];
    for (let i = r.int(1, 3); i > 0; i--) {
        const b = { property: 'p' + r.int(0, 2), type: r.pick(BLOB_TYPES) };
        if (r.chance(0.7))
            b.details = { size_bytes: r.int(0, 5000) };
        out.push(b);
    }
    return out;
}

function setIf(obj, key, value) {
    if (value !== undefined)
        obj[key] = value;
}

function makeObject(r, i) {
    const created = randomMs(r);
    const o = {
        object_id: 'obj_diff' + String(i).padStart(5, '0'),
        created_at: iso(created),
        updated_at: iso(created + (r.chance(0.5) ? 0 : r.int(0, 40 * DAY))),
        status: r.pick(STATUSES),
    };
    if (r.chance(0.4))
        o.key_prefix = r.pick(['/a', '/b', '/a/c']);
    const m = {};
    setIf(m, 'category', maybe(r, r.chance(0.05) ? r.int(1, 3) :
        r.chance(0.03) ? [r.pick(CATEGORIES)] : r.pick(CATEGORIES), 0.05, 0.08));
    setIf(m, 'price', maybe(r, price(r), 0.04, 0.06));
    setIf(m, 'qty', maybe(r, qty(r), 0.03, 0.05));
    setIf(m, 'tags', tags(r));
    setIf(m, 'user', maybe(r, r.chance(0.05) ? 'U' + r.int(0, 9) :
        'u' + r.int(0, 25), 0.03, 0.05));
    setIf(m, 'when', maybe(r, isoString(r, randomMs(r)).slice(0, 10), 0.1,
        0.1));
    setIf(m, 'at', maybe(r, isoString(r, randomMs(r)), 0.1, 0.1));
    setIf(m, 'published', published(r));
    setIf(m, 'score', maybe(r, r.chance(0.3) ? r.int(-5, 5) :
        Math.round((r.next() * 20 - 5) * 100) / 100, 0.05, 0.05));
    setIf(m, 'active', maybe(r, r.chance(0.1) ? 'true' : r.chance(0.5), 0.05,
        0.1));
    setIf(m, 'dims', dims(r));
    setIf(m, 'deep', deep(r));
    setIf(m, 'items', items(r));
    if (r.chance(0.05))
        m.matrix = [[r.int(0, 3), r.int(0, 3)], [r.int(0, 3)]];
    if (r.chance(0.9))
        o.metadata = m;
    setIf(o, 'blobs', blobs(r));
    return o;
}

/* JSON with qty {float: n} written as "n.0" so that the server stores a
 * double holding an integral value (1 and 1.0 must group together). */
function toJsonLine(o) {
    return JSON.stringify(o, (k, v) =>
        v && typeof v === 'object' && 'float' in v ? `@@F${v.float}@@` : v)
        .replace(/"@@F(-?\d+)@@"/g, '$1.0');
}

module.exports = {
    makeRng, makeObject, toJsonLine, isoString, randomMs, iso,
    CATEGORIES, TAGS, STATUSES, BLOB_TYPES, BOUNDARIES,
};
