/*
 * Server reflection (grpc.reflection.v1 and v1alpha ServerReflectionInfo).
 *
 * The index is built once, at enable time, from the embedder's
 * FileDescriptorSet. The set is split at the wire level so that every file
 * is answered with the very bytes protoc wrote (nothing is re-encoded), and
 * each file is unpacked once with descriptor.proto's protobuf-c types to
 * learn its name, dependencies and symbols. Files and symbols end up in two
 * sorted arrays searched with bsearch; names and dependency lists live in
 * one arena freed with the index.
 *
 * v1alpha is v1 under another package: the two reflection.proto files
 * declare the same messages with the same field numbers and types, so both
 * methods decode and encode with v1's protobuf-c types and share all logic.
 * (tests/unit/test_reflection.c checks the two descriptor sets match.)
 *
 * Per stream we keep the set of files already sent, so a response carries
 * the requested file plus only those transitive dependencies the client has
 * not yet received (grpc-go does the same). Invariant: that set is closed
 * under dependencies, since every response sends a file together with all of
 * its unsent dependencies; the walk therefore stops at files already sent.
 *
 * Backpressure: when ugrpc_call_send answers UGRPC_EAGAIN the request is
 * queued (re-encoded: the decoded message only lives during on_message) and
 * answered from the writable callback, in order. The queue is bounded; a
 * client that keeps asking without reading is ended with RESOURCE_EXHAUSTED.
 *
 * Streams are found by their call in a list: reflection streams are few and
 * short-lived. A stream is freed exactly when its call stops being ours: in
 * on_cancel, or just before we finish the call.
 */
#include "reflection.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "google/protobuf/descriptor.pb-c.h"
#include "grpc/reflection/v1/reflection.pb-c.h"
#include "router.h"
#include "server.h"

#define V1_PATH      "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
#define V1ALPHA_PATH "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"

/* Requests waiting for the client to read: at most this many, and this many
 * bytes of them. */
#define MAX_PENDING       64u
#define MAX_PENDING_BYTES (1u << 20)

typedef Grpc__Reflection__V1__ServerReflectionRequest rrequest;
typedef Grpc__Reflection__V1__ServerReflectionResponse rresponse;

#define REQ(c)  GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_##c
#define RESP(c) GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_##c

typedef struct rfile {
    ProtobufCBinaryData raw; /* the serialized FileDescriptorProto, inside the set */
    const char *name;
    size_t *deps; /* indices of the dependencies present in the set */
    size_t ndeps;
    int dup; /* a later copy of a file name already seen: not served */
} rfile;

typedef struct rname {
    const char *name;
    size_t file;
} rname;

typedef struct pending {
    struct pending *next;
    size_t len;
    uint8_t data[]; /* a ServerReflectionRequest, encoded */
} pending;

typedef struct rstream {
    struct rstream *prev, *next;
    struct ugrpc__reflection *r;
    ugrpc_call *call;
    pending *head, *tail;
    unsigned npending;
    size_t pending_bytes;
    unsigned half_closed : 1;
    uint8_t sent[]; /* one flag per file: already sent on this stream */
} rstream;

struct ugrpc__reflection {
    ugrpc_server *srv;
    ugrpc__arena arena;
    rfile *files;
    size_t nfiles;
    rname *by_name; /* files by name, sorted, without duplicates */
    size_t nnames;
    rname *symbols; /* fully-qualified symbol -> file, sorted, unique */
    size_t nsymbols, symcap;
    /* Scratch for one file response. Loop thread only, and nothing re-enters
     * while a response is built, so one set serves every stream. */
    size_t *order;
    uint8_t *mark;
    ProtobufCBinaryData *bins;
    rstream *streams;
};

/* protobuf-c allocator on the library's hook, for short-lived messages.
 * With allocator_data pointing at an int, a failed allocation sets it: that
 * is how a failed unpack tells running out of memory from bad input. */
static void *heap_alloc(void *data, size_t size)
{
    void *p = ugrpc__malloc(size);
    if (p == NULL && data != NULL) *(int *)data = 1;
    return p;
}

static void heap_free(void *data, void *p)
{
    (void)data;
    ugrpc__free(p);
}

static ProtobufCAllocator heap_pb = {heap_alloc, heap_free, NULL};

/* ---- splitting the FileDescriptorSet ---- */

static int read_varint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return UGRPC_EINVAL;
}

/* Walks the set's top-level fields. Each `file` (field 1) is stored in
 * files[n] when files is not NULL; the count goes to *n. Other fields are
 * skipped as the wire format says; groups and truncation are errors. */
static int split_set(const uint8_t *p, size_t len, rfile *files, size_t *n)
{
    const uint8_t *end = p + len;
    size_t count = 0;
    while (p < end) {
        uint64_t key, v;
        if (read_varint(&p, end, &key) < 0 || (key >> 3) == 0) return UGRPC_EINVAL;
        unsigned wire = (unsigned)(key & 7);
        if ((key >> 3) == 1 && wire != 2) return UGRPC_EINVAL;
        switch (wire) {
        case 0:
            if (read_varint(&p, end, &v) < 0) return UGRPC_EINVAL;
            break;
        case 1:
            if (end - p < 8) return UGRPC_EINVAL;
            p += 8;
            break;
        case 2:
            if (read_varint(&p, end, &v) < 0 || v > (uint64_t)(end - p)) return UGRPC_EINVAL;
            if ((key >> 3) == 1) {
                if (files != NULL)
                    files[count].raw = (ProtobufCBinaryData){(size_t)v, (uint8_t *)p};
                count++;
            }
            p += v;
            break;
        case 5:
            if (end - p < 4) return UGRPC_EINVAL;
            p += 4;
            break;
        default:
            return UGRPC_EINVAL;
        }
    }
    *n = count;
    return 0;
}

/* ---- the index ---- */

static int cmp_rname(const void *a, const void *b)
{
    const rname *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c != 0) return c;
    return x->file < y->file ? -1 : x->file > y->file;
}

static int cmp_key(const void *key, const void *elem)
{
    return strcmp(key, ((const rname *)elem)->name);
}

static const rname *lookup(const rname *a, size_t n, const char *name)
{
    return n == 0 ? NULL : bsearch(name, a, n, sizeof(*a), cmp_key);
}

/* Sorts and keeps the first (lowest file index) entry of each name. */
static size_t sort_unique(rname *a, size_t n)
{
    if (n == 0) return 0;
    qsort(a, n, sizeof(*a), cmp_rname);
    size_t k = 1;
    for (size_t i = 1; i < n; i++)
        if (strcmp(a[i].name, a[k - 1].name) != 0) a[k++] = a[i];
    return k;
}

/* "prefix.name", or "name" for an empty prefix, in the arena. */
static const char *join(struct ugrpc__reflection *r, const char *prefix, const char *name)
{
    size_t pl = prefix != NULL ? strlen(prefix) : 0, nl = strlen(name);
    char *s = ugrpc__arena_alloc(&r->arena, pl + nl + 2);
    if (s == NULL) return NULL;
    if (pl > 0) {
        memcpy(s, prefix, pl);
        s[pl++] = '.';
    }
    memcpy(s + pl, name, nl + 1);
    return s;
}

/* Indexes prefix.name for `file`; returns the full name (NULL on failure).
 * A descriptor without a name is skipped: returns "" so that the caller
 * skips its children too. */
static const char *add_symbol(struct ugrpc__reflection *r, const char *prefix, const char *name,
                              size_t file, int *err)
{
    if (name == NULL || name[0] == '\0') return "";
    if (r->nsymbols == r->symcap) {
        size_t cap = r->symcap ? r->symcap * 2 : 64;
        rname *s = ugrpc__realloc(r->symbols, cap * sizeof(*s));
        if (s == NULL) {
            *err = UGRPC_ENOMEM;
            return NULL;
        }
        r->symbols = s;
        r->symcap = cap;
    }
    const char *full = join(r, prefix, name);
    if (full == NULL) {
        *err = UGRPC_ENOMEM;
        return NULL;
    }
    r->symbols[r->nsymbols++] = (rname){full, file};
    return full;
}

static int index_message(struct ugrpc__reflection *r, const char *prefix,
                         const Google__Protobuf__DescriptorProto *m, size_t file)
{
    int err = 0;
    const char *full = add_symbol(r, prefix, m->name, file, &err);
    if (full == NULL) return err;
    if (full[0] == '\0') return 0;
    for (size_t i = 0; i < m->n_nested_type; i++) {
        err = index_message(r, full, m->nested_type[i], file);
        if (err < 0) return err;
    }
    for (size_t i = 0; i < m->n_enum_type; i++)
        if (add_symbol(r, full, m->enum_type[i]->name, file, &err) == NULL) return err;
    return 0;
}

static int index_file(struct ugrpc__reflection *r, const Google__Protobuf__FileDescriptorProto *fd,
                      size_t file)
{
    const char *pkg = fd->package;
    int err = 0;
    for (size_t i = 0; i < fd->n_message_type; i++) {
        err = index_message(r, pkg, fd->message_type[i], file);
        if (err < 0) return err;
    }
    for (size_t i = 0; i < fd->n_enum_type; i++)
        if (add_symbol(r, pkg, fd->enum_type[i]->name, file, &err) == NULL) return err;
    for (size_t i = 0; i < fd->n_service; i++) {
        const Google__Protobuf__ServiceDescriptorProto *s = fd->service[i];
        const char *full = add_symbol(r, pkg, s->name, file, &err);
        if (full == NULL) return err;
        if (full[0] == '\0') continue;
        for (size_t j = 0; j < s->n_method; j++)
            if (add_symbol(r, full, s->method[j]->name, file, &err) == NULL) return err;
    }
    return 0;
}

static void free_index(struct ugrpc__reflection *r)
{
    ugrpc__free(r->symbols);
    ugrpc__arena_reset(&r->arena);
    ugrpc__free(r);
}

/* Builds the index from the set; fds holds each file unpacked (scratch the
 * caller frees). */
static int build_index(struct ugrpc__reflection *r, const uint8_t *set, size_t len,
                       Google__Protobuf__FileDescriptorProto ***fds_out)
{
    size_t n;
    int rv = split_set(set, len, NULL, &n);
    if (rv < 0) return rv;
    size_t cells = n ? n : 1;
    r->files = ugrpc__arena_alloc(&r->arena, cells * sizeof(*r->files));
    r->by_name = ugrpc__arena_alloc(&r->arena, cells * sizeof(*r->by_name));
    r->order = ugrpc__arena_alloc(&r->arena, cells * sizeof(*r->order));
    r->mark = ugrpc__arena_alloc(&r->arena, cells);
    r->bins = ugrpc__arena_alloc(&r->arena, cells * sizeof(*r->bins));
    Google__Protobuf__FileDescriptorProto **fds = ugrpc__calloc(cells, sizeof(*fds));
    *fds_out = fds;
    if (!r->files || !r->by_name || !r->order || !r->mark || !r->bins || !fds) return UGRPC_ENOMEM;
    memset(r->files, 0, cells * sizeof(*r->files));
    split_set(set, len, r->files, &n);
    r->nfiles = n;

    int oom = 0;
    ProtobufCAllocator pb = {heap_alloc, heap_free, &oom};
    for (size_t i = 0; i < n; i++) {
        const rfile *f = &r->files[i];
        fds[i] = google__protobuf__file_descriptor_proto__unpack(&pb, f->raw.len, f->raw.data);
        if (fds[i] == NULL) return oom ? UGRPC_ENOMEM : UGRPC_EINVAL;
        if (fds[i]->name == NULL || fds[i]->name[0] == '\0') return UGRPC_EINVAL;
        r->files[i].name = fds[i]->name;
        r->by_name[i] = (rname){fds[i]->name, i};
    }
    /* A set may name a file twice (concatenated sets are valid sets and often
     * repeat a shared import): the first copy is the one served. */
    r->nnames = sort_unique(r->by_name, n);
    for (size_t i = 0; i < n; i++) {
        r->files[i].dup = 1;
        r->files[i].name = NULL; /* set below for the copies served */
    }
    for (size_t i = 0; i < r->nnames; i++) {
        rfile *f = &r->files[r->by_name[i].file];
        f->dup = 0;
        /* Names must outlive the unpacked descriptors. */
        f->name = r->by_name[i].name = join(r, NULL, r->by_name[i].name);
        if (f->name == NULL) return UGRPC_ENOMEM;
    }

    for (size_t i = 0; i < n; i++) {
        rfile *f = &r->files[i];
        if (f->dup) continue;
        const Google__Protobuf__FileDescriptorProto *fd = fds[i];
        if (fd->n_dependency > 0) {
            f->deps = ugrpc__arena_alloc(&r->arena, fd->n_dependency * sizeof(*f->deps));
            if (f->deps == NULL) return UGRPC_ENOMEM;
        }
        /* A dependency missing from the set cannot be served; the client
         * will ask for it by name and get NOT_FOUND. */
        for (size_t j = 0; j < fd->n_dependency; j++) {
            const rname *d = lookup(r->by_name, r->nnames, fd->dependency[j]);
            if (d != NULL) f->deps[f->ndeps++] = d->file;
        }
        rv = index_file(r, fd, i);
        if (rv < 0) return rv;
    }
    r->nsymbols = sort_unique(r->symbols, r->nsymbols);
    return 0;
}

/* ---- streams ---- */

static rstream *find_stream(struct ugrpc__reflection *r, const ugrpc_call *call)
{
    for (rstream *s = r->streams; s != NULL; s = s->next)
        if (s->call == call) return s;
    return NULL;
}

static void free_stream(rstream *s)
{
    if (s->prev != NULL)
        s->prev->next = s->next;
    else
        s->r->streams = s->next;
    if (s->next != NULL) s->next->prev = s->prev;
    while (s->head != NULL) {
        pending *p = s->head;
        s->head = p->next;
        ugrpc__free(p);
    }
    ugrpc__free(s);
}

static void end_stream(rstream *s, int code, const char *msg)
{
    ugrpc_call *call = s->call;
    free_stream(s);
    ugrpc_call_finish(call, code, msg);
}

/* The senders below fill in their own copy of `base` (host and original
 * request set), so nothing points at their locals once they return. */
static int send_error(rstream *s, const rresponse *base, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int send_error(rstream *s, const rresponse *base, int code, const char *fmt, ...)
{
    rresponse res = *base;
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    Grpc__Reflection__V1__ErrorResponse err = GRPC__REFLECTION__V1__ERROR_RESPONSE__INIT;
    err.error_code = code;
    err.error_message = msg;
    res.message_response_case = RESP(ERROR_RESPONSE);
    res.error_response = &err;
    return ugrpc_call_send(s->call, &res.base);
}

/* Answers with file `idx` and its transitive dependencies not yet sent on
 * this stream, the requested file first. Files count as sent only once the
 * response is accepted, so a refused send can simply be retried. */
static int send_files(rstream *s, const rresponse *base, size_t idx)
{
    rresponse res = *base;
    struct ugrpc__reflection *r = s->r;
    memset(r->mark, 0, r->nfiles);
    size_t n = 0;
    r->order[n++] = idx;
    r->mark[idx] = 1;
    /* Breadth first, the output doubling as the work list. */
    for (size_t k = 0; k < n; k++) {
        const rfile *f = &r->files[r->order[k]];
        for (size_t j = 0; j < f->ndeps; j++) {
            size_t d = f->deps[j];
            if (r->mark[d] || s->sent[d]) continue;
            r->mark[d] = 1;
            r->order[n++] = d;
        }
    }
    for (size_t k = 0; k < n; k++)
        r->bins[k] = r->files[r->order[k]].raw;
    Grpc__Reflection__V1__FileDescriptorResponse fdr =
        GRPC__REFLECTION__V1__FILE_DESCRIPTOR_RESPONSE__INIT;
    fdr.n_file_descriptor_proto = n;
    fdr.file_descriptor_proto = r->bins;
    res.message_response_case = RESP(FILE_DESCRIPTOR_RESPONSE);
    res.file_descriptor_response = &fdr;
    int rv = ugrpc_call_send(s->call, &res.base);
    if (rv == UGRPC_ETOOBIG)
        return send_error(s, base, UGRPC_STATUS_RESOURCE_EXHAUSTED,
                          "descriptors of %s exceed the maximum message size", r->files[idx].name);
    if (rv == 0)
        for (size_t k = 0; k < n; k++)
            s->sent[r->order[k]] = 1;
    return rv;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names every service registered now (from the method paths), sorted. */
static int send_services(rstream *s, const rresponse *base)
{
    rresponse res = *base;
    const ugrpc__router *rt = &s->r->srv->router;
    size_t bytes = 0;
    for (size_t i = 0; i < rt->cap; i++)
        if (rt->slots[i].path != NULL) bytes += strlen(rt->slots[i].path);
    size_t cnt = rt->count;
    size_t head = cnt * (sizeof(Grpc__Reflection__V1__ServiceResponse) +
                         sizeof(Grpc__Reflection__V1__ServiceResponse *) + sizeof(char *));
    /* One block: responses, their pointers, name pointers, then the names. */
    uint8_t *block = ugrpc__malloc(head + bytes + 1);
    if (block == NULL) return UGRPC_ENOMEM;
    Grpc__Reflection__V1__ServiceResponse *items = (void *)block;
    Grpc__Reflection__V1__ServiceResponse **ptrs = (void *)(items + cnt);
    char **names = (void *)(ptrs + cnt);
    char *text = (char *)(names + cnt);
    size_t n = 0;
    for (size_t i = 0; i < rt->cap; i++) {
        const char *path = rt->slots[i].path;
        if (path == NULL) continue;
        size_t svc = ugrpc__path_service_len(path, strlen(path));
        if (svc == 0) continue;
        memcpy(text, path + 1, svc - 1);
        text[svc - 1] = '\0';
        names[n++] = text;
        text += svc;
    }
    qsort(names, n, sizeof(*names), cmp_str);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (k > 0 && strcmp(names[i], items[k - 1].name) == 0) continue;
        items[k] =
            (Grpc__Reflection__V1__ServiceResponse)GRPC__REFLECTION__V1__SERVICE_RESPONSE__INIT;
        items[k].name = names[i];
        ptrs[k] = &items[k];
        k++;
    }
    Grpc__Reflection__V1__ListServiceResponse list =
        GRPC__REFLECTION__V1__LIST_SERVICE_RESPONSE__INIT;
    list.n_service = k;
    list.service = ptrs;
    res.message_response_case = RESP(LIST_SERVICES_RESPONSE);
    res.list_services_response = &list;
    int rv = ugrpc_call_send(s->call, &res.base);
    ugrpc__free(block);
    return rv;
}

/* Answers one request. Returns 0, or ugrpc_call_send's error (UGRPC_EAGAIN:
 * nothing was sent and the request may be answered again later). */
static int answer(rstream *s, const rrequest *req)
{
    struct ugrpc__reflection *r = s->r;
    rresponse res = GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__INIT;
    res.valid_host = req->host != NULL ? req->host : "";
    /* Encoded right away by ugrpc_call_send, so pointing at it is copying it. */
    res.original_request = (rrequest *)(uintptr_t)req;
    const rname *hit;
    const char *name;
    switch (req->message_request_case) {
    case REQ(FILE_BY_FILENAME):
        name = req->file_by_filename;
        hit = lookup(r->by_name, r->nnames, name);
        if (hit == NULL)
            return send_error(s, &res, UGRPC_STATUS_NOT_FOUND, "file not found: %.200s", name);
        return send_files(s, &res, hit->file);
    case REQ(FILE_CONTAINING_SYMBOL):
        name = req->file_containing_symbol;
        /* Tolerate the descriptor-style leading dot (".pkg.Msg"). */
        hit = lookup(r->symbols, r->nsymbols, name[0] == '.' ? name + 1 : name);
        if (hit == NULL)
            return send_error(s, &res, UGRPC_STATUS_NOT_FOUND, "symbol not found: %.200s", name);
        return send_files(s, &res, hit->file);
    case REQ(FILE_CONTAINING_EXTENSION):
        name = req->file_containing_extension != NULL
                   ? req->file_containing_extension->containing_type
                   : "";
        return send_error(s, &res, UGRPC_STATUS_NOT_FOUND,
                          "extensions are not indexed: no extension of %.200s", name);
    case REQ(ALL_EXTENSION_NUMBERS_OF_TYPE):
        return send_error(s, &res, UGRPC_STATUS_NOT_FOUND,
                          "extensions are not indexed: no extension numbers for %.200s",
                          req->all_extension_numbers_of_type);
    case REQ(LIST_SERVICES):
        return send_services(s, &res);
    default:
        return send_error(s, &res, UGRPC_STATUS_INVALID_ARGUMENT, "%s",
                          "no message_request set in ServerReflectionRequest");
    }
}

/* A send failed for a reason other than backpressure. */
static void send_failed(rstream *s, int rv)
{
    /* UGRPC_ECANCELLED: on_cancel is on its way and frees the stream. */
    if (rv == UGRPC_ECANCELLED) return;
    end_stream(s, rv == UGRPC_ENOMEM ? UGRPC_STATUS_RESOURCE_EXHAUSTED : UGRPC_STATUS_INTERNAL,
               ugrpc_strerror(rv));
}

static int enqueue(rstream *s, const ProtobufCMessage *msg)
{
    size_t len = protobuf_c_message_get_packed_size(msg);
    if (s->npending >= MAX_PENDING || len > MAX_PENDING_BYTES - s->pending_bytes)
        return UGRPC_EBUSY;
    pending *p = ugrpc__malloc(sizeof(*p) + len);
    if (p == NULL) return UGRPC_ENOMEM;
    p->next = NULL;
    p->len = protobuf_c_message_pack(msg, p->data);
    if (s->tail != NULL)
        s->tail->next = p;
    else
        s->head = p;
    s->tail = p;
    s->npending++;
    s->pending_bytes += len;
    return 0;
}

static void drain(rstream *s);

static void on_writable(ugrpc_call *call, void *data)
{
    /* Runs only while the call is alive, so the stream still exists. */
    (void)call;
    rstream *s = data;
    drain(s);
}

static void wait_writable(rstream *s)
{
    /* On failure the call is dead and on_cancel frees the stream. */
    ugrpc_call_on_writable(s->call, on_writable, s);
}

/* Answers queued requests in order until one is refused again. */
static void drain(rstream *s)
{
    while (s->head != NULL) {
        pending *p = s->head;
        rrequest *req =
            grpc__reflection__v1__server_reflection_request__unpack(&heap_pb, p->len, p->data);
        if (req == NULL) {
            end_stream(s, UGRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
            return;
        }
        int rv = answer(s, req);
        grpc__reflection__v1__server_reflection_request__free_unpacked(req, &heap_pb);
        if (rv == UGRPC_EAGAIN) {
            wait_writable(s);
            return;
        }
        if (rv < 0) {
            send_failed(s, rv);
            return;
        }
        s->head = p->next;
        if (s->head == NULL) s->tail = NULL;
        s->npending--;
        s->pending_bytes -= p->len;
        ugrpc__free(p);
    }
    if (s->half_closed) end_stream(s, UGRPC_STATUS_OK, NULL);
}

/* ---- handlers ---- */

static void on_start(ugrpc_call *call, void *data)
{
    ugrpc_server *srv = data;
    struct ugrpc__reflection *r = srv->reflection;
    if (r == NULL) {
        /* Left registered by a ugrpc_reflection_enable that failed half-way. */
        ugrpc_call_finish(call, UGRPC_STATUS_UNIMPLEMENTED, "reflection is not enabled");
        return;
    }
    rstream *s = ugrpc__calloc(1, sizeof(*s) + r->nfiles);
    if (s == NULL) {
        ugrpc_call_finish(call, UGRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    s->r = r;
    s->call = call;
    s->next = r->streams;
    if (r->streams != NULL) r->streams->prev = s;
    r->streams = s;
}

static void on_message(ugrpc_call *call, const ProtobufCMessage *msg, void *data)
{
    ugrpc_server *srv = data;
    rstream *s = srv->reflection != NULL ? find_stream(srv->reflection, call) : NULL;
    if (s == NULL) return; /* on_start finished the call */
    int rv = s->head != NULL ? UGRPC_EAGAIN : answer(s, (const rrequest *)msg);
    if (rv == 0) return;
    if (rv != UGRPC_EAGAIN) {
        send_failed(s, rv);
        return;
    }
    int was_blocked = s->head != NULL;
    rv = enqueue(s, msg);
    if (rv < 0) {
        end_stream(s, UGRPC_STATUS_RESOURCE_EXHAUSTED,
                   rv == UGRPC_EBUSY ? "too many reflection requests while responses are not read"
                                     : "out of memory");
        return;
    }
    if (!was_blocked) {
        ugrpc__log(srv, UGRPC_LOG_DEBUG, "reflection: send queue full, answering later");
        wait_writable(s);
    }
}

static void on_half_close(ugrpc_call *call, void *data)
{
    ugrpc_server *srv = data;
    rstream *s = srv->reflection != NULL ? find_stream(srv->reflection, call) : NULL;
    if (s == NULL) return;
    if (s->head != NULL)
        s->half_closed = 1; /* drain() finishes once the queue is answered */
    else
        end_stream(s, UGRPC_STATUS_OK, NULL);
}

static void on_cancel(ugrpc_call *call, void *data)
{
    ugrpc_server *srv = data;
    rstream *s = srv->reflection != NULL ? find_stream(srv->reflection, call) : NULL;
    if (s != NULL) free_stream(s);
}

/* ---- public API and server hooks ---- */

static int foreign(ugrpc_server *srv, const char *path)
{
    const ugrpc_method *m = ugrpc__router_find(&srv->router, path, strlen(path));
    return m != NULL && m->on_message != on_message;
}

/* Registers `m` unless this handler is already there (left by an enable
 * that failed half-way; it reads srv->reflection at call time). */
static int add_method(ugrpc_server *srv, const ugrpc_method *m)
{
    if (ugrpc__router_find(&srv->router, m->path, strlen(m->path)) != NULL) return 0;
    return ugrpc_server_add_method(srv, m);
}

int ugrpc_reflection_enable(ugrpc_server *srv, const void *fdset, size_t len)
{
    if (srv == NULL || (fdset == NULL && len > 0)) return UGRPC_EINVAL;
    if (srv->reflection != NULL || foreign(srv, V1_PATH) || foreign(srv, V1ALPHA_PATH))
        return UGRPC_EEXIST;
    struct ugrpc__reflection *r = ugrpc__calloc(1, sizeof(*r));
    if (r == NULL) return UGRPC_ENOMEM;
    r->srv = srv;
    ugrpc__arena_init(&r->arena, NULL, 0);
    Google__Protobuf__FileDescriptorProto **fds = NULL;
    int rv = build_index(r, fdset, len, &fds);
    if (fds != NULL) {
        for (size_t i = 0; i < r->nfiles; i++)
            if (fds[i] != NULL)
                google__protobuf__file_descriptor_proto__free_unpacked(fds[i], &heap_pb);
        ugrpc__free(fds);
    }
    /* Both versions share v1's types: see the comment at the top. */
    ugrpc_method m = {
        .path = V1_PATH,
        .type = UGRPC_BIDI_STREAMING,
        .request_type = &grpc__reflection__v1__server_reflection_request__descriptor,
        .response_type = &grpc__reflection__v1__server_reflection_response__descriptor,
        .on_start = on_start,
        .on_message = on_message,
        .on_half_close = on_half_close,
        .on_cancel = on_cancel,
        .data = srv,
    };
    if (rv == 0) rv = add_method(srv, &m);
    m.path = V1ALPHA_PATH;
    if (rv == 0) rv = add_method(srv, &m);
    if (rv < 0) {
        free_index(r);
        return rv;
    }
    ugrpc__log(srv, UGRPC_LOG_DEBUG, "reflection: %zu files, %zu symbols", r->nnames, r->nsymbols);
    srv->reflection = r;
    return 0;
}

void ugrpc__reflection_free(ugrpc_server *srv)
{
    struct ugrpc__reflection *r = srv->reflection;
    if (r == NULL) return;
    /* Every call is gone by now; any stream left is only memory. */
    while (r->streams != NULL)
        free_stream(r->streams);
    free_index(r);
    srv->reflection = NULL;
}
