/*
 * Unit tests for src/grpc/reflection.c: parsing and indexing the
 * FileDescriptorSet, the per-stream de-duplication of dependencies, the
 * request queue under backpressure, and the v1/v1alpha wire equivalence the
 * module relies on. Calls go through a real server and an nghttp2 client on
 * one loop (h2_client.h).
 *
 * The test set, in protoc's order (dependencies first):
 *   c.proto  package t: message C { message N }, enum E
 *   b.proto  package t, imports c.proto: message B
 *   a.proto  package t, imports b.proto and c.proto: service S { rpc M }
 *   d.proto  no package, imports c.proto and missing.proto: message D
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "google/protobuf/descriptor.pb-c.h"
#include "grpc/reflection/v1/reflection.pb-c.h"
#include "grpc/reflection/v1alpha/reflection.pb-c.h"
#include "h2_client.h"
#include "ugrpc.h"

#define V1_PATH      "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
#define V1ALPHA_PATH "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"
#define WAIT_MS      5000

typedef Grpc__Reflection__V1__ServerReflectionRequest rreq;
typedef Grpc__Reflection__V1__ServerReflectionResponse rres;

enum { F_C, F_B, F_A, F_D, NFILES };
static const char *const file_names[NFILES] = {"c.proto", "b.proto", "a.proto", "d.proto"};

/* The set, and each file packed alone (what the server must send back). */
static uint8_t *set_bytes;
static size_t set_len;
static uint8_t *file_bytes[NFILES];
static size_t file_len[NFILES];

static uint8_t *pack(const ProtobufCMessage *m, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *p = malloc(*len ? *len : 1);
    assert_non_null(p);
    protobuf_c_message_pack(m, p);
    return p;
}

static int build_set(void **state)
{
    (void)state;
    Google__Protobuf__DescriptorProto n = GOOGLE__PROTOBUF__DESCRIPTOR_PROTO__INIT;
    n.name = "N";
    Google__Protobuf__DescriptorProto *c_nested[] = {&n};
    Google__Protobuf__DescriptorProto c_msg = GOOGLE__PROTOBUF__DESCRIPTOR_PROTO__INIT;
    c_msg.name = "C";
    c_msg.n_nested_type = 1;
    c_msg.nested_type = c_nested;
    Google__Protobuf__EnumDescriptorProto e = GOOGLE__PROTOBUF__ENUM_DESCRIPTOR_PROTO__INIT;
    e.name = "E";
    Google__Protobuf__DescriptorProto b_msg = GOOGLE__PROTOBUF__DESCRIPTOR_PROTO__INIT;
    b_msg.name = "B";
    Google__Protobuf__DescriptorProto d_msg = GOOGLE__PROTOBUF__DESCRIPTOR_PROTO__INIT;
    d_msg.name = "D";
    Google__Protobuf__MethodDescriptorProto m = GOOGLE__PROTOBUF__METHOD_DESCRIPTOR_PROTO__INIT;
    m.name = "M";
    m.input_type = ".t.B";
    m.output_type = ".t.C";
    Google__Protobuf__MethodDescriptorProto *methods[] = {&m};
    Google__Protobuf__ServiceDescriptorProto svc = GOOGLE__PROTOBUF__SERVICE_DESCRIPTOR_PROTO__INIT;
    svc.name = "S";
    svc.n_method = 1;
    svc.method = methods;

    Google__Protobuf__FileDescriptorProto f[NFILES];
    for (int i = 0; i < NFILES; i++) {
        f[i] = (Google__Protobuf__FileDescriptorProto)GOOGLE__PROTOBUF__FILE_DESCRIPTOR_PROTO__INIT;
        f[i].name = (char *)file_names[i];
        f[i].package = "t";
    }
    Google__Protobuf__DescriptorProto *c_msgs[] = {&c_msg}, *b_msgs[] = {&b_msg},
                                      *d_msgs[] = {&d_msg};
    Google__Protobuf__EnumDescriptorProto *c_enums[] = {&e};
    Google__Protobuf__ServiceDescriptorProto *a_svcs[] = {&svc};
    char *b_deps[] = {"c.proto"}, *a_deps[] = {"b.proto", "c.proto"},
         *d_deps[] = {"c.proto", "missing.proto"};
    f[F_C].n_message_type = 1, f[F_C].message_type = c_msgs;
    f[F_C].n_enum_type = 1, f[F_C].enum_type = c_enums;
    f[F_B].n_dependency = 1, f[F_B].dependency = b_deps;
    f[F_B].n_message_type = 1, f[F_B].message_type = b_msgs;
    f[F_A].n_dependency = 2, f[F_A].dependency = a_deps;
    f[F_A].n_service = 1, f[F_A].service = a_svcs;
    f[F_D].package = NULL;
    f[F_D].n_dependency = 2, f[F_D].dependency = d_deps;
    f[F_D].n_message_type = 1, f[F_D].message_type = d_msgs;

    Google__Protobuf__FileDescriptorProto *fp[NFILES];
    for (int i = 0; i < NFILES; i++) {
        fp[i] = &f[i];
        file_bytes[i] = pack(&f[i].base, &file_len[i]);
    }
    Google__Protobuf__FileDescriptorSet set = GOOGLE__PROTOBUF__FILE_DESCRIPTOR_SET__INIT;
    set.n_file = NFILES;
    set.file = fp;
    set_bytes = pack(&set.base, &set_len);
    return 0;
}

static int free_set(void **state)
{
    (void)state;
    free(set_bytes);
    for (int i = 0; i < NFILES; i++)
        free(file_bytes[i]);
    return 0;
}

/* ---- v1alpha is v1 on the wire ------------------------------------------ */

static void same_message(const ProtobufCMessageDescriptor *a, const ProtobufCMessageDescriptor *b)
{
    assert_string_equal(a->short_name, b->short_name);
    assert_int_equal(a->n_fields, b->n_fields);
    for (unsigned i = 0; i < a->n_fields; i++) {
        const ProtobufCFieldDescriptor *x = &a->fields[i], *y = &b->fields[i];
        assert_string_equal(x->name, y->name);
        assert_int_equal(x->id, y->id);
        assert_int_equal(x->label, y->label);
        assert_int_equal(x->type, y->type);
        assert_int_equal(x->flags, y->flags);
        if (x->type == PROTOBUF_C_TYPE_MESSAGE) same_message(x->descriptor, y->descriptor);
    }
}

static void test_v1alpha_wire_equals_v1(void **state)
{
    (void)state;
    same_message(&grpc__reflection__v1__server_reflection_request__descriptor,
                 &grpc__reflection__v1alpha__server_reflection_request__descriptor);
    same_message(&grpc__reflection__v1__server_reflection_response__descriptor,
                 &grpc__reflection__v1alpha__server_reflection_response__descriptor);
}

/* ---- enabling ------------------------------------------------------------ */

static void unary_stub(ugrpc_call *call, const ProtobufCMessage *req, void *data)
{
    (void)req;
    (void)data;
    ugrpc_call_finish(call, UGRPC_STATUS_UNIMPLEMENTED, NULL);
}

static void test_enable_rejects_bad_sets(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    ugrpc_server *srv = tc_server_new(&loop, NULL);
    assert_non_null(srv);
    static const struct {
        const char *bytes;
        size_t len;
    } bad[] = {
        {"\x0a\x05"
         "ab",
         4},                     /* truncated file */
        {"\x0b\x00", 2},         /* a group */
        {"\x08\x01", 2},         /* field 1 as a varint */
        {"\x0a\x02\xff\xff", 4}, /* not a FileDescriptorProto */
        {"\x0a\x00", 2},         /* a file without a name */
        {"\x12\x01", 2},         /* truncated unknown field */
        {"\x80", 1},             /* truncated key */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(ugrpc_reflection_enable(srv, bad[i].bytes, bad[i].len), UGRPC_EINVAL);
    assert_int_equal(ugrpc_reflection_enable(srv, NULL, 3), UGRPC_EINVAL);
    assert_int_equal(ugrpc_reflection_enable(NULL, set_bytes, set_len), UGRPC_EINVAL);
    /* Failures left nothing behind. */
    assert_int_equal(ugrpc_reflection_enable(srv, set_bytes, set_len), 0);
    assert_int_equal(ugrpc_reflection_enable(srv, set_bytes, set_len), UGRPC_EEXIST);
    assert_true(tc_server_free(&loop, srv, 100));

    /* An empty set is a valid set; unknown top-level fields are skipped. */
    srv = tc_server_new(&loop, NULL);
    assert_int_equal(ugrpc_reflection_enable(srv, "\x10\x01\x1d\x01\x02\x03\x04", 7), 0);
    assert_true(tc_server_free(&loop, srv, 100));

    /* Someone else's method on the path. */
    srv = tc_server_new(&loop, NULL);
    ugrpc_method m = {.path = V1ALPHA_PATH,
                      .type = UGRPC_UNARY,
                      .request_type = &grpc__reflection__v1__server_reflection_request__descriptor,
                      .response_type =
                          &grpc__reflection__v1__server_reflection_response__descriptor,
                      .on_request = unary_stub};
    assert_int_equal(ugrpc_server_add_method(srv, &m), 0);
    assert_int_equal(ugrpc_reflection_enable(srv, set_bytes, set_len), UGRPC_EEXIST);
    assert_true(tc_server_free(&loop, srv, 100));
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* Fails the allocation numbered fail_at (0-based) and every one after it. */
static long alloc_budget = -1;

static void *budget_malloc(size_t n)
{
    if (alloc_budget == 0) return NULL;
    if (alloc_budget > 0) alloc_budget--;
    return malloc(n);
}

static void *budget_realloc(void *p, size_t n)
{
    if (alloc_budget == 0) return NULL;
    if (alloc_budget > 0) alloc_budget--;
    return realloc(p, n);
}

static void *budget_calloc(size_t n, size_t size)
{
    if (alloc_budget == 0) return NULL;
    if (alloc_budget > 0) alloc_budget--;
    return calloc(n, size);
}

static int restore_allocator(void **state)
{
    (void)state;
    alloc_budget = -1;
    ugrpc_replace_allocator(NULL, NULL, NULL, NULL);
    return 0;
}

static void test_enable_out_of_memory(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    ugrpc_server *srv = tc_server_new(&loop, NULL);
    assert_non_null(srv);
    /* Concatenated twice: duplicate files take their own path too. */
    size_t len2 = set_len * 2;
    uint8_t *twice = malloc(len2);
    memcpy(twice, set_bytes, set_len);
    memcpy(twice + set_len, set_bytes, set_len);
    assert_int_equal(ugrpc_replace_allocator(budget_malloc, budget_realloc, budget_calloc, free),
                     0);
    long k;
    int rv = -1;
    for (k = 0; k < 10000; k++) {
        alloc_budget = k;
        rv = ugrpc_reflection_enable(srv, twice, len2);
        alloc_budget = -1;
        if (rv == 0) break;
        assert_int_equal(rv, UGRPC_ENOMEM); /* never EINVAL for a good set */
    }
    restore_allocator(NULL);
    assert_int_equal(rv, 0);
    assert_true(k > 5);
    free(twice);
    assert_true(tc_server_free(&loop, srv, 100));
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* ---- calls ---------------------------------------------------------------- */

typedef struct fixture {
    uv_loop_t loop;
    ugrpc_server *srv;
    int port;
} fixture;

static void fixture_start(fixture *f, size_t max_send_queue)
{
    uv_loop_init(&f->loop);
    ugrpc_server_options o;
    ugrpc_server_options_init(&o);
    if (max_send_queue) o.max_send_queue = max_send_queue;
    f->srv = tc_server_new(&f->loop, &o);
    assert_non_null(f->srv);
    /* A plain service, so list_services has more than reflection to name. */
    ugrpc_method m = {.path = "/t.S/M",
                      .type = UGRPC_UNARY,
                      .request_type = &grpc__reflection__v1__server_reflection_request__descriptor,
                      .response_type =
                          &grpc__reflection__v1__server_reflection_response__descriptor,
                      .on_request = unary_stub};
    assert_int_equal(ugrpc_server_add_method(f->srv, &m), 0);
    assert_int_equal(ugrpc_reflection_enable(f->srv, set_bytes, set_len), 0);
    f->port = tc_server_listen(f->srv);
    assert_true(f->port > 0);
}

static void fixture_stop(fixture *f)
{
    assert_true(tc_server_free(&f->loop, f->srv, 200));
    assert_int_equal(uv_loop_close(&f->loop), 0);
}

static void add_request(tc *c, const char *host, int kind, const char *arg)
{
    rreq r = GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
    r.host = (char *)host;
    r.message_request_case =
        (Grpc__Reflection__V1__ServerReflectionRequest__MessageRequestCase)kind;
    r.file_by_filename = (char *)arg; /* any of the union's strings */
    tc_add_message(c, &r.base);
}

#define BY_NAME GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_BY_FILENAME
#define BY_SYM                                                                                     \
    GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL
#define LIST GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_LIST_SERVICES
#define ALL_EXT                                                                                    \
    GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_ALL_EXTENSION_NUMBERS_OF_TYPE
#define RES_FILE                                                                                   \
    GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE
#define RES_ERR GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ERROR_RESPONSE
#define RES_LIST                                                                                   \
    GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_LIST_SERVICES_RESPONSE

static rres *response(const tc *c, size_t i)
{
    ProtobufCMessage *m =
        tc_message(c, i, &grpc__reflection__v1__server_reflection_response__descriptor);
    assert_non_null(m);
    return (rres *)m;
}

/* Asserts response i carries exactly `files` (indices, -1 terminated), each
 * byte for byte as packed, and echoes host. */
static void expect_files(const tc *c, size_t i, const char *host, const int *files)
{
    rres *r = response(c, i);
    assert_string_equal(r->valid_host, host);
    assert_non_null(r->original_request);
    assert_string_equal(r->original_request->host, host);
    assert_int_equal(r->message_response_case, RES_FILE);
    size_t n = 0;
    while (files[n] >= 0)
        n++;
    assert_int_equal(r->file_descriptor_response->n_file_descriptor_proto, n);
    for (size_t k = 0; k < n; k++) {
        const ProtobufCBinaryData *b = &r->file_descriptor_response->file_descriptor_proto[k];
        assert_int_equal(b->len, file_len[files[k]]);
        assert_memory_equal(b->data, file_bytes[files[k]], b->len);
    }
    protobuf_c_message_free_unpacked(&r->base, NULL);
}

static void expect_error(const tc *c, size_t i, int code)
{
    rres *r = response(c, i);
    assert_int_equal(r->message_response_case, RES_ERR);
    assert_int_equal(r->error_response->error_code, code);
    assert_true(strlen(r->error_response->error_message) > 0);
    protobuf_c_message_free_unpacked(&r->base, NULL);
}

static void call_to_end(fixture *f, tc *c, const char *path)
{
    assert_true(tc_run_until(&f->loop, tc_is_connected, c, WAIT_MS));
    tc_start_call(c, path);
    assert_true(tc_run_until(&f->loop, tc_is_closed, c, WAIT_MS));
}

static void test_dependencies_sent_once_per_stream(void **state)
{
    (void)state;
    fixture f;
    fixture_start(&f, 0);
    tc c;
    tc_connect(&c, &f.loop, f.port, 65535);
    add_request(&c, "h0", BY_NAME, "b.proto");
    add_request(&c, "h1", BY_NAME, "a.proto");
    add_request(&c, "h2", BY_SYM, "t.C.N");
    add_request(&c, "h3", BY_NAME, "d.proto");
    add_request(&c, "h4", BY_SYM, "t.S.M");
    add_request(&c, "h5", BY_SYM, "t.E");
    add_request(&c, "h6", BY_SYM, "D");
    add_request(&c, "h7", BY_SYM, "t.Nope");
    add_request(&c, "h8", BY_NAME, "missing.proto");
    add_request(&c, "h9", ALL_EXT, "t.B");
    add_request(&c, "h10", 0, NULL);
    add_request(&c, "h11", LIST, "");
    call_to_end(&f, &c, V1_PATH);
    assert_int_equal(c.grpc_status, 0);
    assert_int_equal(tc_count(&c), 12);
    expect_files(&c, 0, "h0", (const int[]){F_B, F_C, -1});
    expect_files(&c, 1, "h1", (const int[]){F_A, -1}); /* b, c already sent */
    expect_files(&c, 2, "h2", (const int[]){F_C, -1}); /* asked for: sent again */
    expect_files(&c, 3, "h3", (const int[]){F_D, -1}); /* missing.proto skipped */
    expect_files(&c, 4, "h4", (const int[]){F_A, -1}); /* a method */
    expect_files(&c, 5, "h5", (const int[]){F_C, -1}); /* an enum */
    expect_files(&c, 6, "h6", (const int[]){F_D, -1}); /* no package */
    expect_error(&c, 7, UGRPC_STATUS_NOT_FOUND);
    expect_error(&c, 8, UGRPC_STATUS_NOT_FOUND);
    expect_error(&c, 9, UGRPC_STATUS_NOT_FOUND);
    expect_error(&c, 10, UGRPC_STATUS_INVALID_ARGUMENT);
    rres *r = response(&c, 11);
    assert_int_equal(r->message_response_case, RES_LIST);
    assert_int_equal(r->list_services_response->n_service, 3);
    assert_string_equal(r->list_services_response->service[0]->name,
                        "grpc.reflection.v1.ServerReflection");
    assert_string_equal(r->list_services_response->service[1]->name,
                        "grpc.reflection.v1alpha.ServerReflection");
    assert_string_equal(r->list_services_response->service[2]->name, "t.S");
    protobuf_c_message_free_unpacked(&r->base, NULL);
    tc_close(&c);

    /* A new stream starts with nothing sent: the whole closure, the
     * requested file first, then breadth first. */
    tc_connect(&c, &f.loop, f.port, 65535);
    add_request(&c, "x", BY_SYM, "t.S");
    add_request(&c, "y", BY_SYM, "t.C");
    call_to_end(&f, &c, V1ALPHA_PATH);
    assert_int_equal(c.grpc_status, 0);
    assert_int_equal(tc_count(&c), 2);
    expect_files(&c, 0, "x", (const int[]){F_A, F_B, F_C, -1});
    expect_files(&c, 1, "y", (const int[]){F_C, -1});
    tc_close(&c);
    fixture_stop(&f);
}

static int has_messages(void *arg)
{
    tc *c = arg;
    return tc_count(c) >= 1;
}

static void test_requests_wait_while_blocked(void **state)
{
    (void)state;
    fixture f;
    /* A two-byte send queue (the smallest whose writable threshold, half of
     * it, is not 0): every send while one response is queued is refused. */
    fixture_start(&f, 2);
    tc c;
    /* A zero stream window: nothing leaves the server until we open it. */
    tc_connect(&c, &f.loop, f.port, 0);
    char hosts[10][4];
    for (int i = 0; i < 10; i++) {
        snprintf(hosts[i], sizeof(hosts[i]), "%d", i);
        add_request(&c, hosts[i], BY_NAME, "a.proto");
    }
    assert_true(tc_run_until(&f.loop, tc_is_connected, &c, WAIT_MS));
    tc_start_call(&c, V1_PATH);
    assert_true(tc_run_until(&f.loop, tc_has_headers, &c, WAIT_MS));
    assert_int_equal(tc_count(&c), 0);
    tc_open_window(&c, 1 << 20);
    assert_true(tc_run_until(&f.loop, tc_is_closed, &c, WAIT_MS));
    assert_int_equal(c.grpc_status, 0);
    assert_int_equal(tc_count(&c), 10);
    expect_files(&c, 0, "0", (const int[]){F_A, F_B, F_C, -1});
    for (int i = 1; i < 10; i++)
        expect_files(&c, (size_t)i, hosts[i], (const int[]){F_A, -1});
    tc_close(&c);

    /* Past 64 waiting requests the stream ends with RESOURCE_EXHAUSTED. */
    tc_connect(&c, &f.loop, f.port, 0);
    for (int i = 0; i < 100; i++)
        add_request(&c, "", BY_NAME, "c.proto");
    assert_true(tc_run_until(&f.loop, tc_is_connected, &c, WAIT_MS));
    tc_start_call(&c, V1_PATH);
    assert_true(tc_run_until(&f.loop, tc_has_headers, &c, WAIT_MS));
    tc_open_window(&c, 1 << 20);
    assert_true(tc_run_until(&f.loop, tc_is_closed, &c, WAIT_MS));
    assert_int_equal(c.grpc_status, UGRPC_STATUS_RESOURCE_EXHAUSTED);
    assert_int_equal(tc_count(&c), 1);
    tc_close(&c);

    /* A client that goes away while requests wait: the queue is freed (the
     * sanitizer build checks), and the server carries on. */
    tc_connect(&c, &f.loop, f.port, 0);
    for (int i = 0; i < 20; i++)
        add_request(&c, "", BY_NAME, "a.proto");
    assert_true(tc_run_until(&f.loop, tc_is_connected, &c, WAIT_MS));
    tc_start_call(&c, V1_PATH);
    assert_true(tc_run_until(&f.loop, tc_has_headers, &c, WAIT_MS));
    tc_close(&c);
    tc_connect(&c, &f.loop, f.port, 65535);
    add_request(&c, "", BY_NAME, "c.proto");
    call_to_end(&f, &c, V1_PATH);
    assert_true(has_messages(&c));
    assert_int_equal(c.grpc_status, 0);
    tc_close(&c);
    fixture_stop(&f);
}

static void test_bad_message_ends_stream(void **state)
{
    (void)state;
    fixture f;
    fixture_start(&f, 0);
    tc c;
    tc_connect(&c, &f.loop, f.port, 65535);
    add_request(&c, "ok", BY_NAME, "c.proto");
    /* A framed message that is no ServerReflectionRequest: the library ends
     * the call and the handler is told through on_cancel. */
    static const uint8_t junk[] = {0, 0, 0, 0, 2, 0xff, 0xff};
    tc_bytes_add(&c.req, junk, sizeof(junk));
    call_to_end(&f, &c, V1_PATH);
    assert_int_equal(c.grpc_status, UGRPC_STATUS_INTERNAL);
    assert_int_equal(tc_count(&c), 1);
    tc_close(&c);
    fixture_stop(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v1alpha_wire_equals_v1),
        cmocka_unit_test(test_enable_rejects_bad_sets),
        cmocka_unit_test_teardown(test_enable_out_of_memory, restore_allocator),
        cmocka_unit_test(test_dependencies_sent_once_per_stream),
        cmocka_unit_test(test_requests_wait_while_blocked),
        cmocka_unit_test(test_bad_message_ends_stream),
    };
    return cmocka_run_group_tests(tests, build_set, free_set);
}
