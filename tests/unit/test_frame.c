/* Unit tests for src/grpc/frame.c: the gRPC length-prefixed message deframer. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alloc.h"
#include "alloc_hooks.h"
#include "frame.h"
#include "ugrpc.h"

/* ---- helpers ------------------------------------------------------------ */

#define MAX_MSGS 32

typedef struct collected {
    size_t count;
    int compressed[MAX_MSGS];
    size_t len[MAX_MSGS];
    uint8_t *data[MAX_MSGS]; /* copies */
    const uint8_t *ptr[MAX_MSGS];
    int fail_at; /* 1-based message index whose callback fails, 0 for never */
    int fail_rv;
} collected;

static int collect_cb(void *ud, int compressed, const uint8_t *data, size_t len)
{
    collected *c = ud;
    assert_true(c->count < MAX_MSGS);
    assert_non_null(data);
    c->compressed[c->count] = compressed;
    c->len[c->count] = len;
    c->ptr[c->count] = data;
    c->data[c->count] = malloc(len ? len : 1);
    assert_non_null(c->data[c->count]);
    if (len) memcpy(c->data[c->count], data, len);
    c->count++;
    if (c->fail_at != 0 && (size_t)c->fail_at == c->count) return c->fail_rv;
    return 0;
}

static void collected_free(collected *c)
{
    for (size_t i = 0; i < c->count; i++)
        free(c->data[i]);
    memset(c, 0, sizeof(*c));
}

/* Appends one framed message to out at *off. */
static void put_msg(uint8_t *out, size_t *off, int compressed, const void *body, uint32_t len)
{
    ugrpc__frame_prefix(out + *off, compressed, len);
    *off += UGRPC__PREFIX_LEN;
    if (len) memcpy(out + *off, body, len);
    *off += len;
}

static int restore_allocator(void **state)
{
    (void)state;
    return ugrpc_replace_allocator(NULL, NULL, NULL, NULL);
}

/* The stream used by the split tests: three messages, the second empty. */
static const char MSG_A[] = "hello";
static const char MSG_C[] = "a somewhat longer third message";

static size_t build_stream3(uint8_t *out, size_t bounds[4])
{
    size_t off = 0;
    bounds[0] = 0;
    put_msg(out, &off, 0, MSG_A, (uint32_t)strlen(MSG_A));
    bounds[1] = off;
    put_msg(out, &off, 1, "", 0);
    bounds[2] = off;
    put_msg(out, &off, 0, MSG_C, (uint32_t)strlen(MSG_C));
    bounds[3] = off;
    return off;
}

static void check_stream3(const collected *c)
{
    assert_int_equal(c->count, 3);
    assert_int_equal(c->len[0], strlen(MSG_A));
    assert_memory_equal(c->data[0], MSG_A, strlen(MSG_A));
    assert_int_equal(c->compressed[0], 0);
    assert_int_equal(c->len[1], 0);
    assert_int_equal(c->compressed[1], 1);
    assert_int_equal(c->len[2], strlen(MSG_C));
    assert_memory_equal(c->data[2], MSG_C, strlen(MSG_C));
    assert_int_equal(c->compressed[2], 0);
}

static int is_boundary(const size_t bounds[4], size_t off)
{
    for (int i = 0; i < 4; i++)
        if (bounds[i] == off) return 1;
    return 0;
}

/* ---- tests -------------------------------------------------------------- */

static void test_prefix_encoding(void **state)
{
    (void)state;
    uint8_t out[UGRPC__PREFIX_LEN];

    ugrpc__frame_prefix(out, 0, 0x01020304u);
    const uint8_t want1[] = {0, 0x01, 0x02, 0x03, 0x04};
    assert_memory_equal(out, want1, sizeof(want1));

    ugrpc__frame_prefix(out, 1, 0);
    const uint8_t want2[] = {1, 0, 0, 0, 0};
    assert_memory_equal(out, want2, sizeof(want2));

    /* Any non-zero "compressed" becomes flag 1. */
    ugrpc__frame_prefix(out, 7, 0xFFFFFFFFu);
    const uint8_t want3[] = {1, 0xFF, 0xFF, 0xFF, 0xFF};
    assert_memory_equal(out, want3, sizeof(want3));

    ugrpc__frame_prefix(out, 0, 300);
    const uint8_t want4[] = {0, 0, 0, 0x01, 0x2C};
    assert_memory_equal(out, want4, sizeof(want4));
}

static void test_whole_message_zero_copy(void **state)
{
    (void)state;
    uint8_t buf[64];
    size_t off = 0;
    put_msg(buf, &off, 0, "hello", 5);

    ugrpc__deframer d;
    ugrpc__deframer_init(&d, 1024);
    assert_true(ugrpc__deframer_at_boundary(&d));
    collected c = {0};
    assert_int_equal(ugrpc__deframer_feed(&d, buf, off, collect_cb, &c, NULL), 0);
    assert_int_equal(c.count, 1);
    assert_int_equal(c.len[0], 5);
    assert_memory_equal(c.data[0], "hello", 5);
    assert_int_equal(c.compressed[0], 0);
    /* A message wholly inside one chunk is passed without copying. */
    assert_ptr_equal(c.ptr[0], buf + UGRPC__PREFIX_LEN);
    assert_true(ugrpc__deframer_at_boundary(&d));
    assert_null(d.body);
    ugrpc__deframer_free(&d);
    collected_free(&c);
}

static void test_compressed_flag_delivered(void **state)
{
    (void)state;
    uint8_t buf[64];
    size_t off = 0;
    put_msg(buf, &off, 1, "zz", 2);
    put_msg(buf, &off, 0, "yy", 2);
    ugrpc__deframer d;
    ugrpc__deframer_init(&d, 1024);
    collected c = {0};
    assert_int_equal(ugrpc__deframer_feed(&d, buf, off, collect_cb, &c, NULL), 0);
    assert_int_equal(c.count, 2);
    assert_int_equal(c.compressed[0], 1);
    assert_int_equal(c.compressed[1], 0);
    ugrpc__deframer_free(&d);
    collected_free(&c);
}

static void test_several_messages_one_chunk(void **state)
{
    (void)state;
    uint8_t buf[256];
    size_t off = 0;
    char body[8];
    for (int i = 0; i < 10; i++) {
        int n = snprintf(body, sizeof(body), "m%d", i * 111);
        put_msg(buf, &off, 0, body, (uint32_t)n);
    }
    ugrpc__deframer d;
    ugrpc__deframer_init(&d, 1024);
    collected c = {0};
    assert_int_equal(ugrpc__deframer_feed(&d, buf, off, collect_cb, &c, NULL), 0);
    assert_int_equal(c.count, 10);
    for (int i = 0; i < 10; i++) {
        int n = snprintf(body, sizeof(body), "m%d", i * 111);
        assert_int_equal(c.len[i], (size_t)n);
        assert_memory_equal(c.data[i], body, (size_t)n);
    }
    assert_true(ugrpc__deframer_at_boundary(&d));
    ugrpc__deframer_free(&d);
    collected_free(&c);
}

static void test_every_single_split(void **state)
{
    (void)state;
    uint8_t buf[128];
    size_t bounds[4];
    size_t total = build_stream3(buf, bounds);
    for (size_t i = 0; i <= total; i++) {
        ugrpc__deframer d;
        ugrpc__deframer_init(&d, 1024);
        collected c = {0};
        assert_int_equal(ugrpc__deframer_feed(&d, buf, i, collect_cb, &c, NULL), 0);
        assert_int_equal(ugrpc__deframer_at_boundary(&d), is_boundary(bounds, i));
        assert_int_equal(ugrpc__deframer_feed(&d, buf + i, total - i, collect_cb, &c, NULL), 0);
        check_stream3(&c);
        assert_true(ugrpc__deframer_at_boundary(&d));
        ugrpc__deframer_free(&d);
        collected_free(&c);
    }
}

static void test_every_double_split(void **state)
{
    (void)state;
    uint8_t buf[128];
    size_t bounds[4];
    size_t total = build_stream3(buf, bounds);
    for (size_t i = 0; i <= total; i++) {
        for (size_t j = i; j <= total; j++) {
            ugrpc__deframer d;
            ugrpc__deframer_init(&d, 1024);
            collected c = {0};
            assert_int_equal(ugrpc__deframer_feed(&d, buf, i, collect_cb, &c, NULL), 0);
            assert_int_equal(ugrpc__deframer_at_boundary(&d), is_boundary(bounds, i));
            assert_int_equal(ugrpc__deframer_feed(&d, buf + i, j - i, collect_cb, &c, NULL), 0);
            assert_int_equal(ugrpc__deframer_at_boundary(&d), is_boundary(bounds, j));
            assert_int_equal(ugrpc__deframer_feed(&d, buf + j, total - j, collect_cb, &c, NULL), 0);
            check_stream3(&c);
            assert_true(ugrpc__deframer_at_boundary(&d));
            ugrpc__deframer_free(&d);
            collected_free(&c);
        }
    }
}

static void test_byte_at_a_time(void **state)
{
    (void)state;
    uint8_t buf[128];
    size_t bounds[4];
    size_t total = build_stream3(buf, bounds);
    ugrpc__deframer d;
    ugrpc__deframer_init(&d, 1024);
    collected c = {0};
    for (size_t i = 0; i < total; i++) {
        assert_int_equal(ugrpc__deframer_feed(&d, buf + i, 1, collect_cb, &c, NULL), 0);
        assert_int_equal(ugrpc__deframer_at_boundary(&d), is_boundary(bounds, i + 1));
        /* Messages are delivered exactly when their last byte arrives. */
        size_t want = 0;
        for (int b = 1; b < 4; b++)
            if (bounds[b] <= i + 1) want++;
        assert_int_equal(c.count, want);
    }
    check_stream3(&c);
    ugrpc__deframer_free(&d);
    collected_free(&c);
}

static void test_feed_empty_chunk(void **state)
{
    (void)state;
    ugrpc__deframer d;
    ugrpc__deframer_init(&d, 16);
    collected c = {0};
    assert_int_equal(ugrpc__deframer_feed(&d, (const uint8_t *)"", 0, collect_cb, &c, NULL), 0);
    assert_int_equal(c.count, 0);
    assert_true(ugrpc__deframer_at_boundary(&d));
    ugrpc__deframer_free(&d);
}

static void test_zero_length_messages(void **state)
{
    (void)state;
    uint8_t buf[32];
    size_t off = 0;
    put_msg(buf, &off, 0, "", 0);
    put_msg(buf, &off, 0, "", 0);
    put_msg(buf, &off, 1, "", 0);
    assert_int_equal(off, 15);

    /* One chunk. */
    ugrpc__deframer d;
    ugrpc__deframer_init(&d, 0); /* a zero limit still admits empty messages */
    collected c = {0};
    assert_int_equal(ugrpc__deframer_feed(&d, buf, off, collect_cb, &c, NULL), 0);
    assert_int_equal(c.count, 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(c.len[i], 0);
    assert_int_equal(c.compressed[2], 1);
    assert_true(ugrpc__deframer_at_boundary(&d));
    assert_null(d.body);
    ugrpc__deframer_free(&d);
    collected_free(&c);

    /* Byte at a time: each arrives with its fifth prefix byte. */
    ugrpc__deframer_init(&d, 0);
    for (size_t i = 0; i < off; i++) {
        assert_int_equal(ugrpc__deframer_feed(&d, buf + i, 1, collect_cb, &c, NULL), 0);
        assert_int_equal(c.count, (i + 1) / 5);
        assert_int_equal(ugrpc__deframer_at_boundary(&d), (i + 1) % 5 == 0);
    }
    assert_null(d.body);
    ugrpc__deframer_free(&d);
    collected_free(&c);
}

static void test_max_size_exactly_at_limit(void **state)
{
    (void)state;
    enum { MAX = 100 };
    uint8_t body[MAX], buf[MAX + UGRPC__PREFIX_LEN];
    for (int i = 0; i < MAX; i++)
        body[i] = (uint8_t)(i * 7 + 3);
    size_t off = 0;
    put_msg(buf, &off, 0, body, MAX);

    /* Whole. */
    ugrpc__deframer d;
    ugrpc__deframer_init(&d, MAX);
    collected c = {0};
    uint64_t too_big = 12345;
    assert_int_equal(ugrpc__deframer_feed(&d, buf, off, collect_cb, &c, &too_big), 0);
    assert_int_equal(c.count, 1);
    assert_int_equal(c.len[0], MAX);
    assert_memory_equal(c.data[0], body, MAX);
    assert_int_equal(too_big, 12345); /* untouched */
    ugrpc__deframer_free(&d);
    collected_free(&c);

    /* Split inside the body: reassembled. */
    ugrpc__deframer_init(&d, MAX);
    assert_int_equal(ugrpc__deframer_feed(&d, buf, 50, collect_cb, &c, &too_big), 0);
    assert_int_equal(c.count, 0);
    assert_non_null(d.body);
    assert_false(ugrpc__deframer_at_boundary(&d));
    assert_int_equal(ugrpc__deframer_feed(&d, buf + 50, off - 50, collect_cb, &c, &too_big), 0);
    assert_int_equal(c.count, 1);
    assert_memory_equal(c.data[0], body, MAX);
    assert_null(d.body);
    ugrpc__deframer_free(&d);
    collected_free(&c);
}

static void test_max_size_one_over(void **state)
{
    (void)state;
    enum { MAX = 100 };
    uint8_t buf[UGRPC__PREFIX_LEN + MAX + 1];
    memset(buf, 'x', sizeof(buf));
    ugrpc__frame_prefix(buf, 0, MAX + 1);

    reset_counts();
    assert_int_equal(ugrpc_replace_allocator(count_malloc, count_realloc, count_calloc, count_free),
                     0);
    ugrpc__deframer d;
    ugrpc__deframer_init(&d, MAX);
    collected c = {0};
    uint64_t too_big = 0;
    /* Only the prefix: rejected as soon as it is complete. */
    assert_int_equal(ugrpc__deframer_feed(&d, buf, UGRPC__PREFIX_LEN, collect_cb, &c, &too_big),
                     UGRPC_ETOOBIG);
    assert_int_equal(too_big, MAX + 1);
    assert_int_equal(c.count, 0);
    assert_null(d.body);
    assert_int_equal(n_allocs(), 0);
    ugrpc__deframer_free(&d);

    /* Prefix and body together: same, nothing buffered. */
    ugrpc__deframer_init(&d, MAX);
    too_big = 0;
    assert_int_equal(ugrpc__deframer_feed(&d, buf, sizeof(buf), collect_cb, &c, &too_big),
                     UGRPC_ETOOBIG);
    assert_int_equal(too_big, MAX + 1);
    assert_int_equal(c.count, 0);
    assert_null(d.body);
    assert_int_equal(n_allocs(), 0);
    ugrpc__deframer_free(&d);

    /* too_big may be NULL. */
    ugrpc__deframer_init(&d, MAX);
    assert_int_equal(ugrpc__deframer_feed(&d, buf, sizeof(buf), collect_cb, &c, NULL),
                     UGRPC_ETOOBIG);
    assert_int_equal(n_allocs(), 0);
    ugrpc__deframer_free(&d);
}

static void test_huge_announced_size(void **state)
{
    (void)state;
    uint8_t buf[UGRPC__PREFIX_LEN];
    ugrpc__frame_prefix(buf, 0, 0xFFFFFFFFu);
    ugrpc__deframer d;
    ugrpc__deframer_init(&d, 4u << 20);
    collected c = {0};
    uint64_t too_big = 0;
    /* Fed in two pieces, the rejection comes with the last prefix byte. */
    assert_int_equal(ugrpc__deframer_feed(&d, buf, 3, collect_cb, &c, &too_big), 0);
    assert_int_equal(too_big, 0);
    assert_int_equal(ugrpc__deframer_feed(&d, buf + 3, 2, collect_cb, &c, &too_big), UGRPC_ETOOBIG);
    assert_int_equal(too_big, 0xFFFFFFFFull);
    assert_null(d.body);
    ugrpc__deframer_free(&d);
}

static void test_bad_flag_byte(void **state)
{
    (void)state;
    uint8_t buf[16];
    size_t off = 0;
    put_msg(buf, &off, 0, "abc", 3);
    buf[0] = 2;
    ugrpc__deframer d;
    ugrpc__deframer_init(&d, 1024);
    collected c = {0};
    assert_int_equal(ugrpc__deframer_feed(&d, buf, off, collect_cb, &c, NULL), UGRPC_EPROTO);
    assert_int_equal(c.count, 0);
    ugrpc__deframer_free(&d);

    buf[0] = 0xFF;
    ugrpc__deframer_init(&d, 1024);
    assert_int_equal(ugrpc__deframer_feed(&d, buf, off, collect_cb, &c, NULL), UGRPC_EPROTO);
    assert_int_equal(c.count, 0);
    ugrpc__deframer_free(&d);

    /* After a good message, the bad flag of the next one is caught. */
    off = 0;
    put_msg(buf, &off, 0, "ok", 2);
    size_t second = off;
    put_msg(buf, &off, 0, "no", 2);
    buf[second] = 2;
    ugrpc__deframer_init(&d, 1024);
    assert_int_equal(ugrpc__deframer_feed(&d, buf, off, collect_cb, &c, NULL), UGRPC_EPROTO);
    assert_int_equal(c.count, 1);
    assert_memory_equal(c.data[0], "ok", 2);
    ugrpc__deframer_free(&d);
    collected_free(&c);
}

static void test_at_boundary_transitions(void **state)
{
    (void)state;
    uint8_t buf[32];
    size_t off = 0;
    put_msg(buf, &off, 0, "0123456789", 10);
    ugrpc__deframer d;
    ugrpc__deframer_init(&d, 1024);
    collected c = {0};
    assert_true(ugrpc__deframer_at_boundary(&d));
    assert_int_equal(ugrpc__deframer_feed(&d, buf, 1, collect_cb, &c, NULL), 0);
    assert_false(ugrpc__deframer_at_boundary(&d)); /* part of a prefix */
    assert_int_equal(ugrpc__deframer_feed(&d, buf + 1, 4, collect_cb, &c, NULL), 0);
    assert_false(ugrpc__deframer_at_boundary(&d)); /* whole prefix, no body */
    assert_int_equal(ugrpc__deframer_feed(&d, buf + 5, 9, collect_cb, &c, NULL), 0);
    assert_false(ugrpc__deframer_at_boundary(&d)); /* 9 of 10 body bytes */
    assert_int_equal(c.count, 0);
    assert_int_equal(ugrpc__deframer_feed(&d, buf + 14, 1, collect_cb, &c, NULL), 0);
    assert_true(ugrpc__deframer_at_boundary(&d));
    assert_int_equal(c.count, 1);
    assert_memory_equal(c.data[0], "0123456789", 10);
    ugrpc__deframer_free(&d);
    collected_free(&c);
}

static void test_callback_error_stops(void **state)
{
    (void)state;
    uint8_t buf[64];
    size_t off = 0;
    put_msg(buf, &off, 0, "one", 3);
    put_msg(buf, &off, 0, "two", 3);
    put_msg(buf, &off, 0, "three", 5);

    /* Zero-copy path. */
    ugrpc__deframer d;
    ugrpc__deframer_init(&d, 1024);
    collected c = {0};
    c.fail_at = 2;
    c.fail_rv = -100;
    assert_int_equal(ugrpc__deframer_feed(&d, buf, off, collect_cb, &c, NULL), -100);
    assert_int_equal(c.count, 2);
    ugrpc__deframer_free(&d);
    collected_free(&c);

    /* Reassembly path: the error of a split message comes back too, and
     * its buffer is released (checked by the leak sanitizer). */
    ugrpc__deframer_init(&d, 1024);
    c.fail_at = 1;
    c.fail_rv = UGRPC_ECANCELLED;
    assert_int_equal(ugrpc__deframer_feed(&d, buf, 6, collect_cb, &c, NULL), 0);
    assert_int_equal(ugrpc__deframer_feed(&d, buf + 6, off - 6, collect_cb, &c, NULL),
                     UGRPC_ECANCELLED);
    assert_int_equal(c.count, 1);
    assert_memory_equal(c.data[0], "one", 3);
    ugrpc__deframer_free(&d);
    collected_free(&c);

    /* An empty message's callback error stops too. */
    off = 0;
    put_msg(buf, &off, 0, "", 0);
    put_msg(buf, &off, 0, "", 0);
    ugrpc__deframer_init(&d, 1024);
    c.fail_at = 1;
    c.fail_rv = -42;
    assert_int_equal(ugrpc__deframer_feed(&d, buf, off, collect_cb, &c, NULL), -42);
    assert_int_equal(c.count, 1);
    ugrpc__deframer_free(&d);
    collected_free(&c);
}

static void test_large_message_many_chunks(void **state)
{
    (void)state;
    enum { LEN = 100000 };
    uint8_t *buf = malloc(LEN + UGRPC__PREFIX_LEN);
    assert_non_null(buf);
    ugrpc__frame_prefix(buf, 0, LEN);
    for (size_t i = 0; i < LEN; i++)
        buf[UGRPC__PREFIX_LEN + i] = (uint8_t)(i * 31 + (i >> 8));
    ugrpc__deframer d;
    ugrpc__deframer_init(&d, LEN);
    collected c = {0};
    size_t total = LEN + UGRPC__PREFIX_LEN;
    for (size_t off = 0; off < total; off += 4096) {
        size_t n = total - off < 4096 ? total - off : 4096;
        assert_int_equal(ugrpc__deframer_feed(&d, buf + off, n, collect_cb, &c, NULL), 0);
    }
    assert_int_equal(c.count, 1);
    assert_int_equal(c.len[0], LEN);
    assert_memory_equal(c.data[0], buf + UGRPC__PREFIX_LEN, LEN);
    assert_true(ugrpc__deframer_at_boundary(&d));
    ugrpc__deframer_free(&d);
    collected_free(&c);
    free(buf);
}

static void test_free_partial_message(void **state)
{
    (void)state;
    uint8_t buf[32];
    size_t off = 0;
    put_msg(buf, &off, 0, "0123456789", 10);
    reset_counts();
    assert_int_equal(ugrpc_replace_allocator(count_malloc, count_realloc, count_calloc, count_free),
                     0);
    ugrpc__deframer d;
    ugrpc__deframer_init(&d, 1024);
    collected c = {0};
    assert_int_equal(ugrpc__deframer_feed(&d, buf, 8, collect_cb, &c, NULL), 0);
    assert_non_null(d.body);
    assert_int_equal(n_allocs(), 1);
    ugrpc__deframer_free(&d);
    assert_null(d.body);
    assert_int_equal(n_free, 1);
    assert_int_equal(c.count, 0);
}

static void test_reassembly_enomem(void **state)
{
    (void)state;
    uint8_t buf[32];
    size_t off = 0;
    put_msg(buf, &off, 0, "0123456789", 10);
    assert_int_equal(ugrpc_replace_allocator(fail_malloc, fail_realloc, fail_calloc, free), 0);
    ugrpc__deframer d;
    ugrpc__deframer_init(&d, 1024);
    collected c = {0};
    assert_int_equal(ugrpc__deframer_feed(&d, buf, 8, collect_cb, &c, NULL), UGRPC_ENOMEM);
    assert_int_equal(c.count, 0);
    /* A whole message needs no allocation at all. */
    ugrpc__deframer_free(&d);
    ugrpc__deframer_init(&d, 1024);
    assert_int_equal(ugrpc__deframer_feed(&d, buf, off, collect_cb, &c, NULL), 0);
    assert_int_equal(c.count, 1);
    ugrpc__deframer_free(&d);
    collected_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prefix_encoding),
        cmocka_unit_test(test_whole_message_zero_copy),
        cmocka_unit_test(test_compressed_flag_delivered),
        cmocka_unit_test(test_several_messages_one_chunk),
        cmocka_unit_test(test_every_single_split),
        cmocka_unit_test(test_every_double_split),
        cmocka_unit_test(test_byte_at_a_time),
        cmocka_unit_test(test_feed_empty_chunk),
        cmocka_unit_test(test_zero_length_messages),
        cmocka_unit_test(test_max_size_exactly_at_limit),
        cmocka_unit_test_teardown(test_max_size_one_over, restore_allocator),
        cmocka_unit_test(test_huge_announced_size),
        cmocka_unit_test(test_bad_flag_byte),
        cmocka_unit_test(test_at_boundary_transitions),
        cmocka_unit_test(test_callback_error_stops),
        cmocka_unit_test(test_large_message_many_chunks),
        cmocka_unit_test_teardown(test_free_partial_message, restore_allocator),
        cmocka_unit_test_teardown(test_reassembly_enomem, restore_allocator),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
