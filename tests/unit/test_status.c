/* Unit tests for src/grpc/status.c: status names, error strings and
 * grpc-message percent-encoding. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "status.h"
#include "ugrpc.h"

/* The interop test's special_status_message. */
static const char SPECIAL[] =
    "\t\ntest with whitespace\r\nand Unicode BMP \xE2\x98\xBA and non-BMP \xF0\x9F\x98\x88\t\n";
static const char SPECIAL_ENCODED[] = "%09%0Atest with whitespace%0D%0Aand Unicode BMP %E2%98%BA "
                                      "and non-BMP %F0%9F%98%88%09%0A";

/* Encodes into a buffer of exactly `cap` bytes (followed by canaries that
 * must stay untouched) and returns the result in a static buffer. */
static char enc_out[512];
static size_t enc_ret;

static const char *encode_cap(const char *in, size_t len, size_t cap)
{
    assert_true(cap + 16 <= sizeof(enc_out));
    memset(enc_out, '#', sizeof(enc_out));
    enc_ret = ugrpc_percent_encode(in, len, enc_out, cap);
    for (size_t i = cap; i < cap + 16; i++)
        assert_int_equal(enc_out[i], '#');
    return enc_out;
}

static const char *encode(const char *in)
{
    return encode_cap(in, strlen(in), 256);
}

static void test_encode_ascii_unchanged(void **state)
{
    (void)state;
    assert_string_equal(encode("hello world"), "hello world");
    assert_int_equal(enc_ret, 11);
    const char *printable = " !\"#$&'()*+,-./0123456789:;<=>?@ABCXYZ[\\]^_`abcxyz{|}~";
    assert_string_equal(encode(printable), printable);
    assert_int_equal(enc_ret, strlen(printable));
    assert_string_equal(encode(""), "");
    assert_int_equal(enc_ret, 0);
}

static void test_encode_percent(void **state)
{
    (void)state;
    assert_string_equal(encode("%"), "%25");
    assert_int_equal(enc_ret, 3);
    assert_string_equal(encode("100% sure"), "100%25 sure");
    assert_string_equal(encode("%%"), "%25%25");
}

static void test_encode_control_chars(void **state)
{
    (void)state;
    assert_string_equal(encode("\t\n\r\x01\x1f\x7f"), "%09%0A%0D%01%1F%7F");
    assert_int_equal(enc_ret, 18);
    /* An embedded NUL counts when len says so. */
    assert_string_equal(encode_cap("a\0b", 3, 64), "a%00b");
    assert_int_equal(enc_ret, 5);
}

static void test_encode_utf8_bytes(void **state)
{
    (void)state;
    assert_string_equal(encode("\xE2\x98\xBA"), "%E2%98%BA");
    assert_string_equal(encode("\xF0\x9F\x98\x88"), "%F0%9F%98%88");
    assert_string_equal(encode("\x80\xFF"), "%80%FF");
    assert_string_equal(encode(SPECIAL), SPECIAL_ENCODED);
    assert_int_equal(enc_ret, strlen(SPECIAL_ENCODED));
}

static void test_special_message_round_trip(void **state)
{
    (void)state;
    char buf[256];
    size_t n = ugrpc_percent_encode(SPECIAL, strlen(SPECIAL), buf, sizeof(buf));
    assert_true(n < sizeof(buf));
    assert_int_equal(strlen(buf), n);
    size_t d = ugrpc_percent_decode(buf, n);
    assert_int_equal(d, strlen(SPECIAL));
    assert_memory_equal(buf, SPECIAL, d);
    assert_string_equal(buf, SPECIAL); /* NUL-terminated after decoding */

    /* Every byte value round-trips. */
    char all[256], out[256 * 3 + 1];
    for (int i = 0; i < 256; i++)
        all[i] = (char)i;
    n = ugrpc_percent_encode(all, sizeof(all), out, sizeof(out));
    assert_int_equal(n, 95 - 1 + (256 - 95 + 1) * 3); /* 0x20..0x7E except '%' stay */
    d = ugrpc_percent_decode(out, n);
    assert_int_equal(d, 256);
    assert_memory_equal(out, all, 256);
}

/* The encoding is a sequence of tokens (one byte or one "%XX"); a truncated
 * output must be a prefix of the full one that ends on a token boundary. */
static int is_token_prefix(const char *full, size_t len)
{
    size_t i = 0;
    while (i < len)
        i += full[i] == '%' ? 3 : 1;
    return i == len;
}

static void check_truncation(const char *in)
{
    char full[512];
    size_t need = ugrpc_percent_encode(in, strlen(in), full, sizeof(full));
    assert_true(need < sizeof(full));
    for (size_t cap = 1; cap <= need + 2; cap++) {
        const char *out = encode_cap(in, strlen(in), cap);
        assert_int_equal(enc_ret, need); /* always the full length, like snprintf */
        size_t got = strnlen(out, cap);
        assert_true(got < cap); /* NUL-terminated within cap */
        if (cap > need) {
            assert_string_equal(out, full);
            continue;
        }
        assert_memory_equal(out, full, got); /* a prefix of the full encoding */
        assert_true(is_token_prefix(full, got));
        /* As long as possible: the next token would not have fitted. */
        size_t next = got + (full[got] == '%' ? 3 : 1);
        assert_true(next > cap - 1);
    }
}

static void test_encode_truncation(void **state)
{
    (void)state;
    /* No room at all: nothing written, the needed length returned. */
    assert_int_equal(ugrpc_percent_encode("abc%", 4, NULL, 0), 6);

    assert_string_equal(encode_cap("abcdef", 6, 4), "abc");
    assert_int_equal(enc_ret, 6);
    assert_string_equal(encode_cap("abcdef", 6, 1), "");
    assert_int_equal(enc_ret, 6);
    assert_string_equal(encode_cap("abcdef", 6, 7), "abcdef");
    /* "ab%25": with 5 bytes "ab%2" would be half an escape. */
    assert_string_equal(encode_cap("ab%", 3, 5), "ab");
    assert_int_equal(enc_ret, 5);
    assert_string_equal(encode_cap("ab%", 3, 6), "ab%25");
    assert_string_equal(encode_cap("ab%c", 4, 6), "ab%25");
    assert_int_equal(enc_ret, 6);
}

static void test_encode_truncation_every_cap(void **state)
{
    (void)state;
    check_truncation("plain ascii only");
    check_truncation("%%%%");
    check_truncation("a%b\nc\xE2\x98\xBA"
                     "d");
    check_truncation(SPECIAL);
}

static size_t decode(char *buf, const char *in)
{
    strcpy(buf, in);
    return ugrpc_percent_decode(buf, strlen(in));
}

static void test_decode_valid(void **state)
{
    (void)state;
    char buf[128];
    assert_int_equal(decode(buf, "%41"), 1);
    assert_string_equal(buf, "A");
    assert_int_equal(decode(buf, "abc%41"), 4);
    assert_string_equal(buf, "abcA");
    assert_int_equal(decode(buf, "%e2%98%ba"), 3); /* lower-case hex too */
    assert_memory_equal(buf, "\xE2\x98\xBA", 3);
    assert_int_equal(decode(buf, "100%25 sure"), 9);
    assert_string_equal(buf, "100% sure");
    assert_int_equal(decode(buf, "no escapes"), 10);
    assert_string_equal(buf, "no escapes");
    assert_int_equal(decode(buf, "%00x"), 2);
    assert_memory_equal(buf, "\0x", 2);
    assert_int_equal(decode(buf, ""), 0);
}

static void test_decode_malformed_kept(void **state)
{
    (void)state;
    char buf[128];
    assert_int_equal(decode(buf, "%"), 1);
    assert_string_equal(buf, "%");
    assert_int_equal(decode(buf, "%4"), 2);
    assert_string_equal(buf, "%4");
    assert_int_equal(decode(buf, "%zz"), 3);
    assert_string_equal(buf, "%zz");
    assert_int_equal(decode(buf, "%4g"), 3);
    assert_string_equal(buf, "%4g");
    assert_int_equal(decode(buf, "%g4"), 3);
    assert_string_equal(buf, "%g4");
    assert_int_equal(decode(buf, "a%"), 2);
    assert_string_equal(buf, "a%");
    assert_int_equal(decode(buf, "ab%4"), 4);
    assert_string_equal(buf, "ab%4");
    /* A malformed escape followed by a good one. */
    assert_int_equal(decode(buf, "%%41"), 2);
    assert_string_equal(buf, "%A");
    assert_int_equal(decode(buf, "%zz%41%"), 5);
    assert_string_equal(buf, "%zzA%");
    /* Decoding only looks at `len` bytes. */
    strcpy(buf, "%41%42");
    assert_int_equal(ugrpc_percent_decode(buf, 5), 3);
    assert_memory_equal(buf, "A%4", 3);
}

static void test_status_names(void **state)
{
    (void)state;
    static const char *const names[] = {
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    };
    for (int i = 0; i <= 16; i++)
        assert_string_equal(ugrpc_status_name(i), names[i]);
    assert_string_equal(ugrpc_status_name(UGRPC_STATUS_NOT_FOUND), "NOT_FOUND");
    assert_string_equal(ugrpc_status_name(UGRPC_STATUS_UNAUTHENTICATED), "UNAUTHENTICATED");
    const int out_of_range[] = {-1, 17, 100, INT_MAX, INT_MIN};
    for (size_t i = 0; i < sizeof(out_of_range) / sizeof(out_of_range[0]); i++)
        assert_string_equal(ugrpc_status_name(out_of_range[i]), "UNKNOWN");
}

static void test_status_text(void **state)
{
    (void)state;
    char want[8];
    for (int i = 0; i <= 16; i++) {
        snprintf(want, sizeof(want), "%d", i);
        assert_string_equal(ugrpc__status_text(i), want);
    }
    assert_string_equal(ugrpc__status_text(-1), "2");
    assert_string_equal(ugrpc__status_text(17), "2");
}

static void test_strerror_every_code(void **state)
{
    (void)state;
    const int codes[] = {
        UGRPC_ENOMEM,  UGRPC_EINVAL, UGRPC_EEXIST, UGRPC_ECANCELLED, UGRPC_ESTATE, UGRPC_EBUSY,
        UGRPC_ETOOBIG, UGRPC_EIO,    UGRPC_EPROTO, UGRPC_EADDR,      UGRPC_EAGAIN,
    };
    const size_t n = sizeof(codes) / sizeof(codes[0]);
    const char *unknown = ugrpc_strerror(-1000);
    assert_non_null(unknown);
    assert_string_equal(unknown, "unknown error");
    assert_string_equal(ugrpc_strerror(0), "success");
    assert_string_equal(ugrpc_strerror(UGRPC_ENOMEM), "out of memory");
    assert_string_equal(ugrpc_strerror(UGRPC_ETOOBIG), "message too large");
    for (size_t i = 0; i < n; i++) {
        const char *s = ugrpc_strerror(codes[i]);
        assert_non_null(s);
        assert_true(strlen(s) > 0);
        if (strcmp(s, unknown) == 0) fail_msg("ugrpc_strerror(%d) is \"%s\"", codes[i], s);
        /* Each code has its own text. */
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(s, ugrpc_strerror(codes[j]));
    }
}

static void test_strerror_out_of_range(void **state)
{
    (void)state;
    const int bad[] = {1, 2, 100, -12, -100, INT_MAX, INT_MIN};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *s = ugrpc_strerror(bad[i]);
        assert_non_null(s);
        assert_string_equal(s, "unknown error");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_ascii_unchanged),
        cmocka_unit_test(test_encode_percent),
        cmocka_unit_test(test_encode_control_chars),
        cmocka_unit_test(test_encode_utf8_bytes),
        cmocka_unit_test(test_special_message_round_trip),
        cmocka_unit_test(test_encode_truncation),
        cmocka_unit_test(test_encode_truncation_every_cap),
        cmocka_unit_test(test_decode_valid),
        cmocka_unit_test(test_decode_malformed_kept),
        cmocka_unit_test(test_status_names),
        cmocka_unit_test(test_status_text),
        cmocka_unit_test(test_strerror_every_code),
        cmocka_unit_test(test_strerror_out_of_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
