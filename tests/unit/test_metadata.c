/* Unit tests for src/grpc/metadata.c: grpc-timeout, content-type and
 * metadata name/value checks. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "metadata.h"
#include "ugrpc.h"

#define UNTOUCHED 0xDEADBEEFull

/* Parses a NUL-terminated timeout; returns the result code and stores ms. */
static int timeout(const char *v, uint64_t *ms)
{
    *ms = UNTOUCHED;
    return ugrpc__parse_timeout(v, strlen(v), ms);
}

static void expect_ms(const char *v, uint64_t want)
{
    uint64_t ms;
    int rv = timeout(v, &ms);
    if (rv != 0) fail_msg("grpc-timeout \"%s\": rejected (%d)", v, rv);
    if (ms != want)
        fail_msg("grpc-timeout \"%s\": %llu ms, want %llu", v, (unsigned long long)ms,
                 (unsigned long long)want);
}

static void expect_rejected(const char *v)
{
    uint64_t ms;
    int rv = timeout(v, &ms);
    if (rv != UGRPC_EINVAL) fail_msg("grpc-timeout \"%s\": %d, want UGRPC_EINVAL", v, rv);
    if (ms != UNTOUCHED) fail_msg("grpc-timeout \"%s\": *ms changed on error", v);
}

static void test_timeout_units(void **state)
{
    (void)state;
    expect_ms("1H", 3600000);
    expect_ms("2H", 7200000);
    expect_ms("1M", 60000);
    expect_ms("3M", 180000);
    expect_ms("1S", 1000);
    expect_ms("15S", 15000);
    expect_ms("1m", 1);
    expect_ms("250m", 250);
    expect_ms("1000u", 1);
    expect_ms("5000000u", 5000);
    expect_ms("1000000n", 1);
    expect_ms("30000000n", 30);
    expect_ms("0H", 0);
    expect_ms("0S", 0);
    expect_ms("0m", 0);
}

static void test_timeout_rounds_up(void **state)
{
    (void)state;
    expect_ms("1u", 1);
    expect_ms("999u", 1);
    expect_ms("1001u", 2);
    expect_ms("1999u", 2);
    expect_ms("1n", 1);
    expect_ms("999999n", 1);
    expect_ms("1000001n", 2);
    expect_ms("99999999n", 100);
    /* Zero stays zero. */
    expect_ms("0u", 0);
    expect_ms("0n", 0);
}

static void test_timeout_digit_limit(void **state)
{
    (void)state;
    /* Eight digits is the maximum. */
    expect_ms("99999999m", 99999999);
    expect_ms("12345678S", 12345678000ull);
    expect_ms("99999999H", 99999999ull * 3600000ull);
    expect_ms("00000001S", 1000);
    /* Nine are rejected. */
    expect_rejected("123456789m");
    expect_rejected("100000000n");
    expect_rejected("000000001S");
    expect_rejected("1234567890H");
}

static void test_timeout_malformed(void **state)
{
    (void)state;
    expect_rejected("");   /* empty */
    expect_rejected("S");  /* unit without digits */
    expect_rejected("m");  /* unit without digits */
    expect_rejected("1");  /* missing unit */
    expect_rejected("10"); /* missing unit */
    expect_rejected("12345678");
    expect_rejected("10s"); /* bad unit */
    expect_rejected("10h");
    expect_rejected("10x");
    expect_rejected("10ms");
    expect_rejected("1 S"); /* non-digits */
    expect_rejected(" 1S");
    expect_rejected("-1S");
    expect_rejected("+1S");
    expect_rejected("1a0S");
    expect_rejected("1.5S");
    expect_rejected("0x10S");
    expect_rejected("1S ");
}

static void test_timeout_uses_len(void **state)
{
    (void)state;
    uint64_t ms = UNTOUCHED;
    assert_int_equal(ugrpc__parse_timeout("10Sjunk", 3, &ms), 0);
    assert_int_equal(ms, 10000);
    ms = UNTOUCHED;
    assert_int_equal(ugrpc__parse_timeout("10S", 2, &ms), UGRPC_EINVAL);
    assert_int_equal(ms, UNTOUCHED);
    /* An embedded NUL is not a digit. */
    assert_int_equal(ugrpc__parse_timeout("1\0S", 3, &ms), UGRPC_EINVAL);
    assert_int_equal(ms, UNTOUCHED);
}

static int ctype(const char *v)
{
    return ugrpc__is_grpc_content_type(v, strlen(v));
}

static void test_content_type(void **state)
{
    (void)state;
    assert_true(ctype("application/grpc"));
    assert_true(ctype("application/grpc+proto"));
    assert_true(ctype("application/grpc+json"));
    assert_true(ctype("application/grpc;charset=utf-8"));
    assert_true(ctype("application/grpc+proto;charset=utf-8"));

    assert_false(ctype("application/grpcx"));
    assert_false(ctype("application/grpc-web"));
    assert_false(ctype("application/json"));
    assert_false(ctype("application/grp"));
    assert_false(ctype("application/"));
    assert_false(ctype(""));
    assert_false(ctype("text/plain"));
    assert_false(ctype(" application/grpc"));
    assert_false(ctype("xapplication/grpc"));
    /* Only len bytes count. */
    assert_false(ugrpc__is_grpc_content_type("application/grpc", 15));
    assert_true(ugrpc__is_grpc_content_type("application/grpcxyz", 16));
}

static void test_metadata_names(void **state)
{
    (void)state;
    assert_true(ugrpc__valid_metadata_name("x-custom"));
    assert_true(ugrpc__valid_metadata_name("a"));
    assert_true(ugrpc__valid_metadata_name("abc_1.2-3"));
    assert_true(ugrpc__valid_metadata_name("trace-bin"));
    assert_true(ugrpc__valid_metadata_name("grpc")); /* not the reserved "grpc-" prefix */
    assert_true(ugrpc__valid_metadata_name("grpcx-thing"));
    assert_true(ugrpc__valid_metadata_name("my-grpc-thing"));
    assert_true(ugrpc__valid_metadata_name("0123456789"));

    assert_false(ugrpc__valid_metadata_name(NULL));
    assert_false(ugrpc__valid_metadata_name(""));
    assert_false(ugrpc__valid_metadata_name("grpc-status"));
    assert_false(ugrpc__valid_metadata_name("grpc-"));
    assert_false(ugrpc__valid_metadata_name("X-Upper"));
    assert_false(ugrpc__valid_metadata_name("x-Custom"));
    assert_false(ugrpc__valid_metadata_name(":path"));
    assert_false(ugrpc__valid_metadata_name("has space"));
    assert_false(ugrpc__valid_metadata_name("a:b"));
    assert_false(ugrpc__valid_metadata_name("a/b"));
    assert_false(ugrpc__valid_metadata_name("tab\there"));
    assert_false(ugrpc__valid_metadata_name("caf\xC3\xA9"));
}

static void test_metadata_values(void **state)
{
    (void)state;
    assert_true(ugrpc__valid_metadata_value("hello world", 11));
    assert_true(ugrpc__valid_metadata_value("", 0));
    assert_true(ugrpc__valid_metadata_value(" ~!", 3));
    const char printable[] = " !\"#$%&'()*+,-./09:;<=>?@AZ[\\]^_`az{|}~";
    assert_true(ugrpc__valid_metadata_value(printable, sizeof(printable) - 1));

    assert_false(ugrpc__valid_metadata_value("\t", 1));
    assert_false(ugrpc__valid_metadata_value("a\nb", 3));
    assert_false(ugrpc__valid_metadata_value("a\rb", 3));
    assert_false(ugrpc__valid_metadata_value("\x1f", 1));
    assert_false(ugrpc__valid_metadata_value("\x7f", 1));
    assert_false(ugrpc__valid_metadata_value("\x80", 1));
    assert_false(ugrpc__valid_metadata_value("caf\xC3\xA9", 5));
    assert_false(ugrpc__valid_metadata_value("a\0b", 3)); /* an embedded NUL */
    /* Only len bytes are checked. */
    assert_true(ugrpc__valid_metadata_value("ok\n", 2));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timeout_units),       cmocka_unit_test(test_timeout_rounds_up),
        cmocka_unit_test(test_timeout_digit_limit), cmocka_unit_test(test_timeout_malformed),
        cmocka_unit_test(test_timeout_uses_len),    cmocka_unit_test(test_content_type),
        cmocka_unit_test(test_metadata_names),      cmocka_unit_test(test_metadata_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
