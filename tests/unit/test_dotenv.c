/* Unit tests for src/app/dotenv.c: godotenv-compatible .env parsing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "dotenv.h"

/* Parses text that must be valid; the env is in *state. */
static todo_env *parse_ok(void **state, const char *text)
{
    todo_env *env = *state;
    char err[128] = "";
    int rv = todo_dotenv_parse(text, strlen(text), env, err, sizeof(err));
    if (rv != 0) fail_msg("parse failed (%d): %s", rv, err);
    return env;
}

static void expect(const todo_env *env, const char *key, const char *want)
{
    const char *got = todo_env_get(env, key);
    if (got == NULL) fail_msg("%s: missing, want \"%s\"", key, want);
    if (strcmp(got, want) != 0) fail_msg("%s: \"%s\", want \"%s\"", key, got, want);
}

static int setup_env(void **state)
{
    todo_env *env = calloc(1, sizeof(*env));
    if (env == NULL) return -1;
    *state = env;
    return 0;
}

static int teardown_env(void **state)
{
    todo_env_free(*state);
    free(*state);
    return 0;
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup_env, teardown_env)

static void test_key_value(void **state)
{
    todo_env *env = parse_ok(state, "KEY=VALUE\nA=1\nmy.key-2_x=ok\n");
    assert_int_equal(env->count, 3);
    expect(env, "KEY", "VALUE");
    expect(env, "A", "1");
    expect(env, "my.key-2_x", "ok");
    assert_null(todo_env_get(env, "B"));
    assert_null(todo_env_get(env, "key")); /* keys are case-sensitive */
}

static void test_no_trailing_newline_and_empty_value(void **state)
{
    todo_env *env = parse_ok(state, "A=\nB=last");
    assert_int_equal(env->count, 2);
    expect(env, "A", "");
    expect(env, "B", "last");
}

static void test_value_with_equals(void **state)
{
    todo_env *env = parse_ok(state, "URL=postgres://u:p@h/db?x=1&y=2\n");
    expect(env, "URL", "postgres://u:p@h/db?x=1&y=2");
}

static void test_export_prefix(void **state)
{
    todo_env *env = parse_ok(state, "export KEY=V\nexport\tTAB=t\nexport   MANY=m\n");
    expect(env, "KEY", "V");
    expect(env, "TAB", "t");
    expect(env, "MANY", "m");
    assert_null(todo_env_get(env, "export"));
    assert_null(todo_env_get(env, "export KEY"));
}

static void test_export_like_key(void **state)
{
    /* "exporter" is a key, not "export" + "er". */
    todo_env *env = parse_ok(state, "exporter=1\nexport=2\n");
    expect(env, "exporter", "1");
    expect(env, "export", "2");
}

static void test_spaces_around_equals(void **state)
{
    todo_env *env = parse_ok(state, "A = 1\nB=  two  \n  C\t=\tthree\t\n");
    expect(env, "A", "1");
    expect(env, "B", "two");
    expect(env, "C", "three");
}

static void test_colon_separator(void **state)
{
    todo_env *env = parse_ok(state, "KEY: V\nOTHER:x\n");
    expect(env, "KEY", "V");
    expect(env, "OTHER", "x");
}

static void test_whole_line_comments(void **state)
{
    todo_env *env = parse_ok(state, "# a comment\nA=1\n   # indented comment\n#B=2\n\n\n");
    assert_int_equal(env->count, 1);
    expect(env, "A", "1");
    assert_null(todo_env_get(env, "B"));
}

static void test_inline_comments(void **state)
{
    todo_env *env = parse_ok(state, "A=b #c\n"
                                    "B=b\t# tab comment\n"
                                    "C=b#c\n"
                                    "D=x # y # z\n"
                                    "E=url#frag more\n");
    expect(env, "A", "b");
    expect(env, "B", "b");
    expect(env, "C", "b#c"); /* no whitespace before '#': part of the value */
    expect(env, "D", "x");
    expect(env, "E", "url#frag more");
}

static void test_single_quotes_literal(void **state)
{
    setenv("TODO_DOTENV_TEST_HOME", "/home/x", 1);
    todo_env *env = parse_ok(state, "A=v\n"
                                    "S='x\\ny $TODO_DOTENV_TEST_HOME ${A} \"q\"'\n"
                                    "H='has # hash'\n"
                                    "E=''\n"
                                    "C='c' # comment\n");
    expect(env, "S", "x\\ny $TODO_DOTENV_TEST_HOME ${A} \"q\"");
    expect(env, "H", "has # hash");
    expect(env, "E", "");
    expect(env, "C", "c");
    unsetenv("TODO_DOTENV_TEST_HOME");
}

static void test_double_quotes_escapes(void **state)
{
    todo_env *env = parse_ok(state, "A=\"a\\nb\\tc\\\"d\\\\e\"\n"
                                    "R=\"cr\\rlf\"\n"
                                    "D=\"\\$NOT_EXPANDED\"\n"
                                    "H=\"has # hash\" # comment\n"
                                    "S=\"  spaces kept  \"\n");
    expect(env, "A", "a\nb\tc\"d\\e");
    expect(env, "R", "cr\rlf");
    expect(env, "D", "$NOT_EXPANDED");
    expect(env, "H", "has # hash");
    expect(env, "S", "  spaces kept  ");
}

static void test_double_quotes_multiline(void **state)
{
    todo_env *env = parse_ok(state, "KEY=\"line one\nline two\n\nline four\"\nNEXT=1\n");
    expect(env, "KEY", "line one\nline two\n\nline four");
    expect(env, "NEXT", "1");
    assert_int_equal(env->count, 2);
}

static void test_single_quotes_multiline(void **state)
{
    todo_env *env = parse_ok(state, "KEY='a\nb'\nNEXT=2\n");
    expect(env, "KEY", "a\nb");
    expect(env, "NEXT", "2");
}

static void test_expansion_from_earlier_keys(void **state)
{
    todo_env *env = parse_ok(state, "A=hello\n"
                                    "B=${A} world\n"
                                    "C=$A-x\n"
                                    "D=\"$A and ${B}\"\n"
                                    "E=${A}${A}\n"
                                    "F=pre$A\n");
    expect(env, "B", "hello world");
    expect(env, "C", "hello-x");
    expect(env, "D", "hello and hello world");
    expect(env, "E", "hellohello");
    expect(env, "F", "prehello");
}

static void test_expansion_from_process_environment(void **state)
{
    setenv("TODO_DOTENV_TEST_VAR", "from-env", 1);
    setenv("TODO_DOTENV_TEST_SHADOW", "process", 1);
    unsetenv("TODO_DOTENV_TEST_UNSET");
    todo_env *env = parse_ok(state, "A=${TODO_DOTENV_TEST_VAR}\n"
                                    "B=\"$TODO_DOTENV_TEST_VAR!\"\n"
                                    "TODO_DOTENV_TEST_SHADOW=file\n"
                                    "C=$TODO_DOTENV_TEST_SHADOW\n"
                                    "D=[${TODO_DOTENV_TEST_UNSET}]\n");
    expect(env, "A", "from-env");
    expect(env, "B", "from-env!");
    /* An earlier key of the file wins over the process environment. */
    expect(env, "C", "file");
    /* An unset variable expands to nothing. */
    expect(env, "D", "[]");
    unsetenv("TODO_DOTENV_TEST_VAR");
    unsetenv("TODO_DOTENV_TEST_SHADOW");
}

static void test_expansion_only_from_earlier_keys(void **state)
{
    unsetenv("TODO_DOTENV_LATER");
    todo_env *env = parse_ok(state, "A=[$TODO_DOTENV_LATER]\nTODO_DOTENV_LATER=x\n");
    expect(env, "A", "[]");
}

static void test_not_references(void **state)
{
    todo_env *env = parse_ok(state, "A=$\n"
                                    "B=cost 5$\n"
                                    "C=${unterminated\n"
                                    "D=${}\n"
                                    "E=$-x\n");
    expect(env, "A", "$");
    expect(env, "B", "cost 5$");
    expect(env, "C", "${unterminated");
    expect(env, "D", "${}");
    expect(env, "E", "$-x");
}

static void test_duplicates_later_wins(void **state)
{
    todo_env *env = parse_ok(state, "A=1\nB=x\nA=2\nA=3\n");
    assert_int_equal(env->count, 2);
    expect(env, "A", "3");
    expect(env, "B", "x");
    /* A second parse into the same env replaces too. */
    env = parse_ok(state, "A=4\nC=c\n");
    assert_int_equal(env->count, 3);
    expect(env, "A", "4");
    expect(env, "C", "c");
}

static void test_crlf(void **state)
{
    todo_env *env = parse_ok(state, "# comment\r\nA=1\r\nB=two words\r\nC=\"q\"\r\n"
                                    "D='s'\r\nE=x #c\r\n\r\nF=last\r\n");
    assert_int_equal(env->count, 6);
    expect(env, "A", "1");
    expect(env, "B", "two words");
    expect(env, "C", "q");
    expect(env, "D", "s");
    expect(env, "E", "x");
    expect(env, "F", "last");
}

static void test_many_keys(void **state)
{
    char text[8192] = "";
    size_t off = 0;
    for (int i = 0; i < 100; i++)
        off += (size_t)snprintf(text + off, sizeof(text) - off, "K%d=v%d\n", i, i * 3);
    todo_env *env = parse_ok(state, text);
    assert_int_equal(env->count, 100);
    char key[16], want[16];
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof(key), "K%d", i);
        snprintf(want, sizeof(want), "v%d", i * 3);
        expect(env, key, want);
    }
}

static void test_empty_input(void **state)
{
    todo_env *env = *state;
    char err[64] = "unchanged";
    assert_int_equal(todo_dotenv_parse("", 0, env, err, sizeof(err)), 0);
    assert_int_equal(env->count, 0);
    env = parse_ok(state, "\n\n   \n\t\n# only comments\n");
    assert_int_equal(env->count, 0);
    assert_null(todo_env_get(env, "A"));
}

/* Parses text that must fail; returns the message. */
static const char *parse_err(void **state, const char *text)
{
    static char err[256];
    memset(err, 0, sizeof(err));
    int rv = todo_dotenv_parse(text, strlen(text), *state, err, sizeof(err));
    if (rv != -1) fail_msg("parse of \"%s\" returned %d, want -1", text, rv);
    assert_null(strchr(err, '\n'));
    return err;
}

static void test_error_expected_key_value(void **state)
{
    assert_string_equal(parse_err(state, "A=1\nB=2\nnot a pair\nC=3\n"),
                        "line 3: expected KEY=VALUE");
    /* Entries before the error are kept. */
    todo_env *env = *state;
    expect(env, "A", "1");
    expect(env, "B", "2");
    assert_null(todo_env_get(env, "C"));

    assert_string_equal(parse_err(state, "=value\n"), "line 1: expected KEY=VALUE");
    assert_string_equal(parse_err(state, "JUSTAKEY\n"), "line 1: expected KEY=VALUE");
    assert_string_equal(parse_err(state, "# c\n\nJUSTAKEY"), "line 3: expected KEY=VALUE");
    assert_string_equal(parse_err(state, "A=1\r\nB\r\n"), "line 2: expected KEY=VALUE");
    /* Line numbers count the lines inside a multi-line value. */
    assert_string_equal(parse_err(state, "A=\"x\ny\nz\"\nB=1\nbad\n"),
                        "line 5: expected KEY=VALUE");
}

static void test_error_unterminated_quote(void **state)
{
    const char *e = parse_err(state, "A=1\nB=\"abc\n");
    assert_true(strncmp(e, "line ", 5) == 0);
    assert_non_null(strstr(e, "unterminated"));
    /* The line named is the one where the quoted value starts. */
    assert_string_equal(parse_err(state, "A=1\nB=\"abc\nC=2\nD=3\n"),
                        "line 2: unterminated quoted value");
    assert_string_equal(parse_err(state, "A=1\n\nB='abc\nC=2\n"),
                        "line 3: unterminated quoted value");
    e = parse_err(state, "A='abc");
    assert_true(strncmp(e, "line 1: ", 8) == 0);
    assert_non_null(strstr(e, "unterminated"));
    /* An escaped quote does not close the value. */
    e = parse_err(state, "A=\"abc\\\"");
    assert_non_null(strstr(e, "unterminated"));
    assert_null(todo_env_get(*state, "B"));
}

static void test_error_text_after_quote(void **state)
{
    const char *e = parse_err(state, "A=1\nB=\"x\" y\n");
    assert_true(strncmp(e, "line 2: ", 8) == 0);
}

/* Each line doubles A: without a bound, 40 lines would ask for 2^40 bytes. */
static void test_error_expansion_too_long(void **state)
{
    char text[1024] = "A=xxxxxxxxxxxxxxxx\n"; /* 16 bytes */
    for (int i = 0; i < 40; i++)
        strcat(text, "A=$A${A}\n");
    /* 16 << 12 = 65536 is allowed (line 13); line 14 would make 131072. */
    assert_string_equal(parse_err(state, text),
                        "line 14: value longer than 65536 bytes (after expansion)");
    const char *a = todo_env_get(*state, "A");
    assert_non_null(a);
    assert_int_equal(strlen(a), TODO_DOTENV_MAX_VALUE);
}

static void test_error_message_truncated(void **state)
{
    char err[8];
    memset(err, 'x', sizeof(err));
    const char *text = "A=1\nbad\n";
    assert_int_equal(todo_dotenv_parse(text, strlen(text), *state, err, sizeof(err)), -1);
    assert_string_equal(err, "line 2:");
}

/* ---- files -------------------------------------------------------------- */

static void test_load_missing_file(void **state)
{
    todo_env *env = *state;
    char err[256] = "";
    assert_int_equal(todo_dotenv_load("/nonexistent-dir-for-tests/.env", env, err, sizeof(err)), 1);
    assert_int_equal(env->count, 0);
    assert_null(env->items);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
}

static void test_load_temp_file(void **state)
{
    todo_env *env = *state;
    char path[] = "/tmp/test_dotenv_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    write_file(path, "# settings\nexport SERVER_PORT=9000\nLOG_LEVEL = debug # verbose\n"
                     "MSG=\"multi\nline\"\n");
    char err[256] = "";
    int rv = todo_dotenv_load(path, env, err, sizeof(err));
    if (rv != 0) {
        unlink(path);
        fail_msg("load: %d %s", rv, err);
    }
    assert_int_equal(env->count, 3);
    expect(env, "SERVER_PORT", "9000");
    expect(env, "LOG_LEVEL", "debug");
    expect(env, "MSG", "multi\nline");

    /* A parse error names the file and the line. */
    write_file(path, "A=1\noops\n");
    todo_env_free(env);
    rv = todo_dotenv_load(path, env, err, sizeof(err));
    assert_int_equal(rv, -1);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "line 2"));

    /* An empty file is fine. */
    write_file(path, "");
    todo_env_free(env);
    assert_int_equal(todo_dotenv_load(path, env, err, sizeof(err)), 0);
    assert_int_equal(env->count, 0);
    unlink(path);
}

static void test_load_directory_is_error(void **state)
{
    todo_env *env = *state;
    char err[256] = "";
    assert_int_equal(todo_dotenv_load("/tmp", env, err, sizeof(err)), -1);
    assert_true(strlen(err) > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_key_value),
        T(test_no_trailing_newline_and_empty_value),
        T(test_value_with_equals),
        T(test_export_prefix),
        T(test_export_like_key),
        T(test_spaces_around_equals),
        T(test_colon_separator),
        T(test_whole_line_comments),
        T(test_inline_comments),
        T(test_single_quotes_literal),
        T(test_double_quotes_escapes),
        T(test_double_quotes_multiline),
        T(test_single_quotes_multiline),
        T(test_expansion_from_earlier_keys),
        T(test_expansion_from_process_environment),
        T(test_expansion_only_from_earlier_keys),
        T(test_not_references),
        T(test_duplicates_later_wins),
        T(test_crlf),
        T(test_many_keys),
        T(test_empty_input),
        T(test_error_expected_key_value),
        T(test_error_unterminated_quote),
        T(test_error_text_after_quote),
        T(test_error_expansion_too_long),
        T(test_error_message_truncated),
        T(test_load_missing_file),
        T(test_load_temp_file),
        T(test_load_directory_is_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
