/* todo-api configuration: one table, four sources. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dotenv.h"
#include "ugrpc.h"

typedef enum { T_STR, T_UINT, T_SIZE, T_ENUM, T_DURATION, T_BOOL } key_type;

typedef struct key_def {
    const char *key;  /* environment / .env name */
    const char *flag; /* --flag */
    key_type type;
    const char *def;
    uint64_t min, max;   /* for T_UINT and T_SIZE */
    const char *choices; /* for T_ENUM: "a|b|c" */
    size_t offset, size; /* where the value goes in todo_config */
    const char *help;
} key_def;

#define OFF(f) offsetof(todo_config, f), sizeof(((todo_config *)0)->f)

static const key_def keys[] = {
    {"SERVER_HOST", "host", T_STR, "0.0.0.0", 0, 0, NULL, OFF(server_host),
     "numeric IPv4 or IPv6 address to listen on (\"\" means 0.0.0.0)"},
    {"SERVER_PORT", "port", T_UINT, "8000", 0, 65535, NULL, OFF(server_port),
     "TCP port for gRPC (h2c); 0 picks a free port"},
    {"TLS_CERT", "tls-cert", T_STR, "", 0, 0, NULL, OFF(tls_cert),
     "PEM certificate chain; with TLS_KEY, SERVER_PORT speaks TLS (ALPN h2)"},
    {"TLS_KEY", "tls-key", T_STR, "", 0, 0, NULL, OFF(tls_key), "PEM private key for TLS_CERT"},
    {"TLS_CLIENT_CA", "tls-client-ca", T_STR, "", 0, 0, NULL, OFF(tls_client_ca),
     "PEM CA bundle; when set, clients must present a certificate it signed (mTLS)"},
    {"PLAINTEXT_PORT", "plaintext-port", T_UINT, "0", 0, 65535, NULL, OFF(plaintext_port),
     "with TLS on, also serve h2c on this port (for Kubernetes gRPC probes); 0: off"},
    {"ADMIN_PORT", "admin-port", T_UINT, "0", 0, 65535, NULL, OFF(admin_port),
     "HTTP port for /metrics (Prometheus), /healthz and /readyz on SERVER_HOST; 0: off"},
    {"MAX_RECV_MSG_SIZE", "max-recv-msg-size", T_SIZE, "4MiB", 1, 1u << 30, NULL,
     OFF(max_recv_msg_size), "largest request message (bytes, or with KiB/MiB)"},
    {"MAX_SEND_MSG_SIZE", "max-send-msg-size", T_SIZE, "4MiB", 1, 1u << 30, NULL,
     OFF(max_send_msg_size), "largest response message"},
    {"MAX_CONCURRENT_STREAMS", "max-concurrent-streams", T_UINT, "100", 1, 1u << 20, NULL,
     OFF(max_concurrent_streams), "concurrent calls per connection"},
    {"MAX_HEADER_LIST_SIZE", "max-header-list-size", T_SIZE, "16KiB", 1024, 1u << 20, NULL,
     OFF(max_header_list_size), "request header block limit"},
    {"MAX_CONNECTIONS", "max-connections", T_UINT, "10000", 0, 1u << 24, NULL, OFF(max_connections),
     "open connections at once (0: no limit)"},
    {"MAX_OUTPUT_BUFFER", "max-output-buffer", T_SIZE, "256KiB", 16384, 1u << 30, NULL,
     OFF(max_output_buffer), "output buffered per connection before backpressure"},
    {"WORKER_QUEUE_MAX", "worker-queue-max", T_UINT, "1024", 1, 1u << 20, NULL,
     OFF(worker_queue_max), "jobs queued on the worker pool before RESOURCE_EXHAUSTED"},
    {"SHUTDOWN_GRACE", "shutdown-grace", T_DURATION, "10s", 0, 3600000, NULL,
     OFF(shutdown_grace_ms), "time calls in flight get to finish on SIGTERM (e.g. 500ms, 10s, 1m)"},
    {"DRAIN_DELAY", "drain-delay", T_DURATION, "0s", 0, 3600000, NULL, OFF(drain_delay_ms),
     "on SIGTERM, report NOT_SERVING this long before sending GOAWAY (let load balancers "
     "notice)"},
    {"HANDSHAKE_TIMEOUT", "handshake-timeout", T_DURATION, "10s", 1, 3600000, NULL,
     OFF(handshake_timeout_ms), "close connections without TLS and HTTP/2 preface by then"},
    {"KEEPALIVE_TIME", "keepalive-time", T_DURATION, "2h", 0, UINT32_MAX, NULL,
     OFF(keepalive_time_ms), "PING a client silent this long (0: never)"},
    {"KEEPALIVE_TIMEOUT", "keepalive-timeout", T_DURATION, "20s", 1, UINT32_MAX, NULL,
     OFF(keepalive_timeout_ms), "close when that PING is not answered in time"},
    {"KEEPALIVE_MIN_TIME", "keepalive-min-time", T_DURATION, "5m", 0, UINT32_MAX, NULL,
     OFF(keepalive_min_time_ms),
     "client PINGs closer than this are strikes; 3 strikes: GOAWAY too_many_pings (0: off)"},
    {"KEEPALIVE_PERMIT_WITHOUT_STREAM", "keepalive-permit-without-stream", T_BOOL, "false", 0, 0,
     NULL, OFF(keepalive_permit_without_stream), "allow client PINGs with no call open"},
    {"MAX_CONNECTION_IDLE", "max-connection-idle", T_DURATION, "0s", 0, UINT32_MAX, NULL,
     OFF(max_connection_idle_ms), "GOAWAY connections idle this long (0: never)"},
    {"MAX_CONNECTION_AGE", "max-connection-age", T_DURATION, "0s", 0, UINT32_MAX, NULL,
     OFF(max_connection_age_ms),
     "GOAWAY connections this old, +-10% jitter, so clients rebalance across pods (0: never)"},
    {"MAX_CONNECTION_AGE_GRACE", "max-connection-age-grace", T_DURATION, "0s", 0, UINT32_MAX, NULL,
     OFF(max_connection_age_grace_ms),
     "then close them after this much more time (0: wait for their calls)"},
    {"STORE", "store", T_ENUM, "auto", 0, 0, "auto|memory|mongo", OFF(store),
     "todo store; auto: mongo when MONGO_URI(_FILE) or DB_HOST is set, else the embedded "
     "memory store"},
    {"MONGO_URI", "mongo-uri", T_STR, "", 0, 0, NULL, OFF(mongo_uri),
     "MongoDB connection string (mongodb://...); wins over DB_HOST"},
    {"MONGO_URI_FILE", "mongo-uri-file", T_STR, "", 0, 0, NULL, OFF(mongo_uri_file),
     "file holding the connection string (a mounted secret)"},
    {"DB_HOST", "db-host", T_STR, "", 0, 0, NULL, OFF(db_host),
     "MongoDB host, as the original service (used when MONGO_URI is unset)"},
    {"DB_PORT", "db-port", T_UINT, "27017", 1, 65535, NULL, OFF(db_port), "MongoDB port"},
    {"DB_USER", "db-user", T_STR, "", 0, 0, NULL, OFF(db_user), "MongoDB user (with DB_HOST)"},
    {"DB_PASSWORD", "db-password", T_STR, "", 0, 0, NULL, OFF(db_password),
     "MongoDB password (with DB_HOST)"},
    {"DB_PASSWORD_FILE", "db-password-file", T_STR, "", 0, 0, NULL, OFF(db_password_file),
     "file holding the MongoDB password (a mounted secret)"},
    {"DB_NAME", "db-name", T_STR, "TodosDB", 0, 0, NULL, OFF(db_name), "database name"},
    {"DB_COLLECTION", "db-collection", T_STR, "todos", 0, 0, NULL, OFF(db_collection),
     "collection name"},
    {"DB_TIMEOUT", "db-timeout", T_DURATION, "5s", 1, 600000, NULL, OFF(db_timeout_ms),
     "bound on finding, connecting to and waiting for the database"},
    {"DB_HEALTH_INTERVAL", "db-health-interval", T_DURATION, "1s", 10, 600000, NULL,
     OFF(db_health_interval_ms), "how often the database is pinged to set health"},
    {"SINGLE_FLIGHT", "single-flight", T_BOOL, "true", 0, 0, NULL, OFF(single_flight),
     "identical concurrent reads share one database query"},
    {"AUTH_TOKENS", "auth-tokens", T_STR, "", 0, 0, NULL, OFF(auth_tokens),
     "comma-separated tokens; when any is set, calls need one (token field or Bearer)"},
    {"AUTH_TOKENS_FILE", "auth-tokens-file", T_STR, "", 0, 0, NULL, OFF(auth_tokens_file),
     "file with one accepted token per line (a mounted secret)"},
    {"STORE_DELAY_MS", "store-delay-ms", T_UINT, "0", 0, 60000, NULL, OFF(store_delay_ms),
     "serve the memory store through the worker pool after this delay (simulated backend "
     "latency; 0: inline on the loop)"},
    {"LOG_LEVEL", "log-level", T_ENUM, "info", 0, 0, "error|warn|info|debug", OFF(log_level),
     "least severe level logged"},
    {"LOG_FORMAT", "log-format", T_ENUM, "text", 0, 0, "text|json", OFF(log_format),
     "log line format on stderr"},
    {"ACCESS_LOG", "access-log", T_ENUM, "on", 0, 0, "on|off", OFF(access_log),
     "one log line per call (method, code, duration, peer, bytes)"},
    {"ACCESS_LOG_SAMPLE", "access-log-sample", T_UINT, "1", 1, 1000000, NULL,
     OFF(access_log_sample), "log 1 in N successful calls; errors are always logged"},
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

void todo_config_usage(FILE *out)
{
    fprintf(out,
            "usage: todo-api [--env-file PATH] [--KEY VALUE]...\n\n"
            "Serves the Todo gRPC API. Each setting comes from its flag, else the\n"
            "environment, else the .env file, else its default.\n\n"
            "  --env-file PATH   .env file to read (default: $ENV_FILE, else ./.env if present)\n"
            "  --help, --version\n\n");
    for (size_t i = 0; i < NKEYS; i++) {
        const key_def *k = &keys[i];
        fprintf(out, "  --%-24s %-24s default %s\n      %s%s%s\n", k->flag, k->key,
                k->def[0] ? k->def : "\"\"", k->help, k->choices ? "; one of " : "",
                k->choices ? k->choices : "");
    }
}

/* Parses a duration: digits then ms, s, m or h ("0" alone is allowed). */
static int parse_duration(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    if (*s < '0' || *s > '9') return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0) return -1;
    uint64_t mul;
    if (strcmp(end, "ms") == 0)
        mul = 1;
    else if (strcmp(end, "s") == 0)
        mul = 1000;
    else if (strcmp(end, "m") == 0)
        mul = 60000;
    else if (strcmp(end, "h") == 0)
        mul = 3600000;
    else if (*end == '\0' && v == 0)
        mul = 1;
    else
        return -1;
    if (v > UINT64_MAX / mul) return -1;
    *out = v * mul;
    return 0;
}

/* Parses a size with an optional KiB/MiB/GiB (or K/M/G) suffix. */
static int parse_size(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    if (*s < '0' || *s > '9') return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0) return -1;
    uint64_t mul = 1;
    if (*end == 'K' || *end == 'k')
        mul = 1024, end++;
    else if (*end == 'M' || *end == 'm')
        mul = 1024 * 1024, end++;
    else if (*end == 'G' || *end == 'g')
        mul = 1024ull * 1024 * 1024, end++;
    if (mul > 1 && strcmp(end, "iB") == 0)
        end += 2;
    else if (mul > 1 && *end == 'B')
        end++;
    if (*end != '\0' || v > UINT64_MAX / mul) return -1;
    *out = v * mul;
    return 0;
}

static int parse_uint(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    if (*s < '0' || *s > '9') return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0') return -1;
    *out = v;
    return 0;
}

static int in_choices(const char *choices, const char *v)
{
    size_t n = strlen(v);
    for (const char *p = choices; *p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, v, n) == 0) return 1;
        if (!bar) break;
        p = bar + 1;
    }
    return 0;
}

static int apply(todo_config *cfg, const key_def *k, const char *v, const char *source, char *err,
                 size_t errlen)
{
    char *dst = (char *)cfg + k->offset;
    uint64_t n = 0;
    switch (k->type) {
    case T_STR:
    case T_ENUM:
        if (k->type == T_ENUM && !in_choices(k->choices, v)) {
            snprintf(err, errlen, "invalid %s=\"%s\" (from %s): expected one of %s", k->key, v,
                     source, k->choices);
            return -1;
        }
        if (strlen(v) >= k->size) {
            snprintf(err, errlen, "invalid %s (from %s): longer than %zu bytes", k->key, source,
                     k->size - 1);
            return -1;
        }
        strcpy(dst, v);
        return 0;
    case T_BOOL:
        if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0) {
            n = 1;
        } else if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0) {
            n = 0;
        } else {
            snprintf(err, errlen, "invalid %s=\"%s\" (from %s): expected true or false", k->key, v,
                     source);
            return -1;
        }
        break;
    case T_DURATION:
        if (parse_duration(v, &n) < 0 || n < k->min || n > k->max) {
            snprintf(err, errlen,
                     "invalid %s=\"%s\" (from %s): expected a duration such as 500ms, 10s, 5m "
                     "or 2h, from %llums to %llums",
                     k->key, v, source, (unsigned long long)k->min, (unsigned long long)k->max);
            return -1;
        }
        break;
    case T_UINT:
    case T_SIZE:
        if ((k->type == T_UINT ? parse_uint(v, &n) : parse_size(v, &n)) < 0 || n < k->min ||
            n > k->max) {
            snprintf(err, errlen, "invalid %s=\"%s\" (from %s): expected %s %llu..%llu", k->key, v,
                     source, k->type == T_UINT ? "an integer" : "a size in bytes",
                     (unsigned long long)k->min, (unsigned long long)k->max);
            return -1;
        }
        break;
    }
    /* Numbers land in an int or a uint64_t field, told apart by size. */
    if (k->size == sizeof(int))
        *(int *)(void *)dst = (int)n;
    else
        *(uint64_t *)(void *)dst = n;
    return 0;
}

/* Reads a small secret file into dst, without its trailing newline.
 * `append` adds the lines to what dst holds, comma-separated. */
static int read_secret(const char *key, const char *path, char *dst, size_t cap, int append,
                       char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "invalid %s=\"%s\": %s", key, path, strerror(errno));
        return TODO_CONFIG_ERROR;
    }
    char line[1024];
    size_t len = append ? strlen(dst) : 0;
    if (!append) dst[0] = '\0';
    int rv = TODO_CONFIG_OK;
    while (fgets(line, sizeof(line), f) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '\0') continue;
        int n = snprintf(dst + len, cap - len, "%s%s", append && len ? "," : "", line);
        if (n < 0 || (size_t)n >= cap - len) {
            snprintf(err, errlen, "invalid %s=\"%s\": longer than %zu bytes", key, path, cap - 1);
            rv = TODO_CONFIG_ERROR;
            break;
        }
        len += (size_t)n;
        if (!append) break; /* a single value: the first line */
    }
    fclose(f);
    return rv;
}

/* Percent-encodes URI userinfo (RFC 3986 unreserved characters pass). */
static int userinfo_encode(const char *in, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (; *in; in++) {
        unsigned char c = (unsigned char)*in;
        int plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.' || c == '_' || c == '~';
        if (n + (plain ? 1 : 3) >= cap) return -1;
        if (plain) {
            out[n++] = (char)c;
        } else {
            out[n++] = '%';
            out[n++] = hex[c >> 4];
            out[n++] = hex[c & 15];
        }
    }
    out[n] = '\0';
    return 0;
}

/* Picks the store and builds the MongoDB URI from the original's DB_* keys
 * when no URI is given. */
static int resolve_store(todo_config *cfg, char *err, size_t errlen)
{
    if (cfg->mongo_uri_file[0] &&
        read_secret("MONGO_URI_FILE", cfg->mongo_uri_file, cfg->mongo_uri, sizeof(cfg->mongo_uri),
                    0, err, errlen) != TODO_CONFIG_OK)
        return TODO_CONFIG_ERROR;
    if (cfg->db_password_file[0] &&
        read_secret("DB_PASSWORD_FILE", cfg->db_password_file, cfg->db_password,
                    sizeof(cfg->db_password), 0, err, errlen) != TODO_CONFIG_OK)
        return TODO_CONFIG_ERROR;
    if (cfg->auth_tokens_file[0] &&
        read_secret("AUTH_TOKENS_FILE", cfg->auth_tokens_file, cfg->auth_tokens,
                    sizeof(cfg->auth_tokens), 1, err, errlen) != TODO_CONFIG_OK)
        return TODO_CONFIG_ERROR;
    int have_db = cfg->mongo_uri[0] || cfg->db_host[0];
    if (strcmp(cfg->store, "auto") == 0) strcpy(cfg->store, have_db ? "mongo" : "memory");
    if (strcmp(cfg->store, "mongo") != 0) return TODO_CONFIG_OK;
    if (!have_db) {
        snprintf(err, errlen, "invalid STORE=mongo: set MONGO_URI, MONGO_URI_FILE or DB_HOST");
        return TODO_CONFIG_ERROR;
    }
    if (cfg->mongo_uri[0] == '\0') {
        int n;
        char user[400], pass[800];
        if (userinfo_encode(cfg->db_user, user, sizeof(user)) < 0 ||
            userinfo_encode(cfg->db_password, pass, sizeof(pass)) < 0) {
            snprintf(err, errlen, "invalid DB_USER or DB_PASSWORD: too long");
            return TODO_CONFIG_ERROR;
        }
        if (cfg->db_user[0])
            n = snprintf(cfg->mongo_uri, sizeof(cfg->mongo_uri), "mongodb://%s:%s@%s:%d/", user,
                         pass, cfg->db_host, cfg->db_port);
        else
            n = snprintf(cfg->mongo_uri, sizeof(cfg->mongo_uri), "mongodb://%s:%d/", cfg->db_host,
                         cfg->db_port);
        if (n < 0 || (size_t)n >= sizeof(cfg->mongo_uri)) {
            snprintf(err, errlen, "invalid DB_HOST: too long");
            return TODO_CONFIG_ERROR;
        }
    }
    return TODO_CONFIG_OK;
}

static const key_def *find_flag(const char *name, size_t len)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (strlen(keys[i].flag) == len && strncmp(keys[i].flag, name, len) == 0) return &keys[i];
    return NULL;
}

int todo_config_load(todo_config *cfg, int argc, char **argv, FILE *out, char *err, size_t errlen)
{
    memset(cfg, 0, sizeof(*cfg));
    const char *flag_values[NKEYS] = {0};
    const char *env_file = NULL;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            todo_config_usage(out);
            return TODO_CONFIG_EXIT;
        }
        if (strcmp(a, "--version") == 0) {
            fprintf(out, "todo-api %s\n", UGRPC_VERSION);
            return TODO_CONFIG_EXIT;
        }
        if (strncmp(a, "--", 2) != 0) {
            snprintf(err, errlen, "unexpected argument \"%s\" (see --help)", a);
            return TODO_CONFIG_ERROR;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        const char *value = eq ? eq + 1 : NULL;
        if (value == NULL) {
            if (i + 1 >= argc) {
                snprintf(err, errlen, "flag --%.*s needs a value", (int)nlen, name);
                return TODO_CONFIG_ERROR;
            }
            value = argv[++i];
        }
        if (nlen == 8 && strncmp(name, "env-file", 8) == 0) {
            env_file = value;
            continue;
        }
        const key_def *k = find_flag(name, nlen);
        if (k == NULL) {
            snprintf(err, errlen, "unknown flag --%.*s (see --help)", (int)nlen, name);
            return TODO_CONFIG_ERROR;
        }
        flag_values[k - keys] = value;
    }

    /* The .env file: an explicit one must exist; the implicit ./.env may not. */
    todo_env dotenv = {0};
    int explicit_file = env_file != NULL || getenv("ENV_FILE") != NULL;
    if (env_file == NULL) env_file = getenv("ENV_FILE");
    if (env_file == NULL) env_file = ".env";
    char derr[600];
    int rv = todo_dotenv_load(env_file, &dotenv, derr, sizeof(derr));
    if (rv < 0 || (rv == 1 && explicit_file)) {
        if (rv == 1) snprintf(derr, sizeof(derr), "%s: no such file", env_file);
        snprintf(err, errlen, "invalid ENV_FILE: %s", derr);
        todo_env_free(&dotenv);
        return TODO_CONFIG_ERROR;
    }
    cfg->env_file_found = rv == 0;
    if (rv == 0) snprintf(cfg->env_file, sizeof(cfg->env_file), "%s", env_file);

    int result = TODO_CONFIG_OK;
    for (size_t i = 0; i < NKEYS && result == TODO_CONFIG_OK; i++) {
        const key_def *k = &keys[i];
        const char *v, *source;
        if (flag_values[i] != NULL)
            v = flag_values[i], source = "flag";
        else if ((v = getenv(k->key)) != NULL)
            source = "environment";
        else if ((v = todo_env_get(&dotenv, k->key)) != NULL)
            source = env_file;
        else
            v = k->def, source = "default";
        if (k->type == T_STR && strcmp(k->key, "SERVER_HOST") == 0 && v[0] == '\0') v = "0.0.0.0";
        if (apply(cfg, k, v, source, err, errlen) < 0) result = TODO_CONFIG_ERROR;
    }
    todo_env_free(&dotenv);
    if (result == TODO_CONFIG_OK) result = resolve_store(cfg, err, errlen);
    if (result == TODO_CONFIG_OK && (cfg->tls_cert[0] != '\0') != (cfg->tls_key[0] != '\0')) {
        snprintf(err, errlen, "invalid %s: TLS_CERT and TLS_KEY go together",
                 cfg->tls_cert[0] ? "TLS_KEY (missing)" : "TLS_CERT (missing)");
        result = TODO_CONFIG_ERROR;
    }
    if (result == TODO_CONFIG_OK && cfg->tls_client_ca[0] && !cfg->tls_cert[0]) {
        snprintf(err, errlen, "invalid TLS_CLIENT_CA: needs TLS_CERT and TLS_KEY");
        result = TODO_CONFIG_ERROR;
    }
    return result;
}
