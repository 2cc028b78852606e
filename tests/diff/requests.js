'use strict';
/*
 * requests.js - seeded random aggregation requests covering every field
 * and option of the contract (aggregation.md, section 3), with filter
 * operands drawn from the objects themselves so that filters select
 * something.
 */
const { TAGS, BOUNDARIES, isoString, randomMs } = require('./gen');

const VALUE_PATHS = ['status', 'key_prefix', 'metadata.category',
    'metadata.user', 'metadata.qty', 'metadata.price', 'metadata.tags',
    'metadata.active', 'metadata.dims', 'metadata.dims.w',
    'metadata.deep.a.b.c', 'metadata.deep.a', 'metadata.items.sku',
    'metadata.when', 'metadata.published', 'metadata.missing', 'blobs.type',
    'metadata.score', 'metadata.matrix', 'created_at'];
const DATE_PATHS = ['created_at', 'updated_at', 'metadata.when',
    'metadata.at', 'metadata.published', 'metadata.category',
    'metadata.price', 'metadata.missing'];
const NUMBER_PATHS = ['metadata.price', 'metadata.qty', 'metadata.score',
    'metadata.dims.w', 'metadata.items.n', 'metadata.category',
    'metadata.deep.a.b.c', 'blobs.details.size_bytes'];
const FILTER_PATHS = ['status', 'metadata.category', 'metadata.price',
    'metadata.qty', 'metadata.tags', 'metadata.user', 'metadata.when',
    'metadata.at', 'created_at', 'updated_at', 'metadata.published',
    'metadata.score', 'metadata.active', 'metadata.dims.w', 'metadata.dims',
    'metadata.deep.a.b.c', 'metadata.items.sku', 'metadata.items.n',
    'blobs.type', 'metadata.missing', 'metadata.items.0.sku',
    'metadata.tags.0', 'key_prefix'];
/* Paths whose value is itself an array: $size through an array of
 * objects is left out (EXCEPTIONS.md). */
const ARRAY_PATHS = ['metadata.tags', 'metadata.items', 'blobs',
    'metadata.matrix'];
const DATE_FIELDS = new Set(['created_at', 'updated_at', 'metadata.when',
    'metadata.at']);

/* Unwind paths (the "$" spelling too) and the paths that read from the
 * unwound element. */
const UNWINDS = {
    'metadata.tags': ['metadata.tags'],
    '$metadata.tags': ['metadata.tags'],
    'metadata.items': ['metadata.items', 'metadata.items.sku',
        'metadata.items.n', 'metadata.items.price', 'metadata.items.tags'],
    'blobs': ['blobs', 'blobs.type', 'blobs.property',
        'blobs.details.size_bytes'],
    'metadata.dims': ['metadata.dims', 'metadata.dims.w'],
    'metadata.deep.a': ['metadata.deep.a', 'metadata.deep.a.b.c'],
    'metadata.category': ['metadata.category'],
};
/* Paths above an unwound path see the element in place of the array. */
const ANCESTORS = ['metadata', 'metadata.deep'];

const TRUNC_UNITS = ['year', 'month', 'week', 'day', 'hour', 'minute',
    'second'];
const PART_UNITS = TRUNC_UNITS.concat(['dayOfWeek', 'dayOfYear']);
const FUNCTIONS = ['count', 'count_distinct', 'sum', 'avg', 'min', 'max',
    'first', 'last', 'push', 'add_to_set'];
const HAVING_OPS = ['gt', 'gte', 'lt', 'lte', 'eq', 'ne'];
const REGEXES = ['^caf', 'É', 'e$', 'r.d', '^u1', '\\d', 'B|t', '^$',
    'é', '^[a-c]', 'sku[0-2]', '2024-0[1-6]', '^re'];

/* Scalars found at path in the objects (through arrays), for operands. */
function valuesAt(objects, path) {
    const out = [];
    const walk = (v, parts) => {
        if (Array.isArray(v)) {
            v.forEach((x) => walk(x, parts));
            return;
        }
        if (parts.length === 0) {
            if (v === null || typeof v !== 'object')
                out.push(v);
            return;
        }
        if (v && typeof v === 'object')
            walk(v[parts[0]], parts.slice(1));
    };
    objects.forEach((o) => walk(o, path.split('.').filter((p) => !/^\d+$/.test(p))));
    return out.filter((v) => v !== undefined);
}

function makePools(objects) {
    const pools = {};
    for (const p of new Set(FILTER_PATHS.concat(VALUE_PATHS, NUMBER_PATHS)))
        pools[p] = valuesAt(objects, p);
    return pools;
}

function flipCase(r, s) {
    if (typeof s !== 'string')
        return s;
    const roll = r.next();
    return roll < 0.3 ? s.toUpperCase() : roll < 0.5 ? s.toLowerCase() : s;
}

/* Paths that may cross an array (of objects, or by position): null
 * operands and is_null are left out there (EXCEPTIONS.md, 13). */
function crossesArray(path) {
    return /^(metadata\.items|blobs|metadata\.deep\.a|metadata\.tags)\./
        .test(path);
}

function operand(r, pools, path) {
    const pool = (pools[path] || []).filter((v) => v !== null ||
        !crossesArray(path));
    const roll = r.next();
    if (roll < 0.65 && pool.length > 0)
        return r.pick(pool);
    if (roll < 0.75 && DATE_FIELDS.has(path))
        return isoString(r, randomMs(r));
    const extra = [0, 10, 2.5, -3, '10', 'red', 'café', true, 'sku1',
        'COMPLETED', '2024-06-01', 'u1'];
    return r.pick(crossesArray(path) ? extra : extra.concat([null]));
}

function operands(r, pools, path) {
    const out = [];
    for (let i = r.int(1, 3); i > 0; i--)
        out.push(operand(r, pools, path));
    return out;
}

/* --- query documents --------------------------------------------------- */

function elemMatch(r, pools) {
    if (r.chance(0.5)) {
        const q = { sku: r.pick(['sku0', 'sku1', 'sku2']) };
        if (r.chance(0.5))
            q.n = { [r.pick(['$gt', '$gte', '$lt', '$ne'])]: r.int(0, 9) };
        return { 'metadata.items': { $elemMatch: q } };
    }
    const ops = [{ $in: r.some(TAGS, 1, 3) }, { $ne: r.pick(TAGS) },
        { $gt: 'c', $lt: 's' }, { $regex: '^r', $options: 'i' },
        { $nin: r.some(TAGS, 1, 2) }, { $eq: r.pick(TAGS) },
        { $not: { $regex: '^r' } }, { $exists: true }];
    return { 'metadata.tags': { $elemMatch: r.pick(ops) } };
}

function queryOperator(r, pools, path) {
    const op = r.pick(['$eq', '$ne', '$gt', '$gte', '$lt', '$lte', '$in',
        '$nin', '$exists', '$regex', '$not', '$range']);
    switch (op) {
    case '$in':
    case '$nin':
        return { [op]: operands(r, pools, path) };
    case '$exists':
        return { $exists: r.chance(0.5) };
    case '$regex': {
        const q = { $regex: r.pick(REGEXES) };
        if (r.chance(0.7))
            q.$options = r.pick(['i', '']);
        return q;
    }
    case '$not': {
        const inner = queryOperator(r, pools, path);
        return { $not: '$not' in inner || '$range' in inner ?
            { $eq: operand(r, pools, path) } : inner };
    }
    case '$range': {
        const a = operand(r, pools, path);
        const b = operand(r, pools, path);
        return { $gte: a, $lt: b };
    }
    default:
        return { [op]: operand(r, pools, path) };
    }
}

function queryLeaf(r, pools) {
    const roll = r.next();
    if (roll < 0.06)
        return elemMatch(r, pools);
    if (roll < 0.1)
        return { [r.pick(ARRAY_PATHS)]: { $size: r.int(0, 3) } };
    if (roll < 0.14) {
        const p = r.pick(['metadata.tags', 'metadata.items.sku']);
        return { [p]: { $all: p === 'metadata.tags' ? r.some(TAGS, 0, 2) :
            ['sku' + r.int(0, 2)] } };
    }
    const path = r.pick(FILTER_PATHS);
    if (roll < 0.35)
        return { [path]: operand(r, pools, path) };
    return { [path]: queryOperator(r, pools, path) };
}

function queryDocument(r, pools, depth) {
    const q = {};
    for (let i = r.int(1, 3); i > 0; i--) {
        if (depth < 2 && r.chance(0.2)) {
            const kids = [];
            for (let j = r.int(1, 3); j > 0; j--)
                kids.push(queryDocument(r, pools, depth + 1));
            q[r.pick(['$and', '$or', '$nor'])] = kids;
        } else {
            Object.assign(q, queryLeaf(r, pools));
        }
    }
    return q;
}

/* --- condition lists --------------------------------------------------- */

function substring(r, pools, path) {
    const strings = (pools[path] || []).filter((v) => typeof v === 'string' &&
        v.length > 0);
    if (strings.length === 0)
        return r.pick(['e', 'u', 'sku']);
    const s = r.pick(strings);
    const a = r.int(0, s.length - 1);
    return flipCase(r, s.slice(a, a + r.int(1, 3)));
}

function condition(r, pools) {
    const field = r.pick(FILTER_PATHS);
    let operator = r.pick(['eq', 'ne', 'gt', 'gte', 'lt', 'lte', 'in', 'nin',
        'exists', 'is_null', 'contains', 'starts_with', 'ends_with', 'regex',
        'text', 'eq', 'in']);
    if (operator === 'is_null' && crossesArray(field))
        operator = 'exists';
    let value;
    switch (operator) {
    case 'in':
    case 'nin':
        value = operands(r, pools, field).map((v) => flipCase(r, v));
        break;
    case 'exists':
    case 'is_null':
        value = r.chance(0.5);
        break;
    case 'contains':
    case 'starts_with':
    case 'ends_with':
    case 'text':
        value = substring(r, pools, field);
        break;
    case 'regex':
        value = r.pick(REGEXES);
        break;
    default:
        value = flipCase(r, operand(r, pools, field));
    }
    return { field, operator, value };
}

function conditionList(r, pools, depth) {
    const list = {};
    for (const part of r.some(['AND', 'OR', 'NOT'], 1, 2)) {
        const conds = [];
        for (let i = r.int(1, 3); i > 0; i--)
            conds.push(depth < 2 && r.chance(0.2) ?
                conditionList(r, pools, depth + 1) : condition(r, pools));
        list[part] = conds;
    }
    if (r.chance(0.4))
        list.case_sensitive = r.chance(0.5);
    return list;
}

/* --- the request ------------------------------------------------------- */

function nameFor(r, used, field, prefix) {
    let name = field;
    if (name === undefined || used.has(name) || r.chance(0.35)) {
        name = r.pick([prefix, prefix + '.x', 'Ñ' + prefix, '$' + prefix]) +
            used.size;
    }
    used.add(name);
    return name;
}

function groupKey(r, used, paths) {
    const roll = r.next();
    const key = {};
    if (roll < 0.55) {
        key.field = r.chance(0.05) ? r.pick(ANCESTORS) : r.pick(paths);
    } else {
        key.field = r.pick(DATE_PATHS);
        if (roll < 0.8)
            key.date_trunc = r.pick(TRUNC_UNITS);
        else
            key.date_part = r.pick(PART_UNITS);
    }
    const name = nameFor(r, used, key.field, 'k');
    if (name !== key.field)
        key.alias = name;
    else if (r.chance(0.05))
        key.alias = null;
    return key;
}

function rangeBucket(r, used) {
    const free = NUMBER_PATHS.filter((p) => !used.has(p));
    if (free.length === 0)
        return null;
    const field = r.pick(free);
    used.add(field);
    let bounds;
    if (r.chance(0.7))
        bounds = r.some(BOUNDARIES, 1, 5).sort((a, b) => a - b);
    else
        bounds = [-5.5, 0.25, 3.75, 12.125].slice(0, r.int(1, 4));
    const bucket = { field, boundaries: bounds };
    if (r.chance(0.5))
        bucket.default_bucket = r.pick(['none', 'other bucket', '']);
    return bucket;
}

function metric(r, used, paths, index) {
    const fn = r.pick(FUNCTIONS);
    const roll = r.next();
    const m = { function: roll < 0.1 ? fn.toUpperCase() :
        roll < 0.15 ? fn[0].toUpperCase() + fn.slice(1) : fn };
    const numeric = fn === 'sum' || fn === 'avg';
    const field = numeric && r.chance(0.7) ? r.pick(NUMBER_PATHS) :
        r.chance(0.04) ? r.pick(ANCESTORS) : r.pick(paths);
    if (fn === 'count_distinct' && r.chance(0.5))
        m.distinct_field = field;
    else if (fn !== 'count' || r.chance(0.5))
        m.field = field;
    m.alias = nameFor(r, used, undefined, ['m', 'metric', 'café'][index % 3]);
    return m;
}

function having(r, names) {
    const out = [];
    for (let i = r.int(1, 2); i > 0; i--) {
        out.push({
            field: r.pick(names),
            operator: r.pick(HAVING_OPS),
            value: r.chance(0.6) ? r.pick([0, 1, 2, 3, 5, 10, 2.5, -1, 100]) :
                r.pick(['a', 'm', 'red', 'café', 'u1', 'other',
                    '2024-01-01T00:00:00.000Z', '10-25']),
        });
    }
    return out;
}

function makeRequest(r, pools) {
    const req = {};
    const used = new Set();
    const unwindKey = r.chance(0.25) ? r.pick(Object.keys(UNWINDS)) : null;
    const paths = VALUE_PATHS.concat(unwindKey ? UNWINDS[unwindKey] : []);
    const keyNames = [];

    if (unwindKey)
        req.unwind = unwindKey;
    const nkeys = r.int(0, 2);
    if (nkeys > 0 || r.chance(0.3)) {
        req.group_by = [];
        for (let i = 0; i < nkeys; i++) {
            const k = groupKey(r, used, paths);
            req.group_by.push(k);
            keyNames.push(k.alias || k.field);
        }
    }
    if (nkeys === 0 || r.chance(0.3)) {
        req.range_buckets = [];
        for (let i = r.chance(0.15) ? 2 : 1; i > 0; i--) {
            const b = rangeBucket(r, used);
            if (b) {
                req.range_buckets.push(b);
                keyNames.push(b.field);
            }
        }
    }
    req.aggregations = [];
    for (let i = r.int(1, 4); i > 0; i--)
        req.aggregations.push(metric(r, used, paths, i));
    const names = keyNames.concat(req.aggregations.map((m) => m.alias));

    if (r.chance(0.5))
        req.filters = r.chance(0.5) ? queryDocument(r, pools, 0) :
            conditionList(r, pools, 0);
    if (r.chance(0.25))
        req.having = having(r, names);
    if (r.chance(0.6))
        req.sort_by = r.pick(names);
    if (r.chance(0.6))
        req.sort_direction = r.pick(['asc', 'desc']);
    if (r.chance(0.35))
        req.limit = r.int(1, 8);
    if (r.chance(0.05))
        req.description = 'ignored by the server';
    for (const opt of ['filters', 'having', 'unwind', 'sort_by', 'limit'])
        if (!(opt in req) && r.chance(0.03))
            req[opt] = null;
    return req;
}

/* --- coverage ----------------------------------------------------------
 * Every request field and option the contract names; the run fails when
 * one of them was never sent. */

const ALL_FEATURES = [].concat(
    ['group_by', 'group_by:empty', 'alias', 'alias:null', 'range_buckets',
        'boundaries:int', 'boundaries:fraction', 'default_bucket',
        'count:no-field', 'count:field', 'count_distinct:distinct_field',
        'count_distinct:field', 'function:case', 'filters:query',
        'filters:list', 'unwind', 'unwind:$', 'having:key', 'having:metric',
        'sort_by:key', 'sort_by:metric', 'sort_direction:asc',
        'sort_direction:desc', 'limit', 'unknown_key', 'optional:null',
        'list:nested', 'case_sensitive:true', 'case_sensitive:false',
        'query:implicit_eq', '$options'],
    TRUNC_UNITS.map((u) => 'date_trunc:' + u),
    PART_UNITS.map((u) => 'date_part:' + u),
    FUNCTIONS.map((f) => 'fn:' + f),
    HAVING_OPS.map((o) => 'having:' + o),
    ['$eq', '$ne', '$gt', '$gte', '$lt', '$lte', '$in', '$nin', '$exists',
        '$regex', '$not', '$size', '$all', '$elemMatch', '$and', '$or',
        '$nor'].map((o) => 'query:' + o),
    ['eq', 'ne', 'gt', 'gte', 'lt', 'lte', 'in', 'nin', 'contains',
        'starts_with', 'ends_with', 'regex', 'exists', 'is_null', 'text',
        'AND', 'OR', 'NOT'].map((o) => 'list:' + o));

function queryFeatures(q, out) {
    for (const [k, v] of Object.entries(q)) {
        if (k === '$and' || k === '$or' || k === '$nor') {
            out.add('query:' + k);
            v.forEach((x) => queryFeatures(x, out));
        } else if (v && typeof v === 'object' && !Array.isArray(v) &&
            Object.keys(v).some((o) => o.startsWith('$'))) {
            for (const [o, arg] of Object.entries(v)) {
                out.add(o === '$options' ? '$options' : 'query:' + o);
                if (o === '$not' || o === '$elemMatch')
                    queryFeatures({ x: arg }, out);
            }
        } else {
            out.add('query:implicit_eq');
        }
    }
}

function listFeatures(l, out, depth) {
    if (depth > 0)
        out.add('list:nested');
    if ('case_sensitive' in l)
        out.add('case_sensitive:' + l.case_sensitive);
    for (const part of ['AND', 'OR', 'NOT']) {
        if (!l[part])
            continue;
        out.add('list:' + part);
        for (const c of l[part]) {
            if (c.operator)
                out.add('list:' + c.operator);
            else
                listFeatures(c, out, depth + 1);
        }
    }
}

function features(req) {
    const out = new Set();
    const keys = (req.group_by || []).map((k) => k.alias || k.field)
        .concat((req.range_buckets || []).map((b) => b.field));
    if (req.group_by)
        out.add(req.group_by.length ? 'group_by' : 'group_by:empty');
    for (const k of req.group_by || []) {
        if (k.alias)
            out.add('alias');
        if (k.alias === null)
            out.add('alias:null');
        if (k.date_trunc)
            out.add('date_trunc:' + k.date_trunc);
        if (k.date_part)
            out.add('date_part:' + k.date_part);
    }
    for (const b of req.range_buckets || []) {
        out.add('range_buckets');
        out.add(b.boundaries.every(Number.isInteger) ? 'boundaries:int' :
            'boundaries:fraction');
        if ('default_bucket' in b)
            out.add('default_bucket');
    }
    for (const m of req.aggregations) {
        const fn = m.function.toLowerCase();
        out.add('fn:' + fn);
        if (fn !== m.function)
            out.add('function:case');
        if (fn === 'count')
            out.add(m.field ? 'count:field' : 'count:no-field');
        if (fn === 'count_distinct')
            out.add(m.distinct_field ? 'count_distinct:distinct_field' :
                'count_distinct:field');
    }
    if (req.filters) {
        const list = ['AND', 'OR', 'NOT'].some((k) => k in req.filters);
        out.add(list ? 'filters:list' : 'filters:query');
        if (list)
            listFeatures(req.filters, out, 0);
        else
            queryFeatures(req.filters, out);
    }
    if (req.unwind)
        out.add(req.unwind.startsWith('$') ? 'unwind:$' : 'unwind');
    for (const h of req.having || []) {
        out.add('having:' + h.operator);
        out.add(keys.includes(h.field) ? 'having:key' : 'having:metric');
    }
    if (req.sort_by)
        out.add(keys.includes(req.sort_by) ? 'sort_by:key' : 'sort_by:metric');
    if (req.sort_direction)
        out.add('sort_direction:' + req.sort_direction);
    if (req.limit)
        out.add('limit');
    if ('description' in req)
        out.add('unknown_key');
    if (Object.values(req).some((v) => v === null))
        out.add('optional:null');
    return out;
}

module.exports = { makeRequest, makePools, features, ALL_FEATURES };
