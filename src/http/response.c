/*
 * response.c - how Tally answers on the wire: JSON bodies, the upstream
 * error envelope, and FastAPI's 422 shape for validation problems.
 */
#include <stdarg.h>
#include <stdio.h>

#include "http/http.h"
#include "json/json.h"

void http_reply_json(struct http_response *resp, int status)
{
    resp->status = status;
    resp->content_type = NULL;
}

static void write_validation(struct http_response *resp, const struct err *e)
{
    struct jw w;

    buf_reset(&resp->body);
    jw_init(&w, &resp->body);
    jw_object_begin(&w);
    jw_key(&w, "detail");
    jw_array_begin(&w);
    for (size_t i = 0; i < e->problem_count; i++) {
        const struct err_problem *p = &e->problems[i];
        jw_object_begin(&w);
        jw_key(&w, "loc");
        jw_array_begin(&w);
        for (int j = 0; j < p->loc_len; j++) {
            if (p->loc[j].is_index)
                jw_int(&w, p->loc[j].index);
            else
                jw_string(&w, p->loc[j].key);
        }
        jw_array_end(&w);
        jw_key(&w, "msg");
        jw_string(&w, p->msg);
        jw_key(&w, "type");
        jw_string(&w, p->type);
        jw_object_end(&w);
    }
    jw_array_end(&w);
    jw_object_end(&w);
}

static void write_envelope(struct http_response *resp, int status,
                           const char *type, const char *msg,
                           const char *field)
{
    struct jw w;

    buf_reset(&resp->body);
    jw_init(&w, &resp->body);
    jw_object_begin(&w);
    jw_key(&w, "success");
    jw_bool(&w, false);
    jw_key(&w, "status");
    jw_int(&w, status);
    jw_key(&w, "error");
    jw_object_begin(&w);
    jw_key(&w, "message");
    jw_string(&w, msg);
    jw_key(&w, "type");
    jw_string(&w, type);
    jw_key(&w, "details");
    if (field != NULL && field[0] != '\0') {
        jw_object_begin(&w);
        jw_key(&w, "field");
        jw_string(&w, field);
        jw_object_end(&w);
    } else {
        jw_null(&w);
    }
    jw_object_end(&w);
    jw_object_end(&w);
}

void http_reply_error(struct http_response *resp, const struct err *e)
{
    enum err_code code = e->code == ERR_OK ? ERR_INTERNAL : e->code;

    resp->status = err_http_status(code);
    resp->content_type = NULL;
    if (code == ERR_VALIDATION && e->problem_count > 0) {
        write_validation(resp, e);
        return;
    }
    write_envelope(resp, resp->status, err_type_name(code),
                   e->msg[0] ? e->msg : "internal error", e->detail_field);
}

void http_reply_errorf(struct http_response *resp, enum err_code code,
                       const char *fmt, ...)
{
    struct err e;
    va_list ap;

    err_init(&e);
    e.code = code;
    va_start(ap, fmt);
    vsnprintf(e.msg, sizeof(e.msg), fmt, ap);
    va_end(ap);
    http_reply_error(resp, &e);
    err_release(&e);
}
