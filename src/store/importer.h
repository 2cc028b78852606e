/*
 * importer.h - NDJSON into a bucket, streamed: one object per line, in
 * batches, each line kept or rejected on its own.
 *
 * Bytes arrive in pieces of any size (importer_feed); complete lines are
 * parsed at once and written in batches of IMPORTER_BATCH_LINES, each
 * batch one write (one commit). Lines keep their object_id, created_at,
 * updated_at and status (a dump restores as it was). A line that is not
 * JSON, fails the bucket schema, is too long, or collides with an
 * existing object is rejected with its line number and reason; the rest
 * go on. Memory holds one batch, never the whole input.
 *
 * Used by POST .../objects/import and by `tally import`.
 */
#ifndef TALLY_STORE_IMPORTER_H
#define TALLY_STORE_IMPORTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "store/store.h"

/* TUNING: 10000 lines (about 5 MB of objects) per commit. Every commit
 * rewrites the pages its inserts touched, and ids are random, so small
 * commits rewrite the id index over and over: 200k bench objects on disk
 * took 104k page writes in batches of 1000, 12k in batches of 10000 (and
 * a quarter of the wall time). A crash loses at most the one uncommitted
 * batch, which was never acknowledged. */
#define IMPORTER_BATCH_LINES 10000
#define IMPORTER_BATCH_BYTES (16u << 20)

struct importer_config {
    uint64_t max_object_bytes;  /* also bounds a line's length */
    uint64_t max_rejects;       /* the import stops past this many */
    int json_max_depth;
};

struct importer_stats {
    uint64_t lines;        /* non-blank lines seen */
    uint64_t imported;
    uint64_t rejected;
    uint64_t bytes;
    uint64_t batches;
};

struct importer_reject {
    uint64_t line;         /* 1-based */
    const char *error;     /* owned by the importer */
    const char *type;      /* upstream error type name */
};

/* The lines an import rejected, with their reasons: kept the same way by
 * every backend's import. */
struct import_rejects {
    struct importer_reject *items;   /* errors owned (import_rejects_release) */
    size_t n, cap;
};

/* Records line's rejection (msg is copied). ERR_NOMEM. */
int import_rejects_add(struct import_rejects *r, uint64_t line,
                       enum err_code code, const char *msg);
int import_rejects_add_err(struct import_rejects *r, uint64_t line,
                           const struct err *e);
/* The rejections in line order (lines are rejected when read or when
 * their batch is written, so they are recorded out of order). */
const struct importer_reject *import_rejects_sorted(struct import_rejects *r,
                                                    size_t *n);
void import_rejects_release(struct import_rejects *r);

struct json_error;
/* The two rejections framing and parsing make, with their messages. */
int import_rejects_bad_json(struct import_rejects *r, uint64_t line,
                            const struct json_error *je);
int import_rejects_too_long(struct import_rejects *r, uint64_t line,
                            uint64_t max_object_bytes);

/* Whether rc refuses one line (taken id, schema...) rather than the whole
 * import. */
bool import_line_refused(int rc);
/* Whether a line holds only white space (skipped, not counted). */
bool import_line_blank(const char *s, size_t n);

/* NDJSON framing, shared by the imports: bytes arriving in pieces of any
 * size become whole lines (without their newline); a line longer than
 * max bytes is reported once, when it passes the bound, and the rest of
 * it is dropped. */
struct import_lines {
    struct buf partial;      /* an incomplete line carried over */
    bool skipping;           /* inside a line that is too long */
    uint64_t max;            /* 0: no bound */
};

struct import_line_ops {
    int (*line)(void *ctx, const char *s, size_t n, struct err *e);
    int (*too_long)(void *ctx, struct err *e);
};

/* Hands every line this piece completes to ops; stops at the first
 * non-zero return and returns it. */
int import_lines_feed(struct import_lines *l, const char *data, size_t n,
                      const struct import_line_ops *ops, void *ctx,
                      struct err *e);
/* The last line, when the input did not end with a newline. */
int import_lines_finish(struct import_lines *l,
                        const struct import_line_ops *ops, void *ctx,
                        struct err *e);
void import_lines_release(struct import_lines *l);

struct importer;

/* Prepares an import into bucket (id or name) of namespace ns_id with an
 * optional policy name. ERR_NOT_FOUND / ERR_BAD_REQUEST in e. */
int importer_new(struct store *s, const char *ns_id, const char *bucket,
                 const char *policy, const struct importer_config *cfg,
                 struct importer **out, struct err *e);

/* Takes the next piece of input. Returns 0, or stops the import: ERR_LIMIT
 * when max_rejects was passed, ERR_NOT_FOUND when the bucket went away,
 * or a store error (disk full...). */
int importer_feed(struct importer *im, const char *data, size_t n,
                  struct err *e);

/* Writes the complete lines read so far and waits for every write, so
 * that the counts are final: for a caller that stops an import early and
 * keeps what came before. An unfinished last line is left out. Returns 0
 * or a store error. */
int importer_drain(struct importer *im, struct err *e);

/* Writes what is left (the last line needs no newline). */
int importer_finish(struct importer *im, struct err *e);

const struct importer_stats *importer_stats(const struct importer *im);
/* The rejected lines, in line order. */
const struct importer_reject *importer_rejects(struct importer *im,
                                               size_t *n);
const char *importer_bucket_id(const struct importer *im);
void importer_free(struct importer *im);

#endif
