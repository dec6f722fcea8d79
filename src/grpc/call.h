/*
 * A call: one HTTP/2 stream carrying one gRPC call. Loop thread only.
 *
 * References: the stream holds one from creation until the stream closes (or
 * its connection goes away); each offloaded job holds one until its done
 * callback has run. The call is freed at zero. A call whose stream or
 * connection is gone is "dead": completing it does nothing.
 */
#ifndef UGRPC_CALL_H
#define UGRPC_CALL_H

#include <nghttp2/nghttp2.h>

#include "alloc.h"
#include "frame.h"
#include "ugrpc.h"

typedef struct ugrpc__conn ugrpc__conn;

typedef struct ugrpc__md {
    const char *name;
    const char *value;
    size_t value_len;
} ugrpc__md;

typedef struct ugrpc__md_list {
    ugrpc__md *items;
    size_t count, cap;
} ugrpc__md_list;

#define UGRPC__CALL_INLINE_ARENA 1024u

struct ugrpc_call {
    ugrpc_server *srv;
    ugrpc__conn *conn; /* NULL once detached */
    struct ugrpc_call *prev, *next;
    int32_t stream_id;
    unsigned refs;
    const ugrpc_method *method;
    ugrpc_method_stats *mstats; /* counters of the method, once routed */
    uint64_t start_ns;          /* uv_hrtime() at the request headers */
    void *user_data;            /* the handler's (ugrpc_call_set_data) */
    ugrpc__arena arena;

    /* Request. */
    const char *path;
    size_t path_len;
    ugrpc__md_list md;
    size_t header_bytes;
    uint64_t deadline;    /* uv_now() ms, 0 for none */
    size_t deadline_idx;  /* position in the server's deadline heap + 1, 0 if absent */
    const char *encoding; /* grpc-encoding, or NULL */
    ugrpc__deframer deframer;
    ProtobufCMessage *request;
    unsigned nrecv;
    unsigned nsent;
    uint64_t bytes_in, bytes_out; /* for ugrpc_call_info */

    unsigned is_post : 1;
    unsigned grpc_content_type : 1;
    unsigned bad_timeout : 1;
    unsigned bad_metadata : 1;
    unsigned headers_too_big : 1;
    unsigned remote_closed : 1; /* the client half-closed */
    unsigned handler_started : 1;
    unsigned finished : 1; /* status decided; no more messages */
    unsigned dead : 1;     /* stream or connection gone before completion */
    unsigned headers_sent : 1;
    unsigned deferred : 1;        /* the data provider returned DEFERRED */
    unsigned plain : 1;           /* a non-gRPC HTTP response */
    unsigned accepts_gzip : 1;    /* grpc-accept-encoding names gzip */
    unsigned compress : 1;        /* the handler asked for compressed responses */
    unsigned resp_gzip : 1;       /* responses are sent with grpc-encoding: gzip */
    unsigned last_compressed : 1; /* the last delivered request message was */
    unsigned writable_queued : 1; /* on the server's writable list */
    unsigned counted : 1;         /* its completion is in the method's counters */

    ugrpc_writable_fn writable_cb;
    void *writable_data;
    struct ugrpc_call *writable_next;

    /* Response. */
    ugrpc__buf out; /* framed messages not yet handed to nghttp2 */
    int status;
    const char *status_msg; /* percent-encoded, or NULL */
    ugrpc__md_list initial_md, trailing_md;

    /* The first arena chunk, so a small call allocates nothing more. */
    _Alignas(max_align_t) unsigned char inline_arena[UGRPC__CALL_INLINE_ARENA];
};

/* Creates a call for a new request stream and links it to `conn`.
 * Returns NULL on allocation failure. */
ugrpc_call *ugrpc__call_new(ugrpc__conn *conn, int32_t stream_id);

void ugrpc__call_ref(ugrpc_call *call);
void ugrpc__call_unref(ugrpc_call *call);

/* Events from the HTTP/2 layer, in stream order. */
int ugrpc__call_on_header(ugrpc_call *call, const uint8_t *name, size_t namelen,
                          const uint8_t *value, size_t valuelen);
void ugrpc__call_on_headers_done(ugrpc_call *call);
void ugrpc__call_on_data(ugrpc_call *call, const uint8_t *data, size_t len);
void ugrpc__call_on_end_stream(ugrpc_call *call);
/* The stream closed (error_code from RST_STREAM, or NO_ERROR). */
void ugrpc__call_on_stream_close(ugrpc_call *call, uint32_t error_code);
/* The connection is going away: cancel and detach without touching nghttp2. */
void ugrpc__call_detach(ugrpc_call *call);
/* The call's deadline passed: cancel the handler, answer DEADLINE_EXCEEDED. */
void ugrpc__call_expire(ugrpc_call *call);
/* Runs the writable callback of a call taken off the server's list. */
void ugrpc__call_run_writable(ugrpc_call *call);
/* The trailers (or the end of a plain body) of this call were sent. */
void ugrpc__call_on_end_sent(ugrpc_call *call);

/* nghttp2 data source read callback for response bodies. */
ssize_t ugrpc__call_read_data(nghttp2_session *session, int32_t stream_id, uint8_t *buf,
                              size_t length, uint32_t *data_flags, nghttp2_data_source *source,
                              void *user_data);

#endif
