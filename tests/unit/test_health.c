/*
 * Unit tests for src/grpc/health.c: the public calls' errors, Check, and
 * Watch through a real server and an nghttp2 client on one loop
 * (h2_client.h): changes only, the latest status kept while a send is
 * refused, and the two shutdown phases.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "grpc/health/v1/health.pb-c.h"
#include "h2_client.h"
#include "ugrpc.h"

#define CHECK_PATH "/grpc.health.v1.Health/Check"
#define WATCH_PATH "/grpc.health.v1.Health/Watch"
#define WAIT_MS    5000

enum { W_UNKNOWN = 0, W_SERVING = 1, W_NOT_SERVING = 2, W_SERVICE_UNKNOWN = 3 };

static void unary_stub(ugrpc_call *call, const ProtobufCMessage *req, void *data)
{
    (void)req;
    (void)data;
    ugrpc_call_finish(call, UGRPC_STATUS_UNIMPLEMENTED, NULL);
}

static void test_api_errors(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    ugrpc_server *srv = tc_server_new(&loop, NULL);
    assert_non_null(srv);
    assert_int_equal(ugrpc_health_set(srv, "x", UGRPC_HEALTH_SERVING), UGRPC_ESTATE);
    assert_int_equal(ugrpc_health_enable(NULL), UGRPC_EINVAL);
    assert_int_equal(ugrpc_health_enable(srv), 0);
    assert_int_equal(ugrpc_health_enable(srv), UGRPC_EEXIST);
    assert_int_equal(ugrpc_health_set(srv, NULL, UGRPC_HEALTH_SERVING), UGRPC_EINVAL);
    assert_int_equal(ugrpc_health_set(NULL, "x", UGRPC_HEALTH_SERVING), UGRPC_EINVAL);
    assert_int_equal(ugrpc_health_set(srv, "x", UGRPC_HEALTH_UNKNOWN), UGRPC_EINVAL);
    assert_int_equal(ugrpc_health_set(srv, "x", (ugrpc_health_status)7), UGRPC_EINVAL);
    assert_int_equal(ugrpc_health_set(srv, "x", UGRPC_HEALTH_NOT_SERVING), 0);
    assert_int_equal(ugrpc_health_set(srv, "x", UGRPC_HEALTH_NOT_SERVING), 0);
    assert_true(tc_server_free(&loop, srv, 100));

    /* Someone else's method on a health path. */
    srv = tc_server_new(&loop, NULL);
    ugrpc_method m = {.path = WATCH_PATH,
                      .type = UGRPC_UNARY,
                      .request_type = &grpc__health__v1__health_check_request__descriptor,
                      .response_type = &grpc__health__v1__health_check_response__descriptor,
                      .on_request = unary_stub};
    assert_int_equal(ugrpc_server_add_method(srv, &m), 0);
    assert_int_equal(ugrpc_health_enable(srv), UGRPC_EEXIST);
    assert_true(tc_server_free(&loop, srv, 100));
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* Fails every allocation once the budget is spent. */
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
    assert_int_equal(ugrpc_replace_allocator(budget_malloc, budget_realloc, budget_calloc, free),
                     0);
    long k;
    int rv = -1;
    for (k = 0; k < 1000; k++) {
        alloc_budget = k;
        rv = ugrpc_health_enable(srv);
        alloc_budget = -1;
        if (rv == 0) break;
        assert_int_equal(rv, UGRPC_ENOMEM);
    }
    assert_int_equal(rv, 0);
    alloc_budget = 0;
    assert_int_equal(ugrpc_health_set(srv, "new", UGRPC_HEALTH_SERVING), UGRPC_ENOMEM);
    restore_allocator(NULL);
    assert_int_equal(ugrpc_health_set(srv, "new", UGRPC_HEALTH_SERVING), 0);
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
    assert_int_equal(ugrpc_health_enable(f->srv), 0);
    f->port = tc_server_listen(f->srv);
    assert_true(f->port > 0);
}

static void start(fixture *f, tc *c, const char *path, const char *service, uint32_t window)
{
    tc_connect(c, &f->loop, f->port, window);
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    req.service = (char *)service;
    tc_add_message(c, &req.base);
    assert_true(tc_run_until(&f->loop, tc_is_connected, c, WAIT_MS));
    tc_start_call(c, path);
}

static int status_at(const tc *c, size_t i)
{
    ProtobufCMessage *m = tc_message(c, i, &grpc__health__v1__health_check_response__descriptor);
    assert_non_null(m);
    if (m == NULL) return -1; /* (unreachable: for the compiler's null analysis) */
    int s = ((Grpc__Health__V1__HealthCheckResponse *)m)->status;
    protobuf_c_message_free_unpacked(m, NULL);
    return s;
}

typedef struct want {
    tc *c;
    size_t n;
} want;

static int has_n(void *arg)
{
    want *w = arg;
    return tc_count(w->c) >= w->n || w->c->closed;
}

static void wait_messages(fixture *f, tc *c, size_t n)
{
    want w = {c, n};
    assert_true(tc_run_until(&f->loop, has_n, &w, WAIT_MS));
    assert_int_equal(tc_count(c), n);
}

/* Runs the loop a little: long enough for anything already due to arrive. */
static void settle(fixture *f)
{
    int never = 0;
    tc_run_until(&f->loop, tc_flag_set, &never, 100);
}

static int check(fixture *f, const char *service, int *grpc_status)
{
    tc c;
    start(f, &c, CHECK_PATH, service, 65535);
    assert_true(tc_run_until(&f->loop, tc_is_closed, &c, WAIT_MS));
    *grpc_status = c.grpc_status;
    int s = tc_count(&c) == 1 ? status_at(&c, 0) : -1;
    tc_close(&c);
    return s;
}

static void test_check(void **state)
{
    (void)state;
    fixture f;
    fixture_start(&f, 0);
    int st;
    assert_int_equal(check(&f, "", &st), W_SERVING);
    assert_int_equal(st, 0);
    assert_int_equal(check(&f, "svc", &st), -1);
    assert_int_equal(st, UGRPC_STATUS_NOT_FOUND);
    assert_int_equal(ugrpc_health_set(f.srv, "svc", UGRPC_HEALTH_NOT_SERVING), 0);
    assert_int_equal(check(&f, "svc", &st), W_NOT_SERVING);
    assert_int_equal(ugrpc_health_set(f.srv, "", UGRPC_HEALTH_NOT_SERVING), 0);
    assert_int_equal(check(&f, "", &st), W_NOT_SERVING);
    assert_true(tc_server_free(&f.loop, f.srv, 200));
    assert_int_equal(uv_loop_close(&f.loop), 0);
}

static void test_watch_changes_and_shutdown(void **state)
{
    (void)state;
    fixture f;
    /* A two-byte send queue: a second status while one is queued is refused
     * (UGRPC_EAGAIN), and the watcher must wait for writable. */
    fixture_start(&f, 2);
    tc c;
    /* A zero stream window holds the first status in the server's queue. */
    start(&f, &c, WATCH_PATH, "svc", 0);
    assert_true(tc_run_until(&f.loop, tc_has_headers, &c, WAIT_MS));
    assert_int_equal(ugrpc_health_set(f.srv, "svc", UGRPC_HEALTH_SERVING), 0);     /* refused */
    assert_int_equal(ugrpc_health_set(f.srv, "svc", UGRPC_HEALTH_NOT_SERVING), 0); /* latest */
    assert_int_equal(ugrpc_health_set(f.srv, "svc", UGRPC_HEALTH_NOT_SERVING), 0); /* no change */
    assert_int_equal(ugrpc_health_set(f.srv, "other", UGRPC_HEALTH_SERVING), 0);   /* not ours */
    tc_open_window(&c, 1 << 20);
    wait_messages(&f, &c, 2);
    assert_int_equal(status_at(&c, 0), W_SERVICE_UNKNOWN);
    assert_int_equal(status_at(&c, 1), W_NOT_SERVING);

    assert_int_equal(ugrpc_health_set(f.srv, "svc", UGRPC_HEALTH_SERVING), 0);
    wait_messages(&f, &c, 3);
    assert_int_equal(status_at(&c, 2), W_SERVING);
    assert_int_equal(ugrpc_health_set(f.srv, "svc", UGRPC_HEALTH_SERVING), 0);
    settle(&f);
    assert_int_equal(tc_count(&c), 3); /* a set to the same status says nothing */
    assert_false(c.closed);

    /* A second watcher that leaves: later changes must not reach it. */
    tc gone;
    start(&f, &gone, WATCH_PATH, "svc", 65535);
    want w = {&gone, 1};
    assert_true(tc_run_until(&f.loop, has_n, &w, WAIT_MS));
    tc_close(&gone);
    settle(&f);

    /* Phase one: NOT_SERVING for everyone, and no way back. Phase two (at
     * half the grace here): the watch ends with UNAVAILABLE. */
    int done = 0;
    assert_int_equal(ugrpc_server_shutdown(f.srv, 400, tc_on_shutdown, &done), 0);
    assert_int_equal(ugrpc_health_set(f.srv, "svc", UGRPC_HEALTH_SERVING), 0); /* ignored */
    assert_true(tc_run_until(&f.loop, tc_is_closed, &c, WAIT_MS));
    assert_int_equal(tc_count(&c), 4);
    assert_int_equal(status_at(&c, 3), W_NOT_SERVING);
    assert_int_equal(c.grpc_status, UGRPC_STATUS_UNAVAILABLE);
    assert_string_equal(c.grpc_message, "server is shutting down");
    tc_close(&c);
    assert_true(tc_run_until(&f.loop, tc_flag_set, &done, WAIT_MS));
    assert_int_equal(ugrpc_server_free(f.srv), 0);
    uv_run(&f.loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f.loop), 0);
}

static void test_watch_unknown_then_known(void **state)
{
    (void)state;
    fixture f;
    fixture_start(&f, 0);
    tc c;
    start(&f, &c, WATCH_PATH, "later", 65535);
    wait_messages(&f, &c, 1);
    assert_int_equal(status_at(&c, 0), W_SERVICE_UNKNOWN);
    settle(&f);
    assert_false(c.closed); /* stays open */
    assert_int_equal(ugrpc_health_set(f.srv, "later", UGRPC_HEALTH_SERVING), 0);
    wait_messages(&f, &c, 2);
    assert_int_equal(status_at(&c, 1), W_SERVING);
    tc_close(&c);
    assert_true(tc_server_free(&f.loop, f.srv, 200));
    assert_int_equal(uv_loop_close(&f.loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_api_errors),
        cmocka_unit_test_teardown(test_enable_out_of_memory, restore_allocator),
        cmocka_unit_test(test_check),
        cmocka_unit_test(test_watch_changes_and_shutdown),
        cmocka_unit_test(test_watch_unknown_then_known),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
