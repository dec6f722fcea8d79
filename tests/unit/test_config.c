/* Unit tests for src/app/config.c: defaults, the four sources and their
 * precedence, and the errors. Each test runs in a fresh temporary directory
 * with every configuration variable removed from the environment. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "ugrpc.h"

/* Keys the tests set; every key the usage table lists is cleared as well. */
static const char *const config_keys[] = {
    "SERVER_HOST",
    "SERVER_PORT",
    "MAX_RECV_MSG_SIZE",
    "MAX_CONCURRENT_STREAMS",
    "MAX_CONNECTIONS",
    "MAX_HEADER_LIST_SIZE",
    "WORKER_QUEUE_MAX",
    "SHUTDOWN_GRACE",
    "STORE",
    "LOG_LEVEL",
    "LOG_FORMAT",
    "ENV_FILE",
    "TLS_CERT",
    "TLS_KEY",
    "TLS_CLIENT_CA",
    "KEEPALIVE_PERMIT_WITHOUT_STREAM",
};

static char orig_cwd[PATH_MAX];
static char tmp_dir[64];

/* Calls fn(key) for every key of the usage table ("  --flag  KEY  default ..."). */
static void for_each_usage_key(void (*fn)(const char *key, void *ud), void *ud)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (f == NULL) return;
    todo_config_usage(f);
    fclose(f);
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        char flag[128], key[128];
        int end = 0;
        if (sscanf(line, " --%127s %127s default %n", flag, key, &end) == 2 && end > 0) fn(key, ud);
    }
    free(text);
}

static void unset_key(const char *key, void *ud)
{
    (void)ud;
    unsetenv(key);
}

static void clear_environment(void)
{
    for (size_t i = 0; i < sizeof(config_keys) / sizeof(config_keys[0]); i++)
        unsetenv(config_keys[i]);
    for_each_usage_key(unset_key, NULL);
}

static int setup(void **state)
{
    (void)state;
    clear_environment();
    strcpy(tmp_dir, "/tmp/test_config_XXXXXX");
    if (mkdtemp(tmp_dir) == NULL) return -1;
    if (chdir(tmp_dir) != 0) return -1;
    return 0;
}

static const char *const tmp_files[] = {".env", "custom.env", "other.env"};

static int teardown(void **state)
{
    (void)state;
    clear_environment();
    for (size_t i = 0; i < sizeof(tmp_files) / sizeof(tmp_files[0]); i++)
        unlink(tmp_files[i]);
    if (chdir(orig_cwd) != 0) return -1;
    return rmdir(tmp_dir);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
}

static char err[512];

/* Runs todo_config_load on a NULL-terminated argument list (argv[0] added). */
static int load(todo_config *cfg, FILE *out, const char *const *args)
{
    char *argv[32];
    int argc = 0;
    argv[argc++] = (char *)"todo-api";
    for (; args != NULL && *args != NULL; args++) {
        assert_true(argc < 31);
        argv[argc++] = (char *)*args;
    }
    argv[argc] = NULL;
    memset(err, 0, sizeof(err));
    return todo_config_load(cfg, argc, argv, out != NULL ? out : stderr, err, sizeof(err));
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

static void load_ok(todo_config *cfg, const char *const *args)
{
    int rv = load(cfg, NULL, args);
    if (rv != TODO_CONFIG_OK) fail_msg("todo_config_load: %d: %s", rv, err);
}

/* Expects TODO_CONFIG_ERROR with a one-line message containing `needle`. */
static void load_error(const char *const *args, const char *needle)
{
    todo_config cfg;
    int rv = load(&cfg, NULL, args);
    if (rv != TODO_CONFIG_ERROR) fail_msg("todo_config_load: %d, want TODO_CONFIG_ERROR", rv);
    assert_true(strlen(err) > 0);
    if (strchr(err, '\n') != NULL) fail_msg("error message is not one line: \"%s\"", err);
    if (strstr(err, needle) == NULL) fail_msg("error \"%s\" does not name %s", err, needle);
}

static void test_defaults(void **state)
{
    (void)state;
    todo_config cfg;
    load_ok(&cfg, NULL);
    assert_string_equal(cfg.server_host, "0.0.0.0");
    assert_int_equal(cfg.server_port, 8000);
    assert_int_equal(cfg.max_recv_msg_size, 4194304);
    assert_int_equal(cfg.max_send_msg_size, 4194304);
    assert_int_equal(cfg.max_concurrent_streams, 100);
    assert_int_equal(cfg.max_header_list_size, 16384);
    assert_int_equal(cfg.max_connections, 10000);
    assert_int_equal(cfg.max_output_buffer, 262144);
    assert_int_equal(cfg.worker_queue_max, 1024);
    assert_int_equal(cfg.shutdown_grace_ms, 10000);
    assert_int_equal(cfg.keepalive_permit_without_stream, 0);
    assert_string_equal(cfg.tls_cert, "");
    assert_string_equal(cfg.tls_key, "");
    assert_int_equal(cfg.plaintext_port, 0);
    assert_string_equal(cfg.store, "memory");
    assert_int_equal(cfg.store_delay_ms, 0);
    assert_string_equal(cfg.log_level, "info");
    assert_string_equal(cfg.log_format, "text");
    assert_int_equal(cfg.env_file_found, 0);
    assert_string_equal(cfg.env_file, "");
}

static void test_precedence_dotenv_over_default(void **state)
{
    (void)state;
    write_file(".env", "SERVER_PORT=1111\n");
    todo_config cfg;
    load_ok(&cfg, NULL);
    assert_int_equal(cfg.server_port, 1111);
    assert_int_equal(cfg.env_file_found, 1);
    assert_string_equal(cfg.env_file, ".env");
}

static void test_precedence_environment_over_dotenv(void **state)
{
    (void)state;
    write_file(".env", "SERVER_PORT=1111\n");
    setenv("SERVER_PORT", "2222", 1);
    todo_config cfg;
    load_ok(&cfg, NULL);
    assert_int_equal(cfg.server_port, 2222);
}

static void test_precedence_flag_over_environment(void **state)
{
    (void)state;
    write_file(".env", "SERVER_PORT=1111\n");
    setenv("SERVER_PORT", "2222", 1);
    todo_config cfg;
    load_ok(&cfg, ARGS("--port=3333"));
    assert_int_equal(cfg.server_port, 3333);
    /* Without the file the order is the same. */
    unlink(".env");
    load_ok(&cfg, ARGS("--port", "4444"));
    assert_int_equal(cfg.server_port, 4444);
    load_ok(&cfg, NULL);
    assert_int_equal(cfg.server_port, 2222);
}

static void test_sources_mixed_per_key(void **state)
{
    (void)state;
    write_file(".env", "SERVER_PORT=1111\nMAX_CONNECTIONS=5\nLOG_LEVEL=warn\n");
    setenv("MAX_CONNECTIONS", "6", 1);
    setenv("LOG_FORMAT", "json", 1);
    todo_config cfg;
    load_ok(&cfg, ARGS("--log-level", "debug"));
    assert_int_equal(cfg.server_port, 1111);      /* .env */
    assert_int_equal(cfg.max_connections, 6);     /* environment over .env */
    assert_string_equal(cfg.log_format, "json");  /* environment */
    assert_string_equal(cfg.log_level, "debug");  /* flag over .env */
    assert_int_equal(cfg.worker_queue_max, 1024); /* default */
}

static void test_port_flag_forms(void **state)
{
    (void)state;
    todo_config cfg;
    load_ok(&cfg, ARGS("--port=9"));
    assert_int_equal(cfg.server_port, 9);
    load_ok(&cfg, ARGS("--port", "9"));
    assert_int_equal(cfg.server_port, 9);
    load_ok(&cfg, ARGS("--port=0"));
    assert_int_equal(cfg.server_port, 0);
    load_ok(&cfg, ARGS("--port", "65535"));
    assert_int_equal(cfg.server_port, 65535);
    /* The last occurrence wins. */
    load_ok(&cfg, ARGS("--port=1", "--port=2"));
    assert_int_equal(cfg.server_port, 2);
}

static void test_other_flags(void **state)
{
    (void)state;
    todo_config cfg;
    load_ok(&cfg, ARGS("--host", "127.0.0.1", "--max-recv-msg-size=1KiB", "--max-send-msg-size",
                       "2048", "--max-concurrent-streams=7", "--shutdown-grace", "0",
                       "--store-delay-ms=25", "--log-format=json"));
    assert_string_equal(cfg.server_host, "127.0.0.1");
    assert_int_equal(cfg.max_recv_msg_size, 1024);
    assert_int_equal(cfg.max_send_msg_size, 2048);
    assert_int_equal(cfg.max_concurrent_streams, 7);
    assert_int_equal(cfg.shutdown_grace_ms, 0);
    assert_int_equal(cfg.store_delay_ms, 25);
    assert_string_equal(cfg.log_format, "json");
}

static void test_env_file_flag(void **state)
{
    (void)state;
    write_file(".env", "SERVER_PORT=1111\n");
    write_file("custom.env", "SERVER_PORT=5555\n");
    todo_config cfg;
    load_ok(&cfg, ARGS("--env-file", "custom.env"));
    assert_int_equal(cfg.server_port, 5555);
    assert_int_equal(cfg.env_file_found, 1);
    assert_string_equal(cfg.env_file, "custom.env");
    load_ok(&cfg, ARGS("--env-file=custom.env"));
    assert_int_equal(cfg.server_port, 5555);
}

static void test_env_file_variable(void **state)
{
    (void)state;
    write_file(".env", "SERVER_PORT=1111\n");
    write_file("other.env", "SERVER_PORT=6666\n");
    write_file("custom.env", "SERVER_PORT=7777\n");
    setenv("ENV_FILE", "other.env", 1);
    todo_config cfg;
    load_ok(&cfg, NULL);
    assert_int_equal(cfg.server_port, 6666);
    assert_string_equal(cfg.env_file, "other.env");
    /* The flag beats ENV_FILE. */
    load_ok(&cfg, ARGS("--env-file", "custom.env"));
    assert_int_equal(cfg.server_port, 7777);
}

static void test_env_file_missing_is_error(void **state)
{
    (void)state;
    load_error(ARGS("--env-file", "does-not-exist.env"), "ENV_FILE");
    assert_non_null(strstr(err, "does-not-exist.env"));
    setenv("ENV_FILE", "also-missing.env", 1);
    load_error(NULL, "ENV_FILE");
    assert_non_null(strstr(err, "also-missing.env"));
}

static void test_env_file_parse_error(void **state)
{
    (void)state;
    write_file(".env", "SERVER_PORT=1\nthis is not a pair\n");
    load_error(NULL, "ENV_FILE");
    assert_non_null(strstr(err, "line 2"));
}

static void test_dotenv_values_validated(void **state)
{
    (void)state;
    write_file(".env", "SERVER_PORT=abc\n");
    load_error(NULL, "SERVER_PORT");
}

static void test_bad_port(void **state)
{
    (void)state;
    setenv("SERVER_PORT", "abc", 1);
    load_error(NULL, "SERVER_PORT");
    setenv("SERVER_PORT", "70000", 1);
    load_error(NULL, "SERVER_PORT");
    setenv("SERVER_PORT", "65536", 1);
    load_error(NULL, "SERVER_PORT");
    setenv("SERVER_PORT", "-1", 1);
    load_error(NULL, "SERVER_PORT");
    setenv("SERVER_PORT", "", 1);
    load_error(NULL, "SERVER_PORT");
    setenv("SERVER_PORT", "80x", 1);
    load_error(NULL, "SERVER_PORT");
    setenv("SERVER_PORT", "99999999999999999999999", 1);
    load_error(NULL, "SERVER_PORT");
    unsetenv("SERVER_PORT");
    /* A bad flag value names the key too. */
    load_error(ARGS("--port=abc"), "SERVER_PORT");
    load_error(ARGS("--port", "-1"), "SERVER_PORT");
}

static void test_sizes(void **state)
{
    (void)state;
    todo_config cfg;
    setenv("MAX_RECV_MSG_SIZE", "4MiB", 1);
    load_ok(&cfg, NULL);
    assert_int_equal(cfg.max_recv_msg_size, 4194304);
    setenv("MAX_RECV_MSG_SIZE", "4M", 1);
    load_ok(&cfg, NULL);
    assert_int_equal(cfg.max_recv_msg_size, 4194304);
    setenv("MAX_RECV_MSG_SIZE", "4MB", 1);
    load_ok(&cfg, NULL);
    assert_int_equal(cfg.max_recv_msg_size, 4194304);
    setenv("MAX_RECV_MSG_SIZE", "16KiB", 1);
    load_ok(&cfg, NULL);
    assert_int_equal(cfg.max_recv_msg_size, 16384);
    setenv("MAX_RECV_MSG_SIZE", "1GiB", 1);
    load_ok(&cfg, NULL);
    assert_int_equal(cfg.max_recv_msg_size, 1073741824);
    setenv("MAX_RECV_MSG_SIZE", "12345", 1);
    load_ok(&cfg, NULL);
    assert_int_equal(cfg.max_recv_msg_size, 12345);

    const char *const bad[] = {"4XB", "4MiBs", "4 MiB", "MiB", "", "0", "2GiB", "-4MiB", "4.5MiB"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        setenv("MAX_RECV_MSG_SIZE", bad[i], 1);
        load_error(NULL, "MAX_RECV_MSG_SIZE");
    }
}

static void test_log_level(void **state)
{
    (void)state;
    todo_config cfg;
    const char *const good[] = {"error", "warn", "info", "debug"};
    for (size_t i = 0; i < 4; i++) {
        setenv("LOG_LEVEL", good[i], 1);
        load_ok(&cfg, NULL);
        assert_string_equal(cfg.log_level, good[i]);
    }
    setenv("LOG_LEVEL", "verbose", 1);
    load_error(NULL, "LOG_LEVEL");
    setenv("LOG_LEVEL", "INFO", 1);
    load_error(NULL, "LOG_LEVEL");
    setenv("LOG_LEVEL", "inf", 1);
    load_error(NULL, "LOG_LEVEL");
    setenv("LOG_LEVEL", "", 1);
    load_error(NULL, "LOG_LEVEL");
    unsetenv("LOG_LEVEL");
    load_error(ARGS("--log-level=verbose"), "LOG_LEVEL");
    setenv("LOG_FORMAT", "xml", 1);
    load_error(NULL, "LOG_FORMAT");
}

static void test_unknown_flag(void **state)
{
    (void)state;
    load_error(ARGS("--nope=1"), "--nope");
    load_error(ARGS("--nope", "1"), "--nope");
    load_error(ARGS("--SERVER_PORT=1"), "--SERVER_PORT");
    load_error(ARGS("positional"), "positional");
    load_error(ARGS("-p", "9"), "-p");
}

static void test_flag_missing_value(void **state)
{
    (void)state;
    load_error(ARGS("--port"), "--port");
    assert_non_null(strstr(err, "value"));
    load_error(ARGS("--host=::1", "--env-file"), "--env-file");
}

static char *read_all(FILE *f)
{
    assert_int_equal(fflush(f), 0);
    long n = ftell(f);
    assert_true(n >= 0);
    rewind(f);
    char *buf = calloc(1, (size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    return buf;
}

static void count_key(const char *key, void *ud)
{
    (void)key;
    ++*(size_t *)ud;
}

static void test_help(void **state)
{
    (void)state;
    const char *const forms[] = {"--help", "-h"};
    for (size_t i = 0; i < 2; i++) {
        FILE *out = tmpfile();
        assert_non_null(out);
        todo_config cfg;
        assert_int_equal(load(&cfg, out, ARGS(forms[i])), TODO_CONFIG_EXIT);
        char *text = read_all(out);
        fclose(out);
        assert_non_null(strstr(text, "usage:"));
        assert_non_null(strstr(text, "--env-file"));
        const char *const must[] = {"SERVER_HOST",       "SERVER_PORT", "--port",
                                    "MAX_RECV_MSG_SIZE", "LOG_LEVEL",   "error|warn|info|debug",
                                    "LOG_FORMAT",        "STORE"};
        for (size_t k = 0; k < sizeof(must) / sizeof(must[0]); k++)
            if (strstr(text, must[k]) == NULL) fail_msg("--help omits %s", must[k]);
        free(text);
    }
    /* Every key has its line in the table. */
    size_t keys = 0;
    for_each_usage_key(count_key, &keys);
    assert_true(keys >= 14);
    /* --help wins over values that would be errors, and stops early. */
    FILE *out = tmpfile();
    assert_non_null(out);
    todo_config cfg;
    assert_int_equal(load(&cfg, out, ARGS("--help", "--port=abc")), TODO_CONFIG_EXIT);
    fclose(out);
}

static void test_version(void **state)
{
    (void)state;
    FILE *out = tmpfile();
    assert_non_null(out);
    todo_config cfg;
    assert_int_equal(load(&cfg, out, ARGS("--version")), TODO_CONFIG_EXIT);
    char *text = read_all(out);
    fclose(out);
    assert_string_equal(text, "todo-api " UGRPC_VERSION "\n");
    free(text);
}

static void test_empty_host_means_any(void **state)
{
    (void)state;
    todo_config cfg;
    setenv("SERVER_HOST", "", 1);
    load_ok(&cfg, NULL);
    assert_string_equal(cfg.server_host, "0.0.0.0");
    unsetenv("SERVER_HOST");
    load_ok(&cfg, ARGS("--host="));
    assert_string_equal(cfg.server_host, "0.0.0.0");
    write_file(".env", "SERVER_HOST=\n");
    load_ok(&cfg, NULL);
    assert_string_equal(cfg.server_host, "0.0.0.0");
    load_ok(&cfg, ARGS("--host", "::1"));
    assert_string_equal(cfg.server_host, "::1");
}

static void test_host_too_long(void **state)
{
    (void)state;
    char host[200];
    memset(host, '1', sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    setenv("SERVER_HOST", host, 1);
    load_error(NULL, "SERVER_HOST");
}

static void test_limits_ranges(void **state)
{
    (void)state;
    todo_config cfg;
    setenv("MAX_CONCURRENT_STREAMS", "0", 1);
    load_error(NULL, "MAX_CONCURRENT_STREAMS");
    setenv("MAX_CONCURRENT_STREAMS", "1", 1);
    load_ok(&cfg, NULL);
    assert_int_equal(cfg.max_concurrent_streams, 1);
    setenv("MAX_CONNECTIONS", "0", 1);
    load_ok(&cfg, NULL);
    assert_int_equal(cfg.max_connections, 0);
    setenv("MAX_HEADER_LIST_SIZE", "1023", 1);
    load_error(NULL, "MAX_HEADER_LIST_SIZE");
    setenv("MAX_HEADER_LIST_SIZE", "1KiB", 1);
    load_ok(&cfg, NULL);
    assert_int_equal(cfg.max_header_list_size, 1024);
    setenv("WORKER_QUEUE_MAX", "0", 1);
    load_error(NULL, "WORKER_QUEUE_MAX");
    unsetenv("WORKER_QUEUE_MAX");
    setenv("STORE", "no-such-store", 1);
    load_error(NULL, "STORE");
}

static void test_durations(void **state)
{
    (void)state;
    todo_config cfg;
    const struct {
        const char *v;
        uint64_t ms;
    } good[] = {{"500ms", 500},  {"10s", 10000}, {"1m", 60000},
                {"1h", 3600000}, {"0", 0},       {"0s", 0}};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        setenv("SHUTDOWN_GRACE", good[i].v, 1);
        load_ok(&cfg, NULL);
        assert_int_equal(cfg.shutdown_grace_ms, good[i].ms);
    }
    const char *const bad[] = {"10", "5x", "s", "", "-1s", "1.5s", "10 s", "2h"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        setenv("SHUTDOWN_GRACE", bad[i], 1);
        load_error(NULL, "SHUTDOWN_GRACE");
    }
    unsetenv("SHUTDOWN_GRACE");
    load_ok(&cfg, ARGS("--shutdown-grace=250ms"));
    assert_int_equal(cfg.shutdown_grace_ms, 250);
}

static void test_booleans(void **state)
{
    (void)state;
    todo_config cfg;
    const char *const truthy[] = {"true", "1"}, *const falsy[] = {"false", "0"};
    for (size_t i = 0; i < 2; i++) {
        setenv("KEEPALIVE_PERMIT_WITHOUT_STREAM", truthy[i], 1);
        load_ok(&cfg, NULL);
        assert_int_equal(cfg.keepalive_permit_without_stream, 1);
        setenv("KEEPALIVE_PERMIT_WITHOUT_STREAM", falsy[i], 1);
        load_ok(&cfg, NULL);
        assert_int_equal(cfg.keepalive_permit_without_stream, 0);
    }
    setenv("KEEPALIVE_PERMIT_WITHOUT_STREAM", "yes", 1);
    load_error(NULL, "KEEPALIVE_PERMIT_WITHOUT_STREAM");
}

static void test_tls_pairing(void **state)
{
    (void)state;
    todo_config cfg;
    setenv("TLS_CERT", "cert.pem", 1);
    load_error(NULL, "TLS_KEY");
    unsetenv("TLS_CERT");
    setenv("TLS_KEY", "key.pem", 1);
    load_error(NULL, "TLS_CERT");
    setenv("TLS_CERT", "cert.pem", 1);
    load_ok(&cfg, NULL);
    assert_string_equal(cfg.tls_cert, "cert.pem");
    assert_string_equal(cfg.tls_key, "key.pem");
    unsetenv("TLS_CERT");
    unsetenv("TLS_KEY");
    setenv("TLS_CLIENT_CA", "ca.pem", 1);
    load_error(NULL, "TLS_CLIENT_CA");
}

static int group_setup(void **state)
{
    (void)state;
    return getcwd(orig_cwd, sizeof(orig_cwd)) != NULL ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_defaults),
        T(test_precedence_dotenv_over_default),
        T(test_precedence_environment_over_dotenv),
        T(test_precedence_flag_over_environment),
        T(test_sources_mixed_per_key),
        T(test_port_flag_forms),
        T(test_other_flags),
        T(test_env_file_flag),
        T(test_env_file_variable),
        T(test_env_file_missing_is_error),
        T(test_env_file_parse_error),
        T(test_dotenv_values_validated),
        T(test_bad_port),
        T(test_sizes),
        T(test_log_level),
        T(test_unknown_flag),
        T(test_flag_missing_value),
        T(test_help),
        T(test_version),
        T(test_empty_host_means_any),
        T(test_host_too_long),
        T(test_limits_ranges),
        T(test_durations),
        T(test_booleans),
        T(test_tls_pairing),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
