/*
 * ugrpc: a small embeddable gRPC server on libuv and nghttp2.
 *
 * This is the library's only public header. A program embeds the server by
 * creating it on its own uv_loop_t, registering methods, listening, and
 * running the loop:
 *
 *     ugrpc_server_options opts;
 *     ugrpc_server_options_init(&opts);
 *     ugrpc_server *srv;
 *     if (ugrpc_server_new(uv_default_loop(), &opts, &srv) < 0) ...
 *     ugrpc_server_add_method(srv, &my_method);
 *     ugrpc_server_listen(srv, "0.0.0.0", 8000);
 *     uv_run(uv_default_loop(), UV_RUN_DEFAULT);
 *
 * Threading: every function here must be called on the loop thread, except
 * the `work` callback given to ugrpc_call_offload(), which runs on a libuv
 * worker thread and must not call into this library at all.
 *
 * Errors: functions that can fail return 0 (or a non-negative value) on
 * success and a negative UGRPC_E* code on failure; ugrpc_strerror() names it.
 * Out-parameters are left untouched on failure. A function that takes a
 * callback and fails never calls that callback.
 *
 * Messages are protobuf-c messages. Requests are decoded into the call's
 * arena and stay valid until the call completes; replies are encoded at the
 * moment they are sent, so the caller keeps ownership of what it passes in.
 */
#ifndef UGRPC_H
#define UGRPC_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>
#include <uv.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define UGRPC_EXTERN __attribute__((visibility("default")))
#else
#define UGRPC_EXTERN
#endif

#define UGRPC_VERSION "0.1.0"

/* ---- Error codes -------------------------------------------------------- */

enum {
    UGRPC_ENOMEM = -1,     /* an allocation failed */
    UGRPC_EINVAL = -2,     /* an argument is invalid */
    UGRPC_EEXIST = -3,     /* a method with this path is already registered */
    UGRPC_ECANCELLED = -4, /* the call was cancelled or its connection is gone */
    UGRPC_ESTATE = -5,     /* the call is in the wrong state for this operation */
    UGRPC_EBUSY = -6,      /* a configured limit is reached (e.g. worker queue) */
    UGRPC_ETOOBIG = -7,    /* a message exceeds the configured size limit */
    UGRPC_EIO = -8,        /* a libuv or socket error (see the log for details) */
    UGRPC_EPROTO = -9,     /* the peer violated the protocol */
    UGRPC_EADDR = -10,     /* the listen address could not be parsed or bound */
    UGRPC_EAGAIN = -11,    /* the call's send queue is full: wait for writable */
};

/* Returns a static, human-readable string for a UGRPC_E* code. Never NULL. */
UGRPC_EXTERN const char *ugrpc_strerror(int err);

/* ---- gRPC status codes (grpc/grpc doc/statuscodes.md) ------------------- */

typedef enum {
    UGRPC_STATUS_OK = 0,
    UGRPC_STATUS_CANCELLED = 1,
    UGRPC_STATUS_UNKNOWN = 2,
    UGRPC_STATUS_INVALID_ARGUMENT = 3,
    UGRPC_STATUS_DEADLINE_EXCEEDED = 4,
    UGRPC_STATUS_NOT_FOUND = 5,
    UGRPC_STATUS_ALREADY_EXISTS = 6,
    UGRPC_STATUS_PERMISSION_DENIED = 7,
    UGRPC_STATUS_RESOURCE_EXHAUSTED = 8,
    UGRPC_STATUS_FAILED_PRECONDITION = 9,
    UGRPC_STATUS_ABORTED = 10,
    UGRPC_STATUS_OUT_OF_RANGE = 11,
    UGRPC_STATUS_UNIMPLEMENTED = 12,
    UGRPC_STATUS_INTERNAL = 13,
    UGRPC_STATUS_UNAVAILABLE = 14,
    UGRPC_STATUS_DATA_LOSS = 15,
    UGRPC_STATUS_UNAUTHENTICATED = 16,
} ugrpc_status;

/* Returns the canonical upper-case name of a status ("NOT_FOUND"), or
 * "UNKNOWN" for a value outside 0..16. Never NULL. */
UGRPC_EXTERN const char *ugrpc_status_name(int code);

/* ---- Allocation and logging hooks --------------------------------------- */

/* Replaces the allocator used by the library (and handed to nghttp2).
 * Call before creating any server. All four must be given, or all NULL to
 * restore the C library's. Returns UGRPC_EINVAL on a partial set. */
UGRPC_EXTERN int ugrpc_replace_allocator(void *(*malloc_fn)(size_t),
                                         void *(*realloc_fn)(void *, size_t),
                                         void *(*calloc_fn)(size_t, size_t),
                                         void (*free_fn)(void *));

typedef enum {
    UGRPC_LOG_ERROR = 0,
    UGRPC_LOG_WARN = 1,
    UGRPC_LOG_INFO = 2,
    UGRPC_LOG_DEBUG = 3,
} ugrpc_log_level;

/* The library never writes to stdout or stderr; it reports through this hook.
 * `msg` is a NUL-terminated line without a trailing newline, valid only for
 * the duration of the call. Runs on the loop thread. */
typedef void (*ugrpc_log_fn)(ugrpc_log_level level, const char *msg, void *data);

/* ---- Server -------------------------------------------------------------- */

typedef struct ugrpc_server ugrpc_server;
typedef struct ugrpc_call ugrpc_call;

/* What ugrpc_call_done_fn is told about a routed call (known or unknown
 * method) once its status is decided, or when it dies (CANCELLED). */
typedef struct ugrpc_call_info {
    int code;             /* the gRPC status, 0..16 */
    uint64_t duration_ns; /* from the request headers to the status */
    uint64_t bytes_in;    /* request DATA payload: messages with their 5-byte prefixes */
    uint64_t bytes_out;   /* response messages queued, with their prefixes */
} ugrpc_call_info;

/* Runs on the loop thread exactly once per routed call, at the moment its
 * status is decided (before the trailers are written). `call` may be read
 * with ugrpc_call_path(), ugrpc_call_peer() and ugrpc_call_metadata() during
 * the callback only; it must not be completed or kept. `info` is valid only
 * during the callback. */
typedef void (*ugrpc_call_done_fn)(const ugrpc_call *call, const ugrpc_call_info *info, void *data);

typedef struct ugrpc_server_options {
    /* Largest request message accepted, after the 5-byte prefix. A larger one
     * fails the call with RESOURCE_EXHAUSTED without being buffered.
     * Default 4 MiB. */
    size_t max_recv_message_size;
    /* Largest reply message the server will send; a larger reply fails the
     * call with RESOURCE_EXHAUSTED. Default 4 MiB. */
    size_t max_send_message_size;
    /* SETTINGS_MAX_CONCURRENT_STREAMS advertised to every client; streams
     * beyond it are refused with RST_STREAM(REFUSED_STREAM). Default 100. */
    uint32_t max_concurrent_streams;
    /* SETTINGS_MAX_HEADER_LIST_SIZE advertised and enforced. Default 16 KiB. */
    uint32_t max_header_list_size;
    /* Per-stream and connection flow-control window for request data.
     * Default 1 MiB. */
    uint32_t initial_window_size;
    /* Output bytes a connection may hold before the server stops producing
     * more for it and stops reading its requests (backpressure against slow
     * readers). Default 256 KiB. */
    size_t max_output_buffer;
    /* Open connections accepted at once; extra ones are closed on accept.
     * 0 means no limit. Default 10000. */
    unsigned max_connections;
    /* Jobs that may be queued or running on the worker pool at once across
     * the server; ugrpc_call_offload() fails with UGRPC_EBUSY beyond it.
     * Default 1024. */
    unsigned max_pending_work;
    /* Response bytes one call may queue beyond what HTTP/2 flow control lets
     * out; ugrpc_call_send() answers UGRPC_EAGAIN above it. Default 64 KiB. */
    size_t max_send_queue;
    /* A connection that has not completed its TLS handshake and HTTP/2
     * preface within this time is closed. Default 10 s. */
    uint64_t handshake_timeout_ms;
    /* After this long without hearing from the client, the server sends a
     * PING; no answer within keepalive_timeout_ms closes the connection.
     * 0 disables. Defaults 2 h and 20 s (grpc-go's). */
    uint64_t keepalive_time_ms;
    uint64_t keepalive_timeout_ms;
    /* Keepalive enforcement: a client PING sooner than this after the
     * previous one (or any PING while no call is open, unless
     * keepalive_permit_without_stream) is a strike; after 2 strikes the
     * connection gets GOAWAY(ENHANCE_YOUR_CALM, "too_many_pings") and is
     * closed. Default 5 min, not permitted. 0 disables enforcement. */
    uint64_t keepalive_min_time_ms;
    int keepalive_permit_without_stream;
    /* A connection with no open call for this long is sent a graceful GOAWAY.
     * 0 (default) disables. */
    uint64_t max_connection_idle_ms;
    /* A connection older than this (each with +-10% jitter) is sent a
     * graceful two-phase GOAWAY so clients reconnect and rebalance; after a
     * further max_connection_age_grace_ms it is closed. 0 (default) disables
     * each. */
    uint64_t max_connection_age_ms;
    uint64_t max_connection_age_grace_ms;
    /* listen(2) backlog. Default 511. */
    int backlog;
    /* Logging hook and its argument; NULL discards all log lines. */
    ugrpc_log_fn log;
    void *log_data;
    /* Lines above this level are not formatted at all. Default INFO. */
    ugrpc_log_level log_level;
    /* Per-call hook (an access log, for example); see ugrpc_call_done_fn.
     * NULL (default) costs nothing per call. */
    ugrpc_call_done_fn on_call_done;
    void *on_call_done_data;
} ugrpc_server_options;

/* Fills `opts` with the defaults documented above. */
UGRPC_EXTERN void ugrpc_server_options_init(ugrpc_server_options *opts);

/* Creates a server on `loop`. `opts` is copied; NULL means defaults.
 * On success stores the server in *out and returns 0.
 * Errors: UGRPC_EINVAL (a NULL loop or out, or a zero limit),
 * UGRPC_ENOMEM. */
UGRPC_EXTERN int ugrpc_server_new(uv_loop_t *loop, const ugrpc_server_options *opts,
                                  ugrpc_server **out);

typedef enum {
    UGRPC_UNARY = 0,
    UGRPC_SERVER_STREAMING = 1,
    UGRPC_CLIENT_STREAMING = 2,
    UGRPC_BIDI_STREAMING = 3,
} ugrpc_method_type;

/* Unary and server-streaming methods: called once per call, on the loop
 * thread, after the client half-closed with exactly one request message.
 * `request` lives in the call's arena until the call completes. The handler
 * must eventually complete the call with ugrpc_call_reply() or
 * ugrpc_call_finish(), now or later (for example from an offload callback). */
typedef void (*ugrpc_request_fn)(ugrpc_call *call, const ProtobufCMessage *request,
                                 void *method_data);

/* Client-streaming and bidi methods: on_start runs when the request headers
 * have arrived (optional); on_message once per request message, in order,
 * with a message valid only during the callback; on_half_close when the
 * client has sent its last message. The handler may send and finish at any
 * point; after it finishes, no further callbacks run. */
typedef void (*ugrpc_start_fn)(ugrpc_call *call, void *method_data);
typedef void (*ugrpc_message_fn)(ugrpc_call *call, const ProtobufCMessage *msg, void *method_data);
typedef void (*ugrpc_half_close_fn)(ugrpc_call *call, void *method_data);

/* Called when a call whose handler has run dies before the handler completed
 * it: client RST_STREAM, connection loss, server shutdown. The call must not
 * be completed afterwards (doing so returns UGRPC_ECANCELLED, harmlessly).
 * Optional. */
typedef void (*ugrpc_cancel_fn)(ugrpc_call *call, void *method_data);

typedef struct ugrpc_method {
    /* "/package.Service/Method", case-sensitive. The string must outlive the
     * server. */
    const char *path;
    ugrpc_method_type type;
    const ProtobufCMessageDescriptor *request_type;
    const ProtobufCMessageDescriptor *response_type;
    ugrpc_request_fn on_request;       /* unary, server streaming */
    ugrpc_start_fn on_start;           /* client streaming, bidi (optional) */
    ugrpc_message_fn on_message;       /* client streaming, bidi */
    ugrpc_half_close_fn on_half_close; /* client streaming, bidi */
    ugrpc_cancel_fn on_cancel;         /* any (optional) */
    void *data;
} ugrpc_method;

/* Registers a method. `method` is copied (its `path` string is not).
 * Errors: UGRPC_EINVAL (malformed path, missing descriptor, or the handlers
 * the method type needs are missing), UGRPC_EEXIST, UGRPC_ENOMEM. */
UGRPC_EXTERN int ugrpc_server_add_method(ugrpc_server *srv, const ugrpc_method *method);

/* Starts listening for h2c (HTTP/2 with prior knowledge) on host:port.
 * `host` is a numeric IPv4 or IPv6 address; "" or NULL means 0.0.0.0.
 * Port 0 picks a free port (see ugrpc_server_port()). May be called more
 * than once for several addresses.
 * Errors: UGRPC_EADDR (bad address, or bind/listen failed: the log says
 * why), UGRPC_ESTATE (the server is shutting down), UGRPC_ENOMEM. */
UGRPC_EXTERN int ugrpc_server_listen(ugrpc_server *srv, const char *host, int port);

/* TLS settings for ugrpc_server_listen_tls(). Files are PEM. */
typedef struct ugrpc_tls_options {
    const char *cert_file; /* certificate chain, required */
    const char *key_file;  /* private key, required */
    /* When set, client certificates are verified against these CAs and
     * required (mutual TLS); clients without one fail the handshake. */
    const char *client_ca_file;
} ugrpc_tls_options;

/* Like ugrpc_server_listen() but every connection speaks TLS 1.2 or newer
 * and must negotiate ALPN "h2"; a client that does not is refused during the
 * handshake. The files are read now; `tls` is not kept.
 * Errors: UGRPC_EINVAL (missing file names, or a certificate, key or CA
 * that OpenSSL rejects: the log says which), UGRPC_EADDR, UGRPC_ESTATE,
 * UGRPC_ENOMEM. */
UGRPC_EXTERN int ugrpc_server_listen_tls(ugrpc_server *srv, const char *host, int port,
                                         const ugrpc_tls_options *tls);

/* Returns the port of the most recent successful listen, or UGRPC_ESTATE if
 * the server is not listening. */
UGRPC_EXTERN int ugrpc_server_port(const ugrpc_server *srv);

typedef void (*ugrpc_shutdown_cb)(ugrpc_server *srv, void *data);

/* Stops the server: closes the listeners, tells every client to go away
 * (GOAWAY), lets calls in flight finish for up to `grace_ms` milliseconds,
 * then closes every connection, cancelling what remains. `cb` (may be NULL)
 * runs once on the loop thread when every handle is closed; the server may
 * then be freed.
 * Errors: UGRPC_ESTATE if already shutting down (cb is not called). */
UGRPC_EXTERN int ugrpc_server_shutdown(ugrpc_server *srv, uint64_t grace_ms, ugrpc_shutdown_cb cb,
                                       void *data);

/* Frees a server whose shutdown callback has run; every server, even one
 * that never listened, is shut down first (its loop holds the server's
 * handles until then). Any other use returns UGRPC_ESTATE and frees nothing.
 * NULL is a no-op. */
UGRPC_EXTERN int ugrpc_server_free(ugrpc_server *srv);

/* Worker queue wait buckets, upper bounds in seconds: .0001 .00025 .0005
 * .001 .0025 .005 .01 .025 .05 .1 .25 .5 1 2.5; a last, implicit bucket is
 * +Inf. */
#define UGRPC_WAIT_BUCKETS 14
UGRPC_EXTERN extern const double ugrpc_wait_bounds[UGRPC_WAIT_BUCKETS];
#define UGRPC_GOAWAY_REASONS 7

typedef struct ugrpc_server_stats {
    uint64_t connections_accepted;
    uint64_t connections_open;
    uint64_t calls_started;
    uint64_t calls_active;
    uint64_t calls_completed;
    uint64_t work_pending; /* offloaded jobs queued or running */
    uint64_t bytes_in;
    uint64_t bytes_out;
    uint64_t streams_refused; /* REFUSED_STREAM: over max_concurrent_streams or no memory */
    /* Time offloaded jobs waited from ugrpc_call_offload() until a worker
     * thread started them: count per bucket of ugrpc_wait_bounds (not
     * cumulative), the +Inf bucket last, and their sum in seconds. */
    uint64_t work_wait[UGRPC_WAIT_BUCKETS + 1];
    double work_wait_sum;
    /* Final GOAWAY frames sent, by ugrpc_goaway_reason (the first, notice
     * phase of a graceful GOAWAY is not counted). */
    uint64_t goaways_sent[UGRPC_GOAWAY_REASONS];
} ugrpc_server_stats;

/* Why a connection was sent GOAWAY, from its error code and debug data. */
typedef enum {
    UGRPC_GOAWAY_SHUTDOWN = 0,          /* ugrpc_server_shutdown() */
    UGRPC_GOAWAY_MAX_AGE = 1,           /* max_connection_age_ms */
    UGRPC_GOAWAY_MAX_IDLE = 2,          /* max_connection_idle_ms */
    UGRPC_GOAWAY_TOO_MANY_PINGS = 3,    /* keepalive enforcement */
    UGRPC_GOAWAY_ENHANCE_YOUR_CALM = 4, /* other abuse: floods, rapid reset */
    UGRPC_GOAWAY_PROTOCOL_ERROR = 5,    /* the peer broke HTTP/2 (any other error code) */
    UGRPC_GOAWAY_OTHER = 6,             /* NO_ERROR without a known reason */
} ugrpc_goaway_reason;

/* Returns the lower-case name of a ugrpc_goaway_reason ("max_age"), or
 * "other" for a value out of range. Never NULL. */
UGRPC_EXTERN const char *ugrpc_goaway_reason_name(int reason);

/* Per-method counters, kept on the loop thread without locks. Names follow
 * go-grpc-prometheus so exporters can reuse its metric names. */
#define UGRPC_LATENCY_BUCKETS 11
/* Upper bounds in seconds of the latency histogram buckets (Prometheus'
 * default buckets): .005 .01 .025 .05 .1 .25 .5 1 2.5 5 10; a last, implicit
 * bucket is +Inf. */
UGRPC_EXTERN extern const double ugrpc_latency_bounds[UGRPC_LATENCY_BUCKETS];

typedef struct ugrpc_method_stats {
    const char *path; /* "/pkg.Service/Method"; "" for calls to unknown methods */
    ugrpc_method_type type;
    uint64_t started;      /* calls routed to the method */
    uint64_t msg_received; /* request messages delivered */
    uint64_t msg_sent;     /* response messages sent */
    uint64_t handled[17];  /* completed calls by status code (CANCELLED includes
                            * calls the client or the connection dropped) */
    /* Handling time from the request headers to the status: count per bucket
     * (not cumulative), the +Inf bucket last. */
    uint64_t latency[UGRPC_LATENCY_BUCKETS + 1];
    double latency_sum; /* seconds */
} ugrpc_method_stats;

/* Calls `cb` once per registered method, then once for calls to unknown
 * methods (path ""). The stats are valid only during the callback. */
UGRPC_EXTERN void ugrpc_server_foreach_method(ugrpc_server *srv,
                                              void (*cb)(const ugrpc_method_stats *st, void *data),
                                              void *data);

/* Copies the server's counters into *out. */
UGRPC_EXTERN void ugrpc_server_get_stats(const ugrpc_server *srv, ugrpc_server_stats *out);

/* ---- Calls --------------------------------------------------------------- */

/* The method's path ("/pkg.Svc/Method"), valid while the call lives. */
UGRPC_EXTERN const char *ugrpc_call_path(const ugrpc_call *call);

/* Returns the value of the first request metadata entry named `name`
 * (lower-case), or NULL; stores its length in *len when len is not NULL.
 * Values of "-bin" entries are the base64-decoded bytes (padded or unpadded
 * on the wire; a comma-separated list is decoded item by item and
 * concatenated); every value is also NUL-terminated. Reserved names
 * (":path", "grpc-timeout", ...) are not metadata. Valid while the call
 * lives. */
UGRPC_EXTERN const char *ugrpc_call_metadata(const ugrpc_call *call, const char *name, size_t *len);

/* Number of request metadata entries, and the i-th one (0-based). Returns
 * UGRPC_EINVAL when i is out of range, leaving the out-parameters untouched.
 * len may be NULL. */
UGRPC_EXTERN size_t ugrpc_call_metadata_count(const ugrpc_call *call);
UGRPC_EXTERN int ugrpc_call_metadata_at(const ugrpc_call *call, size_t i, const char **name,
                                        const char **value, size_t *len);

/* The call's deadline in milliseconds of uv_now() of the server's loop, or
 * 0 when the client set none. */
UGRPC_EXTERN uint64_t ugrpc_call_deadline(const ugrpc_call *call);

/* Writes the peer's address ("1.2.3.4:5678" or "[::1]:5678") into buf.
 * Returns its length, or UGRPC_ECANCELLED if the connection is gone,
 * UGRPC_EINVAL if buf is too small. */
UGRPC_EXTERN int ugrpc_call_peer(const ugrpc_call *call, char *buf, size_t len);

/* The handler's own pointer for this call (state for streaming handlers,
 * on_cancel and writable callbacks); NULL until set. The library never
 * touches what it points to. */
UGRPC_EXTERN void ugrpc_call_set_data(ugrpc_call *call, void *data);
UGRPC_EXTERN void *ugrpc_call_get_data(const ugrpc_call *call);

/* Allocates `size` bytes from the call's arena, freed when the call is done.
 * Use it for reply messages built by the handler. Returns NULL on failure. */
UGRPC_EXTERN void *ugrpc_call_alloc(ugrpc_call *call, size_t size);

/* Adds a metadata entry to the response headers (before any message is sent)
 * or to the trailers (`trailing` non-zero, before the call is finished).
 * Names must be lower-case [0-9a-z_.-] and not start with "grpc-"; values of
 * names ending in "-bin" are raw bytes (base64-encoded on the wire),
 * otherwise printable ASCII. Both strings are copied.
 * Errors: UGRPC_EINVAL, UGRPC_ESTATE (too late), UGRPC_ECANCELLED,
 * UGRPC_ENOMEM. */
UGRPC_EXTERN int ugrpc_call_add_metadata(ugrpc_call *call, int trailing, const char *name,
                                         const char *value, size_t value_len);

/* Sends one response message (encoded now; `msg` stays the caller's).
 * For unary methods use ugrpc_call_reply() instead. Messages wait in the
 * call's send queue until HTTP/2 flow control lets them out; while that
 * queue holds max_send_queue bytes or more, the message is refused with
 * UGRPC_EAGAIN and the handler should wait for ugrpc_call_on_writable().
 * Errors: UGRPC_EAGAIN (nothing queued), UGRPC_ECANCELLED (call dead:
 * nothing sent), UGRPC_ESTATE (already finished, or a second message on a
 * unary call), UGRPC_ETOOBIG (over max_send_message_size: nothing sent),
 * UGRPC_EINVAL, UGRPC_ENOMEM. */
UGRPC_EXTERN int ugrpc_call_send(ugrpc_call *call, const ProtobufCMessage *msg);

/* Flags for ugrpc_call_send_flags(). */
enum {
    UGRPC_SEND_NO_COMPRESS = 1, /* send this message uncompressed even when the
                                 * call compresses its responses */
};

/* ugrpc_call_send() with flags. */
UGRPC_EXTERN int ugrpc_call_send_flags(ugrpc_call *call, const ProtobufCMessage *msg,
                                       unsigned flags);

/* Asks for `cb` to run once, on a later loop turn, when the call's send
 * queue holds at most half of max_send_queue (at once if it already
 * has). A second request replaces the first. Nothing runs for a call that
 * dies first; on_cancel tells the handler about that.
 * Errors: UGRPC_ECANCELLED, UGRPC_ESTATE (finished). */
typedef void (*ugrpc_writable_fn)(ugrpc_call *call, void *data);
UGRPC_EXTERN int ugrpc_call_on_writable(ugrpc_call *call, ugrpc_writable_fn cb, void *data);

/* Compresses this call's response messages with gzip when the client
 * accepts it (grpc-accept-encoding), else sends them uncompressed. Call
 * before the first message; afterwards UGRPC_ESTATE. `enable` 0 turns it
 * back off. Errors: UGRPC_ECANCELLED, UGRPC_ESTATE. */
UGRPC_EXTERN int ugrpc_call_set_compression(ugrpc_call *call, int enable);

/* Non-zero when the request message most recently delivered to the handler
 * arrived compressed. */
UGRPC_EXTERN int ugrpc_call_last_message_compressed(const ugrpc_call *call);

/* Completes the call with a status and an optional UTF-8 message (copied and
 * percent-encoded as the protocol requires). Sends response headers first if
 * none were sent yet (a Trailers-Only response when no message was sent).
 * After it returns the handler must not touch the call again.
 * Errors: UGRPC_ECANCELLED (call dead), UGRPC_ESTATE (already finished),
 * UGRPC_EINVAL (code outside 0..16), UGRPC_ENOMEM (the connection is reset
 * instead, so the client still gets an answer). */
UGRPC_EXTERN int ugrpc_call_finish(ugrpc_call *call, int code, const char *message);

/* Sends `msg` and finishes with OK: the usual ending of a unary handler.
 * If sending fails with UGRPC_ETOOBIG the call is finished with
 * RESOURCE_EXHAUSTED instead and UGRPC_ETOOBIG returned; on other errors the
 * call is finished with INTERNAL when still alive. */
UGRPC_EXTERN int ugrpc_call_reply(ugrpc_call *call, const ProtobufCMessage *msg);

/* Non-zero while the call can still be completed (not cancelled, not
 * finished, connection alive). */
UGRPC_EXTERN int ugrpc_call_is_alive(const ugrpc_call *call);

/* The worker pool.
 *
 * `work(arg)` runs on a libuv worker thread and must only use `arg` and its
 * own resources: it never sees the call. Then `done(call, arg, status)` runs
 * on the loop thread. `status` is 0 when the call is still alive and the
 * handler may complete it, or UGRPC_ECANCELLED when the call died meanwhile
 * (the handler must only release `arg`). `done` always runs exactly once
 * when offload returned 0, so `arg` can always be freed there.
 * Errors: UGRPC_EBUSY (max_pending_work reached: the handler should finish
 * the call with RESOURCE_EXHAUSTED or UNAVAILABLE), UGRPC_ECANCELLED,
 * UGRPC_ENOMEM, UGRPC_EIO. On error neither callback runs. */
typedef void (*ugrpc_work_fn)(void *arg);
typedef void (*ugrpc_done_fn)(ugrpc_call *call, void *arg, int status);
UGRPC_EXTERN int ugrpc_call_offload(ugrpc_call *call, ugrpc_work_fn work, ugrpc_done_fn done,
                                    void *arg);

/* ---- Health (grpc.health.v1.Health) ------------------------------------- */

typedef enum {
    UGRPC_HEALTH_UNKNOWN = 0,
    UGRPC_HEALTH_SERVING = 1,
    UGRPC_HEALTH_NOT_SERVING = 2,
} ugrpc_health_status;

/* Registers grpc.health.v1.Health (Check and Watch) on the server, with the
 * overall service "" SERVING. Check answers NOT_FOUND for an unknown service;
 * Watch sends the current status at once and every change after, and for an
 * unknown service SERVICE_UNKNOWN with the stream kept open (as the health
 * checking protocol specifies). When the server shuts down, every service
 * turns NOT_SERVING first.
 * Errors: UGRPC_EEXIST (already enabled), UGRPC_ENOMEM. */
UGRPC_EXTERN int ugrpc_health_enable(ugrpc_server *srv);

/* Sets the status of `service` ("" is the whole server); the name is copied.
 * Watchers of that service are told. Errors: UGRPC_ESTATE (health not
 * enabled), UGRPC_EINVAL (status not SERVING or NOT_SERVING), UGRPC_ENOMEM. */
UGRPC_EXTERN int ugrpc_health_set(ugrpc_server *srv, const char *service,
                                  ugrpc_health_status status);

/* ---- Reflection (grpc.reflection.v1 and v1alpha) ------------------------- */

/* Registers ServerReflectionInfo of grpc.reflection.v1 and v1alpha, answering
 * from a serialized google.protobuf.FileDescriptorSet (as written by
 * `protoc --include_imports --descriptor_set_out`), which is not copied and
 * must outlive the server. list_services names every registered service.
 * Errors: UGRPC_EINVAL (the set does not parse), UGRPC_EEXIST, UGRPC_ENOMEM. */
UGRPC_EXTERN int ugrpc_reflection_enable(ugrpc_server *srv, const void *fdset, size_t len);

/* ---- Small utilities shared with embedders and tests -------------------- */

/* Percent-encodes a grpc-message value: bytes outside 0x20..0x7E and '%'
 * become "%XX". Writes at most `cap` bytes including the terminating NUL and
 * returns the length the full encoding needs (excluding the NUL), like
 * snprintf; the output is complete when the result is < cap. */
UGRPC_EXTERN size_t ugrpc_percent_encode(const char *in, size_t len, char *out, size_t cap);

/* Decodes in place what ugrpc_percent_encode() produced (a malformed escape
 * is kept verbatim, as the specification asks). Returns the new length. */
UGRPC_EXTERN size_t ugrpc_percent_decode(char *s, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* UGRPC_H */
