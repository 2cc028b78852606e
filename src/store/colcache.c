/*
 * colcache.c - the column cache (see colcache.h for the model).
 *
 * Concurrency. One mutex (cc->mu) guards the bucket table, each bucket's
 * list of versions, and the change log; it is held for short moments
 * only. Each bucket also has a build mutex, held while its columns are
 * built or brought up to date, so that one thread at a time changes a
 * bucket's chunks. A version, once handed to readers, never changes
 * except by gaining a column that was missing (readers of that version
 * never look at a column they did not ask for, and asking for one takes
 * the build mutex). Chunks are shared between versions with reference
 * counts; a chunk is copied before it is changed whenever another version
 * may see it (copy on write).
 *
 * Consistency. The store calls cc_observe() after every commit, before
 * the writers are released, with the commit's transaction id and its
 * changes. A reader with snapshot T first waits until every commit up to
 * T has been observed, then takes the newest version at or before T and
 * replays the logged changes in (version, T] by reading the changed
 * objects in its own snapshot: the result is exactly the state at T.
 */
#include "store/colcache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "store/catalog.h"
#include "store/ccdict.h"
#include "store/objects.h"

/* TUNING: a bucket's columns past these counts are not cached (the query
 * takes the row path); far more than any dashboard touches. */
#define MAX_COLS 64
#define MAX_UNWIND 8
/* TUNING: versions kept besides the newest, so that a query whose
 * snapshot is a little older than the newest can still be served. */
#define KEEP_VERSIONS 4
/* TUNING: when a third of the rows are deleted objects, or half the
 * elements are left over from updates, rebuilding is cheaper than
 * carrying them. */
#define DEAD_ROWS_DIVISOR 3

enum chunk_kind { CHUNK_CELLS, CHUNK_SEQS, CHUNK_LIVE, CHUNK_U32 };

static const size_t chunk_bytes[] = {
    [CHUNK_CELLS] = sizeof(struct cc_cells),
    [CHUNK_SEQS] = CC_CHUNK * sizeof(uint64_t),
    [CHUNK_LIVE] = CC_CHUNK / 8,
    [CHUNK_U32] = CC_CHUNK * sizeof(uint32_t),
};

struct chunk_hdr {
    _Atomic uint32_t refs;
    uint32_t kind;
    _Alignas(16) unsigned char data[];
};

struct chunkvec {
    void **p;                /* chunk data pointers */
    uint32_t n, cap;
};

#define MAX_DEPTH 16

struct colspec {
    char *unwind;            /* NULL: a row column */
    char *path;
    int unwind_index;        /* into version->unw, or -1 */
    struct cc_dict *dict;
    const char *comp[MAX_DEPTH]; /* the path's components (in path) */
    uint32_t comp_len[MAX_DEPTH];
    int ncomps;              /* 0: too deep, walked alone (cell_at) */
};

struct colver {
    bool built;
    struct chunkvec cells;
    uint64_t other;
};

struct unwindver {
    bool built;
    struct chunkvec start, count;  /* per row */
    uint32_t nelems;               /* element space used */
    uint32_t garbage;              /* elements no row points at */
};

struct cc_version {
    _Atomic int refs;
    uint64_t txn;
    uint64_t log_pos;        /* log entries from here are newer than txn */
    uint32_t nrows, dead;
    struct chunkvec seqs, live;
    struct unwindver unw[MAX_UNWIND];
    struct colver cols[MAX_COLS];
};

struct cc_bucket {
    uint32_t num;
    pthread_mutex_t build_mu;
    struct cc_version *versions[KEEP_VERSIONS + 1]; /* newest first */
    int nversions;
    struct colspec specs[MAX_COLS];
    int nspecs;
    char *unwind_paths[MAX_UNWIND];
    int nunwind;
    uint64_t last_used;
    int users;               /* threads inside colcache_view (cc->mu) */
    bool removed;            /* out of the table; freed by the last user */
};

struct log_entry {
    uint64_t txn;
    uint64_t seq;
    uint32_t num;
    uint32_t kind;
};

struct colcache {
    struct store *store;
    struct colcache_config cfg;
    pthread_mutex_t mu;
    pthread_cond_t observed_cv;
    uint64_t observed_txn;
    struct log_entry *log;
    uint64_t log_head;       /* entries written so far */
    struct cc_bucket **buckets;
    int nbuckets, cap_buckets;
    uint64_t tick;
    _Atomic uint64_t bytes;
    _Atomic uint64_t builds, catchups, evictions, hits, misses;
};

/* --- chunks ------------------------------------------------------------ */

static struct chunk_hdr *hdr_of(void *data)
{
    return (struct chunk_hdr *)((unsigned char *)data -
                                offsetof(struct chunk_hdr, data));
}

static void *chunk_new(struct colcache *cc, enum chunk_kind kind)
{
    struct chunk_hdr *h = calloc(1, sizeof(*h) + chunk_bytes[kind]);

    if (h == NULL)
        return NULL;
    h->refs = 1;
    h->kind = kind;
    atomic_fetch_add(&cc->bytes, sizeof(*h) + chunk_bytes[kind]);
    return h->data;
}

static void chunk_ref(void *data)
{
    atomic_fetch_add(&hdr_of(data)->refs, 1);
}

static void chunk_unref(struct colcache *cc, void *data)
{
    struct chunk_hdr *h = hdr_of(data);

    if (atomic_fetch_sub(&h->refs, 1) != 1)
        return;
    atomic_fetch_sub(&cc->bytes, sizeof(*h) + chunk_bytes[h->kind]);
    free(h);
}

/* The chunk at index i of v, made private to the version that owns v
 * (copied when shared), or NULL when out of memory. */
static void *chunk_own(struct colcache *cc, struct chunkvec *v, uint32_t i)
{
    void *old = v->p[i];
    struct chunk_hdr *h = hdr_of(old);

    if (atomic_load(&h->refs) == 1)
        return old;
    void *copy = chunk_new(cc, h->kind);
    if (copy == NULL)
        return NULL;
    memcpy(copy, old, chunk_bytes[h->kind]);
    chunk_unref(cc, old);
    v->p[i] = copy;
    return copy;
}

/* Makes chunk index i exist (new chunks are zero: missing cells, dead
 * rows), private to v's owner. */
static void *chunk_at(struct colcache *cc, struct chunkvec *v, uint32_t i,
                      enum chunk_kind kind)
{
    while (v->n <= i) {
        if (v->n == v->cap) {
            uint32_t cap = v->cap ? v->cap * 2 : 16;
            void **p = realloc(v->p, cap * sizeof(*p));
            if (p == NULL)
                return NULL;
            v->p = p;
            v->cap = cap;
        }
        void *c = chunk_new(cc, kind);
        if (c == NULL)
            return NULL;
        v->p[v->n++] = c;
    }
    return chunk_own(cc, v, i);
}

static int vec_copy(struct chunkvec *dst, const struct chunkvec *src)
{
    dst->n = dst->cap = 0;
    dst->p = NULL;
    if (src->n == 0)
        return 0;
    dst->p = malloc(src->n * sizeof(void *));
    if (dst->p == NULL)
        return ERR_NOMEM;
    memcpy(dst->p, src->p, src->n * sizeof(void *));
    for (uint32_t i = 0; i < src->n; i++)
        chunk_ref(src->p[i]);
    dst->n = dst->cap = src->n;
    return 0;
}

static void vec_release(struct colcache *cc, struct chunkvec *v)
{
    for (uint32_t i = 0; i < v->n; i++)
        chunk_unref(cc, v->p[i]);
    free(v->p);
    memset(v, 0, sizeof(*v));
}

/* --- versions ---------------------------------------------------------- */

static void version_free(struct colcache *cc, struct cc_version *v)
{
    vec_release(cc, &v->seqs);
    vec_release(cc, &v->live);
    for (int i = 0; i < MAX_UNWIND; i++) {
        vec_release(cc, &v->unw[i].start);
        vec_release(cc, &v->unw[i].count);
    }
    for (int i = 0; i < MAX_COLS; i++)
        vec_release(cc, &v->cols[i].cells);
    free(v);
}

static void version_unref(struct colcache *cc, struct cc_version *v)
{
    if (v != NULL && atomic_fetch_sub(&v->refs, 1) == 1)
        version_free(cc, v);
}

/* A new version sharing every chunk of base. */
static struct cc_version *version_copy(const struct cc_version *base)
{
    struct cc_version *v = calloc(1, sizeof(*v));
    int rc = 0;

    if (v == NULL)
        return NULL;
    v->refs = 1;
    v->txn = base->txn;
    v->log_pos = base->log_pos;
    v->nrows = base->nrows;
    v->dead = base->dead;
    rc |= vec_copy(&v->seqs, &base->seqs);
    rc |= vec_copy(&v->live, &base->live);
    for (int i = 0; i < MAX_UNWIND; i++) {
        v->unw[i] = base->unw[i];
        rc |= vec_copy(&v->unw[i].start, &base->unw[i].start);
        rc |= vec_copy(&v->unw[i].count, &base->unw[i].count);
    }
    for (int i = 0; i < MAX_COLS; i++) {
        v->cols[i] = base->cols[i];
        rc |= vec_copy(&v->cols[i].cells, &base->cols[i].cells);
    }
    if (rc != 0) {
        /* vec_copy leaves an empty vector on failure: safe to free. */
        return NULL;
    }
    return v;
}

static uint64_t row_seq(const struct cc_version *v, uint32_t r)
{
    return ((uint64_t *)v->seqs.p[r >> CC_CHUNK_SHIFT])[r & (CC_CHUNK - 1)];
}

/* The row of seq, or -1 (rows are sorted by seq). */
static int64_t find_row(const struct cc_version *v, uint64_t seq)
{
    int64_t lo = 0, hi = (int64_t)v->nrows - 1;

    while (lo <= hi) {
        int64_t mid = (lo + hi) / 2;
        uint64_t s = row_seq(v, (uint32_t)mid);
        if (s == seq)
            return mid;
        if (s < seq)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

/* --- reading values out of documents ----------------------------------- */

/* The value at path, following objects only (an array on the way means
 * the value cannot be a single cell). *through_array is set then. */
static bool walk_path(bson_iter_t *members, const char *path,
                      bson_iter_t *out, bool *through_array)
{
    const char *dot = strchr(path, '.');

    *through_array = false;
    while (dot != NULL) {
        bson_iter_t child;
        if (!bson_iter_find_w_len(members, path, (int)(dot - path)))
            return false;
        if (BSON_ITER_HOLDS_ARRAY(members)) {
            *through_array = true;
            return false;
        }
        if (!BSON_ITER_HOLDS_DOCUMENT(members) ||
            !bson_iter_recurse(members, &child))
            return false;
        *members = child;
        path = dot + 1;
        dot = strchr(path, '.');
    }
    if (!bson_iter_find(members, path))
        return false;
    *out = *members;
    return true;
}

static int cell_of(struct cc_dict *dict, const bson_iter_t *it, uint8_t *tag,
                   union cc_value *val)
{
    uint32_t len;
    const char *s;
    int64_t code;

    switch (bson_iter_type(it)) {
    case BSON_TYPE_NULL:
        *tag = CC_NULL;
        return 0;
    case BSON_TYPE_INT32:
    case BSON_TYPE_INT64:
        *tag = CC_INT;
        val->i = bson_iter_as_int64(it);
        return 0;
    case BSON_TYPE_DOUBLE:
        *tag = CC_DOUBLE;
        val->d = bson_iter_double(it);
        return 0;
    case BSON_TYPE_BOOL:
        *tag = CC_BOOL;
        val->i = bson_iter_bool(it);
        return 0;
    case BSON_TYPE_DATE_TIME:
        *tag = CC_DATE;
        val->i = bson_iter_date_time(it);
        return 0;
    case BSON_TYPE_UTF8:
        s = bson_iter_utf8(it, &len);
        code = ccdict_intern(dict, s, len);
        if (code < 0)
            return ERR_NOMEM;
        *tag = CC_STRING;
        val->code = (uint64_t)code;
        return 0;
    default:
        *tag = CC_OTHER;
        val->i = 0;
        return 0;
    }
}

/* The cell of a path below a document value (or the value itself when
 * path is empty). */
static int cell_at(struct cc_dict *dict, const bson_iter_t *root,
                   const char *path, bool root_is_doc, uint8_t *tag,
                   union cc_value *val)
{
    bson_iter_t members, at;
    bool through_array;

    val->i = 0;
    if (path[0] == '\0')
        return cell_of(dict, root, tag, val);
    if (root_is_doc) {
        members = *root;
    } else if (!BSON_ITER_HOLDS_DOCUMENT(root) ||
               !bson_iter_recurse(root, &members)) {
        *tag = CC_MISSING;
        return 0;
    }
    if (!walk_path(&members, path, &at, &through_array)) {
        *tag = through_array ? CC_OTHER : CC_MISSING;
        return 0;
    }
    return cell_of(dict, &at, tag, val);
}

static void set_cell(struct cc_cells *c, uint32_t i, uint8_t tag,
                     union cc_value val, uint64_t *other)
{
    if (c->tag[i] == CC_OTHER)
        (*other)--;
    c->tag[i] = tag;
    c->val[i] = val;
    if (tag == CC_OTHER)
        (*other)++;
}

/* --- filling rows ------------------------------------------------------ */

struct filler {
    struct colcache *cc;
    struct cc_bucket *b;
    struct cc_version *v;
    const bool *fill;        /* per spec: fill this column */
};

static int put_cell(struct filler *f, int k, uint32_t r, uint8_t tag,
                    union cc_value val)
{
    struct colver *col = &f->v->cols[k];
    struct cc_cells *c = chunk_at(f->cc, &col->cells, r >> CC_CHUNK_SHIFT,
                                  CHUNK_CELLS);

    if (c == NULL)
        return ERR_NOMEM;
    set_cell(c, r & (CC_CHUNK - 1), tag, val, &col->other);
    return 0;
}

/* A column whose path is too deep to walk with the others. */
static int fill_row_column(struct filler *f, int k, uint32_t r,
                           const uint8_t *doc, size_t len)
{
    struct colspec *spec = &f->b->specs[k];
    bson_iter_t root;
    uint8_t tag = CC_MISSING;
    union cc_value val = {0};

    if (doc != NULL && bson_iter_init_from_data(&root, doc, len)) {
        int rc = cell_at(spec->dict, &root, spec->path, true, &tag, &val);
        if (rc != 0)
            return rc;
    }
    return put_cell(f, k, r, tag, val);
}

static int put_missing(struct filler *f, uint32_t r, const int *ks, int n)
{
    union cc_value none = {0};
    int rc = 0;

    for (int j = 0; rc == 0 && j < n; j++)
        rc = put_cell(f, ks[j], r, CC_MISSING, none);
    return rc;
}

/* The cell of column k from the member its path ends on (or stops at). */
static int put_member(struct filler *f, int k, uint32_t r,
                      const bson_iter_t *member, bool last)
{
    union cc_value val = {0};
    uint8_t tag;

    if (last) {
        int rc = cell_of(f->b->specs[k].dict, member, &tag, &val);
        if (rc != 0)
            return rc;
    } else {
        /* The path goes on through a scalar (missing) or an array (a value
         * that is no single cell). */
        tag = BSON_ITER_HOLDS_ARRAY(member) ? CC_OTHER : CC_MISSING;
    }
    return put_cell(f, k, r, tag, val);
}

/* Fills the columns ks[0..n) of row r from the members of one document,
 * where their paths are at component depth: one pass over the members
 * for all of them, descending once into each sub-document that some path
 * goes through. The first member of a name counts, as in walk_path(). */
static int walk_members(struct filler *f, uint32_t r, bson_iter_t *members,
                        const int *ks, int n, int depth)
{
    bool done[MAX_COLS] = {false};
    int pending = n, rc = 0;

    while (rc == 0 && pending > 0 && bson_iter_next(members)) {
        const char *key = bson_iter_key(members);
        uint32_t klen = bson_iter_key_len(members);
        int below[MAX_COLS], nbelow = 0;

        for (int j = 0; rc == 0 && j < n; j++) {
            const struct colspec *spec = &f->b->specs[ks[j]];
            if (done[j] || spec->comp_len[depth] != klen ||
                memcmp(spec->comp[depth], key, klen) != 0)
                continue;
            done[j] = true;
            pending--;
            if (depth + 1 < spec->ncomps && BSON_ITER_HOLDS_DOCUMENT(members))
                below[nbelow++] = ks[j];
            else
                rc = put_member(f, ks[j], r, members,
                                depth + 1 == spec->ncomps);
        }
        bson_iter_t child;
        if (rc == 0 && nbelow > 0)
            rc = bson_iter_recurse(members, &child)
                     ? walk_members(f, r, &child, below, nbelow, depth + 1)
                     : put_missing(f, r, below, nbelow);
    }
    for (int j = 0; rc == 0 && j < n; j++)
        if (!done[j])
            rc = put_missing(f, r, &ks[j], 1);
    return rc;
}

/* Fills the row columns ks[0..n) of row r from doc (NULL: a dead row). */
static int fill_row_columns(struct filler *f, uint32_t r, const uint8_t *doc,
                            size_t len, const int *ks, int n)
{
    int walked[MAX_COLS], nwalked = 0, rc = 0;
    bson_iter_t root;

    for (int j = 0; rc == 0 && j < n; j++) {
        if (f->b->specs[ks[j]].ncomps > 0)
            walked[nwalked++] = ks[j];
        else
            rc = fill_row_column(f, ks[j], r, doc, len);
    }
    if (rc != 0 || nwalked == 0)
        return rc;
    if (doc == NULL || !bson_iter_init_from_data(&root, doc, len))
        return put_missing(f, r, walked, nwalked);
    return walk_members(f, r, &root, walked, nwalked, 0);
}

/* The unwound array of a document: its iterator, or none (0 elements). */
static int unwind_target(const uint8_t *doc, size_t len, const char *path,
                         bson_iter_t *at)
{
    bson_iter_t members;
    bool through_array;

    if (doc == NULL || !bson_iter_init_from_data(&members, doc, len) ||
        !walk_path(&members, path, at, &through_array) ||
        BSON_ITER_HOLDS_NULL(at))
        return 0;
    if (!BSON_ITER_HOLDS_ARRAY(at))
        return 1;
    bson_iter_t el;
    int n = 0;
    bson_iter_recurse(at, &el);
    while (bson_iter_next(&el))
        n++;
    return n;
}

static int fill_element(struct filler *f, int k, uint32_t e,
                        const bson_iter_t *el)
{
    struct colspec *spec = &f->b->specs[k];
    struct colver *col = &f->v->cols[k];
    uint8_t tag;
    union cc_value val;

    int rc = cell_at(spec->dict, el, spec->path, false, &tag, &val);
    if (rc != 0)
        return rc;
    struct cc_cells *c = chunk_at(f->cc, &col->cells, e >> CC_CHUNK_SHIFT,
                                  CHUNK_CELLS);
    if (c == NULL)
        return ERR_NOMEM;
    set_cell(c, e & (CC_CHUNK - 1), tag, val, &col->other);
    return 0;
}

/* Writes a row's elements of unwind path u into its element space, from
 * `first` (a fresh range at the end, or the row's own range when the
 * elements are being filled for a new column). */
static int fill_elements(struct filler *f, int u, uint32_t first,
                         const uint8_t *doc, size_t len, bool only_new)
{
    bson_iter_t at, el;
    int n = unwind_target(doc, len, f->b->unwind_paths[u], &at);

    if (n == 0)
        return 0;
    bool single = !BSON_ITER_HOLDS_ARRAY(&at);
    if (!single)
        bson_iter_recurse(&at, &el);
    for (int i = 0; i < n; i++) {
        const bson_iter_t *cur = &at;
        if (!single) {
            bson_iter_next(&el);
            cur = &el;
        }
        for (int k = 0; k < f->b->nspecs; k++) {
            if (f->b->specs[k].unwind_index != u ||
                (only_new ? !f->fill[k] : !f->v->cols[k].built && !f->fill[k]))
                continue;
            int rc = fill_element(f, k, first + (uint32_t)i, cur);
            if (rc != 0)
                return rc;
        }
    }
    return n;
}

static int set_u32(struct colcache *cc, struct chunkvec *v, uint32_t r,
                   uint32_t value)
{
    uint32_t *c = chunk_at(cc, v, r >> CC_CHUNK_SHIFT, CHUNK_U32);
    if (c == NULL)
        return ERR_NOMEM;
    c[r & (CC_CHUNK - 1)] = value;
    return 0;
}

static uint32_t get_u32(const struct chunkvec *v, uint32_t r)
{
    if ((r >> CC_CHUNK_SHIFT) >= v->n)
        return 0;
    return ((uint32_t *)v->p[r >> CC_CHUNK_SHIFT])[r & (CC_CHUNK - 1)];
}

/* Re-reads every built element column of unwind path u for row r: the
 * elements go to a fresh range at the end of the element space. */
static int refill_unwind(struct filler *f, int u, uint32_t r,
                         const uint8_t *doc, size_t len)
{
    struct unwindver *uv = &f->v->unw[u];
    uint32_t first = uv->nelems;

    uv->garbage += get_u32(&uv->count, r);
    int n = fill_elements(f, u, first, doc, len, false);
    if (n < 0)
        return n;
    uv->nelems += (uint32_t)n;
    int rc = set_u32(f->cc, &uv->start, r, first);
    return rc != 0 ? rc : set_u32(f->cc, &uv->count, r, (uint32_t)n);
}

static int set_live(struct colcache *cc, struct cc_version *v, uint32_t r,
                    bool live)
{
    uint64_t *w = chunk_at(cc, &v->live, r >> CC_CHUNK_SHIFT, CHUNK_LIVE);
    uint32_t i = r & (CC_CHUNK - 1);
    bool was = w != NULL && (w[i >> 6] >> (i & 63)) & 1;

    if (w == NULL)
        return ERR_NOMEM;
    if (live)
        w[i >> 6] |= (uint64_t)1 << (i & 63);
    else
        w[i >> 6] &= ~((uint64_t)1 << (i & 63));
    if (was && !live)
        v->dead++;
    return 0;
}

/* Writes the whole row r (every built column) from doc, or marks it dead
 * when doc is NULL. */
static int fill_row(struct filler *f, uint32_t r, const uint8_t *doc,
                    size_t len)
{
    int rc = set_live(f->cc, f->v, r, doc != NULL);
    int ks[MAX_COLS], n = 0;

    for (int k = 0; k < f->b->nspecs; k++)
        if (f->b->specs[k].unwind_index < 0 &&
            (f->v->cols[k].built || f->fill[k]))
            ks[n++] = k;
    if (rc == 0 && n > 0)
        rc = fill_row_columns(f, r, doc, len, ks, n);
    for (int u = 0; rc == 0 && u < f->b->nunwind; u++)
        if (f->v->unw[u].built)
            rc = refill_unwind(f, u, r, doc, len);
    return rc;
}

static int append_row(struct filler *f, uint64_t seq, const uint8_t *doc,
                      size_t len)
{
    uint32_t r = f->v->nrows;
    uint64_t *seqs = chunk_at(f->cc, &f->v->seqs, r >> CC_CHUNK_SHIFT,
                              CHUNK_SEQS);

    if (seqs == NULL || r == UINT32_MAX)
        return ERR_NOMEM;
    seqs[r & (CC_CHUNK - 1)] = seq;
    f->v->nrows++;
    return fill_row(f, r, doc, len);
}

/* --- building ---------------------------------------------------------- */

/* A new version holding every live object of the snapshot, with the
 * columns marked in fill. */
static int build_version(struct filler *f, struct store_txn *t,
                         struct err *e)
{
    struct objects_scan sc;
    uint64_t seq;
    const uint8_t *doc;
    size_t len;

    int rc = objects_scan_open(t, f->b->num, 0, &sc, e);
    while (rc == 0 &&
           (rc = objects_scan_next(&sc, &seq, &doc, &len, e)) == 0)
        rc = append_row(f, seq, doc, len);
    objects_scan_close(&sc);
    return rc == ERR_NOT_FOUND ? 0 : rc;
}

static bool unwind_filled(const struct filler *f, int u)
{
    for (int k = 0; k < f->b->nspecs; k++)
        if (f->fill[k] && f->b->specs[k].unwind_index == u)
            return true;
    return false;
}

/* Fills columns marked in fill for every row of the version, from the
 * objects of the snapshot (the version's own). */
static int build_columns(struct filler *f, struct store_txn *t,
                         struct err *e)
{
    struct objects_scan sc;
    uint64_t seq;
    const uint8_t *doc;
    size_t len;
    uint32_t r = 0;
    int fill[MAX_COLS], nfill = 0;

    for (int k = 0; k < f->b->nspecs; k++)
        if (f->fill[k] && f->b->specs[k].unwind_index < 0)
            fill[nfill++] = k;
    int rc = objects_scan_open(t, f->b->num, 0, &sc, e);
    while (rc == 0 &&
           (rc = objects_scan_next(&sc, &seq, &doc, &len, e)) == 0) {
        while (r < f->v->nrows && row_seq(f->v, r) < seq)
            r++;
        if (r == f->v->nrows || row_seq(f->v, r) != seq) {
            rc = err_set(e, ERR_INTERNAL, "column cache out of step");
            break;
        }
        if (nfill > 0)
            rc = fill_row_columns(f, r, doc, len, fill, nfill);
        for (int u = 0; rc == 0 && u < f->b->nunwind; u++) {
            struct unwindver *uv = &f->v->unw[u];
            if (!unwind_filled(f, u))
                continue;
            if (!uv->built) {
                int n = fill_elements(f, u, uv->nelems, doc, len, true);
                rc = n < 0 ? n : set_u32(f->cc, &uv->start, r, uv->nelems);
                if (rc == 0)
                    rc = set_u32(f->cc, &uv->count, r, (uint32_t)n);
                uv->nelems += n > 0 ? (uint32_t)n : 0;
            } else {
                int n = fill_elements(f, u, get_u32(&uv->start, r), doc,
                                      len, true);
                rc = n < 0 ? n : 0;
            }
        }
        r++;
    }
    objects_scan_close(&sc);
    return rc == ERR_NOT_FOUND ? 0 : rc;
}

/* --- catching up ------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* The sequences of bucket num changed by commits in (from, to], read
 * from the log under cc->mu. ERR_UNAVAILABLE when the log forgot some. */
static int changed_seqs(struct colcache *cc, uint32_t num, uint64_t from_pos,
                        uint64_t to_txn, uint64_t **out, size_t *n,
                        uint64_t *end_pos)
{
    uint64_t cap = cc->cfg.log_entries, head = cc->log_head;
    uint64_t *seqs = NULL;
    size_t count = 0, alloc = 0;

    if (head > cap && from_pos < head - cap)
        return ERR_UNAVAILABLE;
    uint64_t pos = from_pos;
    for (; pos < head; pos++) {
        const struct log_entry *le = &cc->log[pos % cap];
        if (le->txn > to_txn)
            break;
        if (le->num != num)
            continue;
        if (le->kind == STORE_CHANGE_DROP) {
            free(seqs);
            return ERR_UNAVAILABLE;
        }
        if (count == alloc) {
            alloc = alloc ? alloc * 2 : 64;
            uint64_t *p = realloc(seqs, alloc * sizeof(*p));
            if (p == NULL) {
                free(seqs);
                return ERR_NOMEM;
            }
            seqs = p;
        }
        seqs[count++] = le->seq;
    }
    *out = seqs;
    *n = count;
    *end_pos = pos;
    return 0;
}

static int apply_seq(struct filler *f, struct store_txn *t, uint64_t seq,
                     struct err *e)
{
    bson_t doc;
    int rc = objects_get(t, f->b->num, seq, &doc, e);
    const uint8_t *data = rc == 0 ? bson_get_data(&doc) : NULL;
    size_t len = rc == 0 ? doc.len : 0;

    if (rc != 0 && rc != ERR_NOT_FOUND)
        return rc;
    int64_t r = find_row(f->v, seq);
    if (r >= 0)
        return fill_row(f, (uint32_t)r, data, len);
    if (data == NULL)
        return 0; /* written and deleted in the window */
    if (f->v->nrows > 0 && seq < row_seq(f->v, f->v->nrows - 1))
        return err_set(e, ERR_INTERNAL, "column cache: sequence out of order");
    return append_row(f, seq, data, len);
}

static int catch_up(struct filler *f, struct store_txn *t, uint64_t *seqs,
                    size_t n, struct err *e)
{
    qsort(seqs, n, sizeof(*seqs), cmp_u64);
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && seqs[i] == seqs[i - 1])
            continue;
        int rc = apply_seq(f, t, seqs[i], e);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* --- buckets and specs ------------------------------------------------- */

static struct cc_bucket *bucket_find(struct colcache *cc, uint32_t num)
{
    for (int i = 0; i < cc->nbuckets; i++)
        if (cc->buckets[i]->num == num)
            return cc->buckets[i];
    return NULL;
}

static struct cc_bucket *bucket_add(struct colcache *cc, uint32_t num)
{
    if (cc->nbuckets == cc->cap_buckets) {
        int cap = cc->cap_buckets ? cc->cap_buckets * 2 : 16;
        struct cc_bucket **p = realloc(cc->buckets, (size_t)cap * sizeof(*p));
        if (p == NULL)
            return NULL;
        cc->buckets = p;
        cc->cap_buckets = cap;
    }
    struct cc_bucket *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return NULL;
    b->num = num;
    pthread_mutex_init(&b->build_mu, NULL);
    cc->buckets[cc->nbuckets++] = b;
    return b;
}

static void bucket_drop_versions(struct colcache *cc, struct cc_bucket *b)
{
    for (int i = 0; i < b->nversions; i++)
        version_unref(cc, b->versions[i]);
    b->nversions = 0;
}

static void bucket_free(struct colcache *cc, struct cc_bucket *b)
{
    bucket_drop_versions(cc, b);
    for (int i = 0; i < b->nspecs; i++) {
        free(b->specs[i].unwind);
        free(b->specs[i].path);
        ccdict_free(b->specs[i].dict);
    }
    for (int i = 0; i < b->nunwind; i++)
        free(b->unwind_paths[i]);
    pthread_mutex_destroy(&b->build_mu);
    free(b);
}

/* Removes a bucket from the table (cc->mu held): freed now, or by the
 * last thread still inside colcache_view with it. */
static void bucket_remove(struct colcache *cc, int index)
{
    struct cc_bucket *b = cc->buckets[index];

    cc->buckets[index] = cc->buckets[--cc->nbuckets];
    bucket_drop_versions(cc, b);
    b->removed = true;
    if (b->users == 0)
        bucket_free(cc, b);
}

static int unwind_index(struct cc_bucket *b, const char *path)
{
    for (int i = 0; i < b->nunwind; i++)
        if (strcmp(b->unwind_paths[i], path) == 0)
            return i;
    if (b->nunwind == MAX_UNWIND ||
        (b->unwind_paths[b->nunwind] = strdup(path)) == NULL)
        return -1;
    return b->nunwind++;
}

static void split_path(struct colspec *s)
{
    const char *p = s->path;

    s->ncomps = 0;
    while (s->ncomps < MAX_DEPTH) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        s->comp[s->ncomps] = p;
        s->comp_len[s->ncomps++] = (uint32_t)len;
        if (dot == NULL)
            return;
        p = dot + 1;
    }
    s->ncomps = 0;
}

/* The spec of a need, registered when new: its index, or -1. */
static int spec_for(struct cc_bucket *b, const struct cc_need *need)
{
    for (int i = 0; i < b->nspecs; i++) {
        const struct colspec *s = &b->specs[i];
        bool same_unwind = (s->unwind == NULL) == (need->unwind == NULL) &&
                           (s->unwind == NULL ||
                            strcmp(s->unwind, need->unwind) == 0);
        if (same_unwind && strcmp(s->path, need->path) == 0)
            return i;
    }
    if (b->nspecs == MAX_COLS)
        return -1;

    struct colspec *s = &b->specs[b->nspecs];
    s->unwind_index = need->unwind ? unwind_index(b, need->unwind) : -1;
    s->path = strdup(need->path);
    if (s->path != NULL)
        split_path(s);
    s->unwind = need->unwind ? strdup(need->unwind) : NULL;
    s->dict = ccdict_new();
    if (s->path == NULL || s->dict == NULL ||
        (need->unwind && (s->unwind == NULL || s->unwind_index < 0))) {
        free(s->path);
        free(s->unwind);
        ccdict_free(s->dict);
        return -1;
    }
    return b->nspecs++;
}

/* --- the observer ------------------------------------------------------ */

static void drop_bucket_num(struct colcache *cc, uint32_t num)
{
    for (int i = 0; i < cc->nbuckets; i++)
        if (cc->buckets[i]->num == num) {
            bucket_remove(cc, i);
            return;
        }
}

static void cc_observe(void *ctx, const struct store_change *c, size_t n,
                       size_t txn_id)
{
    struct colcache *cc = ctx;
    uint64_t cap = cc->cfg.log_entries;

    pthread_mutex_lock(&cc->mu);
    for (size_t i = 0; i < n; i++) {
        cc->log[cc->log_head % cap] = (struct log_entry){
            txn_id, c[i].seq, c[i].bucket_num, (uint32_t)c[i].kind};
        cc->log_head++;
        if (c[i].kind == STORE_CHANGE_DROP)
            drop_bucket_num(cc, c[i].bucket_num);
    }
    if (txn_id > cc->observed_txn)
        cc->observed_txn = txn_id;
    pthread_cond_broadcast(&cc->observed_cv);
    pthread_mutex_unlock(&cc->mu);
}

/* The first log position whose entry is newer than txn. */
static uint64_t log_position_after(struct colcache *cc, uint64_t txn)
{
    uint64_t cap = cc->cfg.log_entries;
    uint64_t lo = cc->log_head > cap ? cc->log_head - cap : 0;
    uint64_t hi = cc->log_head;

    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (cc->log[mid % cap].txn <= txn)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* --- set-up ------------------------------------------------------------ */

int colcache_new(struct store *s, const struct colcache_config *cfg,
                 struct colcache **out)
{
    struct colcache *cc = calloc(1, sizeof(*cc));
    struct store_txn t;
    struct err e;

    *out = NULL;
    if (cc == NULL)
        return ERR_NOMEM;
    cc->store = s;
    cc->cfg = *cfg;
    if (cc->cfg.budget_bytes == 0)
        cc->cfg.budget_bytes = COLCACHE_DEFAULT_BUDGET;
    if (cc->cfg.log_entries == 0)
        cc->cfg.log_entries = COLCACHE_DEFAULT_LOG;
    cc->log = calloc(cc->cfg.log_entries, sizeof(*cc->log));
    if (cc->log == NULL) {
        free(cc);
        return ERR_NOMEM;
    }
    pthread_mutex_init(&cc->mu, NULL);
    pthread_cond_init(&cc->observed_cv, NULL);

    err_init(&e);
    if (store_read_begin(s, &t, &e) == 0) {
        cc->observed_txn = mdb_txn_id(t.txn);
        store_read_end(&t);
    }
    err_release(&e);
    store_set_observer(s, cc_observe, cc);
    *out = cc;
    return 0;
}

void colcache_free(struct colcache *cc)
{
    if (cc == NULL)
        return;
    store_set_observer(cc->store, NULL, NULL);
    pthread_mutex_lock(&cc->mu);
    while (cc->nbuckets > 0)
        bucket_remove(cc, 0);
    pthread_mutex_unlock(&cc->mu);
    free(cc->buckets);
    free(cc->log);
    pthread_cond_destroy(&cc->observed_cv);
    pthread_mutex_destroy(&cc->mu);
    free(cc);
}

/* --- views ------------------------------------------------------------- */

/* Bytes held: chunks and dictionaries (cc->mu held). */
static uint64_t held_bytes(struct colcache *cc)
{
    uint64_t total = atomic_load(&cc->bytes);

    for (int i = 0; i < cc->nbuckets; i++)
        for (int k = 0; k < cc->buckets[i]->nspecs; k++)
            total += ccdict_bytes(cc->buckets[i]->specs[k].dict);
    return total;
}

/* Drops least recently used buckets (other than keep) while over budget;
 * cc->mu held. */
static void evict(struct colcache *cc, struct cc_bucket *keep)
{
    uint64_t held;

    while ((held = held_bytes(cc)) > cc->cfg.budget_bytes) {
        int victim = -1;
        for (int i = 0; i < cc->nbuckets; i++) {
            struct cc_bucket *b = cc->buckets[i];
            if (b != keep &&
                (victim < 0 || b->last_used < cc->buckets[victim]->last_used))
                victim = i;
        }
        if (victim < 0)
            return;
        LOG_INFO("column cache over budget: dropping a bucket",
                 "bucket=%u bytes=%llu budget=%llu", cc->buckets[victim]->num,
                 (unsigned long long)held,
                 (unsigned long long)cc->cfg.budget_bytes);
        atomic_fetch_add(&cc->evictions, 1);
        bucket_remove(cc, victim);
    }
}

struct view_plan {
    struct cc_bucket *b;
    int spec[MAX_COLS];          /* per need */
    bool fill[MAX_COLS];         /* per spec: to build in this view */
    struct cc_version *base;     /* pinned; NULL: build from scratch */
    bool publish;                /* the result becomes the newest */
    uint64_t *seqs;
    size_t nseqs;
    uint64_t log_end;
};

/* Under cc->mu: waits for the snapshot's commits to be observed, finds or
 * registers the bucket and specs, and picks the base version. */
static int plan_view(struct colcache *cc, uint64_t txn, uint32_t num,
                     const struct cc_need *needs, int nneeds,
                     struct view_plan *p)
{
    while (cc->observed_txn < txn)
        pthread_cond_wait(&cc->observed_cv, &cc->mu);

    p->b = bucket_find(cc, num);
    if (p->b == NULL && (p->b = bucket_add(cc, num)) == NULL)
        return ERR_NOMEM;
    p->b->last_used = ++cc->tick;
    for (int i = 0; i < nneeds; i++)
        if ((p->spec[i] = spec_for(p->b, &needs[i])) < 0)
            return ERR_UNAVAILABLE;
    p->b->users++;
    return 0;
}

/* Under cc->mu and the bucket's build mutex: the newest version at or
 * before txn, pinned, with the log window to replay on it. */
static int pick_base(struct colcache *cc, uint64_t txn, struct view_plan *p)
{
    struct cc_bucket *b = p->b;

    p->base = NULL;
    p->publish = b->nversions == 0 || b->versions[0]->txn <= txn;
    for (int i = 0; i < b->nversions; i++) {
        struct cc_version *v = b->versions[i];
        if (v->txn > txn)
            continue;
        int rc = changed_seqs(cc, b->num, v->log_pos, txn, &p->seqs,
                              &p->nseqs, &p->log_end);
        if (rc == ERR_UNAVAILABLE)
            break; /* forgotten: rebuild */
        if (rc != 0)
            return rc;
        atomic_fetch_add(&v->refs, 1);
        p->base = v;
        return 0;
    }
    if (!p->publish)
        return ERR_UNAVAILABLE; /* older than every version kept */
    p->log_end = log_position_after(cc, txn);
    return 0;
}

static bool too_dirty(const struct cc_version *v)
{
    if (v->nrows > 64 && v->dead > v->nrows / DEAD_ROWS_DIVISOR)
        return true;
    for (int u = 0; u < MAX_UNWIND; u++)
        if (v->unw[u].nelems > 64 && v->unw[u].garbage > v->unw[u].nelems / 2)
            return true;
    return false;
}

static bool base_has(const struct view_plan *p, int nneeds)
{
    for (int i = 0; i < nneeds; i++)
        if (!p->base->cols[p->spec[i]].built)
            return false;
    return true;
}

/* Produces the version for the view (bucket build mutex held). */
static int make_version(struct colcache *cc, struct store_txn *t,
                        uint64_t txn, struct view_plan *p,
                        const struct cc_need *needs, int nneeds,
                        struct cc_version **out, struct err *e)
{
    struct cc_bucket *b = p->b;
    struct cc_version *v;
    bool scratch = p->base == NULL || too_dirty(p->base);
    int rc = 0;

    if (!scratch && p->nseqs == 0 && base_has(p, nneeds)) {
        /* Nothing changed and every column is there: share the base. */
        atomic_fetch_add(&p->base->refs, 1);
        *out = p->base;
        return 0;
    }

    v = scratch ? calloc(1, sizeof(*v)) : version_copy(p->base);
    if (v == NULL)
        return err_set(e, ERR_NOMEM, "out of memory in the column cache");
    if (scratch)
        v->refs = 1;
    struct filler f = {cc, b, v, p->fill};

    memset(p->fill, 0, sizeof(p->fill));
    for (int i = 0; i < nneeds; i++)
        if (scratch || !v->cols[p->spec[i]].built)
            p->fill[p->spec[i]] = true;
    (void)needs;

    if (scratch) {
        for (int u = 0; u < b->nunwind; u++)
            v->unw[u].built = false;
        rc = build_version(&f, t, e);
        atomic_fetch_add(&cc->builds, 1);
    } else if (p->nseqs > 0) {
        rc = catch_up(&f, t, p->seqs, p->nseqs, e);
        atomic_fetch_add(&cc->catchups, 1);
    }
    bool any_new = false;
    for (int k = 0; k < b->nspecs; k++)
        any_new |= p->fill[k] && !(scratch && b->specs[k].unwind_index < 0);
    if (rc == 0 && any_new)
        rc = build_columns(&f, t, e);
    if (rc == 0) {
        for (int k = 0; k < b->nspecs; k++)
            if (p->fill[k])
                v->cols[k].built = true;
        for (int u = 0; u < b->nunwind; u++)
            for (int k = 0; k < b->nspecs; k++)
                if (p->fill[k] && b->specs[k].unwind_index == u)
                    v->unw[u].built = true;
        v->txn = txn;
        v->log_pos = p->log_end;
    }
    if (rc != 0) {
        version_unref(cc, v);
        return rc;
    }
    *out = v;
    return 0;
}

/* Under cc->mu: the version becomes the bucket's newest. */
static void publish(struct colcache *cc, struct cc_bucket *b,
                    struct cc_version *v)
{
    if (b->nversions > 0 && b->versions[0] == v)
        return;
    atomic_fetch_add(&v->refs, 1);
    if (b->nversions == KEEP_VERSIONS + 1)
        version_unref(cc, b->versions[--b->nversions]);
    memmove(b->versions + 1, b->versions,
            (size_t)b->nversions * sizeof(b->versions[0]));
    b->versions[0] = v;
    b->nversions++;
    evict(cc, b);
}

static void fill_view(const struct view_plan *p, struct cc_version *v,
                      const struct cc_need *needs, int nneeds,
                      struct cc_view *out)
{
    out->version = v;
    out->nrows = v->nrows;
    out->seqs = (uint64_t **)v->seqs.p;
    out->live = (uint64_t **)v->live.p;
    out->ncols = nneeds;
    for (int i = 0; i < nneeds; i++) {
        const struct colspec *s = &p->b->specs[p->spec[i]];
        out->cols[i] = (struct cc_column){
            (struct cc_cells **)v->cols[p->spec[i]].cells.p, s->dict,
            v->cols[p->spec[i]].other};
        if (needs[i].unwind != NULL) {
            const struct unwindver *uv = &v->unw[s->unwind_index];
            out->elem_start = (uint32_t **)uv->start.p;
            out->elem_count = (uint32_t **)uv->count.p;
            out->nelems = uv->nelems;
        }
    }
}

static void view_leave(struct colcache *cc, struct cc_bucket *b)
{
    pthread_mutex_lock(&cc->mu);
    if (--b->users == 0 && b->removed)
        bucket_free(cc, b);
    pthread_mutex_unlock(&cc->mu);
}

int colcache_view(struct colcache *cc, struct store_txn *t, uint32_t num,
                  const struct cc_need *needs, int nneeds,
                  struct cc_view *out, struct err *e)
{
    struct view_plan p = {0};
    struct cc_version *v = NULL;
    uint64_t txn = mdb_txn_id(t->txn);
    int rc;

    memset(out, 0, sizeof(*out));
    if (nneeds > MAX_COLS)
        return ERR_UNAVAILABLE;
    pthread_mutex_lock(&cc->mu);
    rc = plan_view(cc, txn, num, needs, nneeds, &p);
    pthread_mutex_unlock(&cc->mu);
    if (rc != 0)
        return rc;

    pthread_mutex_lock(&p.b->build_mu);
    pthread_mutex_lock(&cc->mu);
    rc = pick_base(cc, txn, &p);
    pthread_mutex_unlock(&cc->mu);
    if (rc == 0)
        rc = make_version(cc, t, txn, &p, needs, nneeds, &v, e);
    free(p.seqs);

    pthread_mutex_lock(&cc->mu);
    if (rc == 0 && p.publish)
        publish(cc, p.b, v);
    version_unref(cc, p.base);
    pthread_mutex_unlock(&cc->mu);
    pthread_mutex_unlock(&p.b->build_mu);

    if (rc == 0) {
        out->cols = calloc((size_t)nneeds, sizeof(*out->cols));
        if (out->cols == NULL) {
            version_unref(cc, v);
            rc = err_set(e, ERR_NOMEM, "out of memory");
        } else {
            fill_view(&p, v, needs, nneeds, out);
            atomic_fetch_add(&cc->hits, 1);
        }
    }
    if (rc == ERR_UNAVAILABLE)
        atomic_fetch_add(&cc->misses, 1);
    view_leave(cc, p.b);
    return rc;
}

void colcache_release(struct colcache *cc, struct cc_view *view)
{
    if (view->version != NULL) {
        pthread_mutex_lock(&cc->mu);
        version_unref(cc, view->version);
        pthread_mutex_unlock(&cc->mu);
    }
    free(view->cols);
    memset(view, 0, sizeof(*view));
}

void colcache_usage(struct colcache *cc, struct colcache_usage *u)
{
    pthread_mutex_lock(&cc->mu);
    u->buckets = (uint64_t)cc->nbuckets;
    u->columns = 0;
    for (int i = 0; i < cc->nbuckets; i++)
        u->columns += (uint64_t)cc->buckets[i]->nspecs;
    u->bytes = held_bytes(cc);
    pthread_mutex_unlock(&cc->mu);
    u->budget = cc->cfg.budget_bytes;
    u->builds = atomic_load(&cc->builds);
    u->catchups = atomic_load(&cc->catchups);
    u->evictions = atomic_load(&cc->evictions);
    u->hits = atomic_load(&cc->hits);
    u->misses = atomic_load(&cc->misses);
}
