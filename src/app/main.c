/*
 * todo-api: the Todo gRPC service on the ugrpc library.
 *
 * It uses the library only through ugrpc.h, as any embedder would.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "config.h"
#include "log.h"
#include "service.h"
#include "ugrpc.h"

/* The FileDescriptorSet reflection serves (todos.proto, health, reflection),
 * embedded by the Makefile as $(BUILD)/gen/todo_api_protoset.c. */
extern const unsigned char todo_api_protoset[];
extern const size_t todo_api_protoset_len;

typedef struct app {
    uv_loop_t *loop;
    ugrpc_server *srv;
    todo_service *svc;
    todo_admin *admin;
    todo_access_log *access;
    uv_signal_t sigterm, sigint;
    uv_timer_t drain;
    int signals;
    uint64_t grace_ms, drain_ms;
} app;

static void on_shutdown(ugrpc_server *srv, void *data)
{
    app *a = data;
    (void)srv;
    uv_close((uv_handle_t *)&a->sigterm, NULL);
    uv_close((uv_handle_t *)&a->sigint, NULL);
    uv_close((uv_handle_t *)&a->drain, NULL);
    todo_service_stop(a->svc);
    todo_admin_stop(a->admin);
    todo_access_log_stop(a->access);
    todo_log(UGRPC_LOG_INFO, "shutdown complete");
}

static void start_shutdown(uv_timer_t *t)
{
    app *a = t->data;
    todo_log(UGRPC_LOG_INFO, "draining: GOAWAY sent, calls in flight get %llu ms",
             (unsigned long long)a->grace_ms);
    ugrpc_server_shutdown(a->srv, a->grace_ms, on_shutdown, a);
}

static void on_signal(uv_signal_t *h, int signum)
{
    app *a = h->data;
    if (++a->signals > 1) {
        todo_log(UGRPC_LOG_WARN, "second signal (%s): exiting now", strsignal(signum));
        todo_access_log_stop(a->access);
        exit(1);
    }
    /* Readiness goes first: load balancers that probe health stop sending
     * new calls during the drain delay, before any connection is told to go. */
    a->svc->stopping = 1; /* /readyz too */
    ugrpc_health_set(a->srv, "", UGRPC_HEALTH_NOT_SERVING);
    ugrpc_health_set(a->srv, "grpc.Todos", UGRPC_HEALTH_NOT_SERVING);
    todo_log(UGRPC_LOG_INFO, "%s: NOT_SERVING; shutting down in %llu ms", strsignal(signum),
             (unsigned long long)a->drain_ms);
    uv_timer_start(&a->drain, start_shutdown, a->drain_ms, 0);
}

/* Opens the configured store; logs which one unless quiet. NULL on failure
 * (logged). */
static todo_store *open_store(const todo_config *cfg, int quiet)
{
    if (strcmp(cfg->store, "memory") == 0) {
        todo_store *s = todo_memstore_new();
        if (s == NULL || todo_memstore_seed(s) < 0) {
            todo_log(UGRPC_LOG_ERROR, "out of memory");
            return NULL;
        }
        /* Say why: STORE=memory wins over a configured database. */
        int forced = cfg->mongo_uri[0] != '\0';
        todo_log(
            UGRPC_LOG_INFO,
            "todo-api %s: serving the embedded in-memory store (%s), "
            "seeded with the original's seed todo%s%s",
            UGRPC_VERSION,
            forced ? "STORE=memory; the configured database is not used" : "no database configured",
            cfg->env_file_found ? "; config from " : "", cfg->env_file_found ? cfg->env_file : "");
        return s;
    }
    char err[256];
    todo_mongo_options o = {.uri = cfg->mongo_uri,
                            .db = cfg->db_name,
                            .collection = cfg->db_collection,
                            .timeout_ms = cfg->db_timeout_ms,
                            .pool_size = 4};
    const char *threads = getenv("UV_THREADPOOL_SIZE");
    if (threads != NULL && atoi(threads) > 0) o.pool_size = (unsigned)atoi(threads);
    todo_store *s = todo_mongostore_new(&o, err, sizeof(err));
    if (s == NULL) {
        fprintf(stderr, "todo-api: invalid MONGO_URI: %s\n", err);
        return NULL;
    }
    if (!quiet)
        todo_log(UGRPC_LOG_INFO, "todo-api %s: serving MongoDB %s.%s (%s)%s%s", UGRPC_VERSION,
                 cfg->db_name, cfg->db_collection,
                 cfg->mongo_uri_file[0] ? "URI from MONGO_URI_FILE" : "URI from the configuration",
                 cfg->env_file_found ? "; config from " : "",
                 cfg->env_file_found ? cfg->env_file : "");
    return s;
}

/* `todo-api seed [--file todos.json] [--KEY VALUE]...`: inserts the
 * original's seed document (and the file's todos) unless present. */
static int seed(const todo_config *cfg, const char *file)
{
    if (strcmp(cfg->store, "mongo") != 0) {
        fprintf(stderr, "todo-api seed: needs a database: set MONGO_URI, MONGO_URI_FILE or "
                        "DB_HOST\n");
        return 2;
    }
    todo_items extra = {.owned = 1};
    char err[512];
    if (file != NULL) {
        FILE *f = fopen(file, "rb");
        char *text = NULL;
        size_t len = 0;
        if (f != NULL) {
            fseek(f, 0, SEEK_END);
            long n = ftell(f);
            fseek(f, 0, SEEK_SET);
            if (n >= 0 && n <= (64L << 20) && (text = malloc((size_t)n + 1)) != NULL)
                len = fread(text, 1, (size_t)n, f);
            fclose(f);
        }
        if (text == NULL) {
            fprintf(stderr, "todo-api seed: cannot read %s\n", file);
            return 2;
        }
        int rv = todo_parse_json_todos(text, len, &extra, err, sizeof(err));
        free(text);
        if (rv < 0) {
            fprintf(stderr, "todo-api seed: %s: %s\n", file, err);
            return 2;
        }
    }
    todo_mongo_global_init();
    todo_store *s = open_store(cfg, 1);
    int rv = s ? todo_mongostore_seed(s, &extra, err, sizeof(err)) : TODO_EINTERNAL;
    if (s != NULL) s->ops->destroy(s);
    todo_mongo_global_cleanup();
    todo_items_free(&extra);
    if (rv < 0) {
        fprintf(stderr, "todo-api seed: %s\n", s ? err : "cannot open the database");
        return 1;
    }
    todo_log(UGRPC_LOG_INFO, "seed: %d todo%s inserted into %s.%s", rv, rv == 1 ? "" : "s",
             cfg->db_name, cfg->db_collection);
    return 0;
}

static int service_ready(void *data)
{
    const todo_service *svc = data;
    return svc->db_up && !svc->stopping;
}

/* Splits "tok1,tok2" in place into an array (NULL when empty). */
static char **split_tokens(char *list, size_t *n)
{
    *n = 0;
    if (list[0] == '\0') return NULL;
    size_t cap = 1;
    for (const char *p = list; *p; p++)
        cap += *p == ',';
    char **v = calloc(cap, sizeof(*v));
    if (v == NULL) return NULL;
    for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ","))
        if (*tok) v[(*n)++] = tok;
    return v;
}

int main(int argc, char **argv)
{
    /* The seed command takes the same configuration plus --file. */
    int seeding = argc > 1 && strcmp(argv[1], "seed") == 0;
    const char *seed_file = NULL;
    if (seeding) {
        argv[1] = argv[0];
        argv++;
        argc--;
        for (int i = 1; i + 1 < argc; i++) {
            if (strcmp(argv[i], "--file") == 0) {
                seed_file = argv[i + 1];
                memmove(&argv[i], &argv[i + 2], (size_t)(argc - i - 1) * sizeof(*argv));
                argc -= 2;
                break;
            }
        }
    }
    todo_config cfg;
    char err[512];
    int rv = todo_config_load(&cfg, argc, argv, stdout, err, sizeof(err));
    if (rv == TODO_CONFIG_EXIT) return 0;
    if (rv == TODO_CONFIG_ERROR) {
        fprintf(stderr, "todo-api: %s\n", err);
        return 2;
    }
    todo_log_setup(cfg.log_format, cfg.log_level);
    if (seeding) return seed(&cfg, seed_file);
    signal(SIGPIPE, SIG_IGN);

    int mongo = strcmp(cfg.store, "mongo") == 0;
    if (mongo) todo_mongo_global_init();
    todo_store *store = open_store(&cfg, 0);
    if (store == NULL) return mongo ? 2 : 1;

    app a = {.loop = uv_default_loop()};
    ugrpc_server_options opts;
    ugrpc_server_options_init(&opts);
    opts.max_recv_message_size = cfg.max_recv_msg_size;
    opts.max_send_message_size = cfg.max_send_msg_size;
    opts.max_concurrent_streams = (uint32_t)cfg.max_concurrent_streams;
    opts.max_header_list_size = (uint32_t)cfg.max_header_list_size;
    opts.max_connections = (unsigned)cfg.max_connections;
    opts.max_output_buffer = cfg.max_output_buffer;
    opts.max_pending_work = (unsigned)cfg.worker_queue_max;
    opts.handshake_timeout_ms = cfg.handshake_timeout_ms;
    opts.keepalive_time_ms = cfg.keepalive_time_ms;
    opts.keepalive_timeout_ms = cfg.keepalive_timeout_ms;
    opts.keepalive_min_time_ms = cfg.keepalive_min_time_ms;
    opts.keepalive_permit_without_stream = cfg.keepalive_permit_without_stream;
    opts.max_connection_idle_ms = cfg.max_connection_idle_ms;
    opts.max_connection_age_ms = cfg.max_connection_age_ms;
    opts.max_connection_age_grace_ms = cfg.max_connection_age_grace_ms;
    opts.log = todo_log_hook;
    opts.log_level = todo_log_level();
    todo_access_log access;
    todo_access_log_start(&access, a.loop, strcmp(cfg.access_log, "on") == 0,
                          (unsigned)cfg.access_log_sample);
    a.access = &access;
    if (access.on) {
        opts.on_call_done = todo_access_log_hook;
        opts.on_call_done_data = &access;
    }

    rv = ugrpc_server_new(a.loop, &opts, &a.srv);
    if (rv < 0) {
        fprintf(stderr, "todo-api: cannot create server: %s\n", ugrpc_strerror(rv));
        return 1;
    }
    todo_service svc = {.loop = a.loop,
                        .srv = a.srv,
                        .store = store,
                        .delay_ms = cfg.store_delay_ms,
                        .single_flight = cfg.single_flight,
                        .health_interval_ms = cfg.db_health_interval_ms};
    svc.tokens = split_tokens(cfg.auth_tokens, &svc.ntokens);
    a.svc = &svc;
    rv = ugrpc_health_enable(a.srv);
    if (rv == 0) rv = ugrpc_reflection_enable(a.srv, todo_api_protoset, todo_api_protoset_len);
    if (rv == 0) rv = todo_service_start(&svc);
    if (rv < 0) {
        fprintf(stderr, "todo-api: cannot start the service: %s\n", ugrpc_strerror(rv));
        return 1;
    }
    if (svc.ntokens) todo_log(UGRPC_LOG_INFO, "token auth on: %zu token(s)", svc.ntokens);
    int tls = cfg.tls_cert[0] != '\0';
    if (tls) {
        ugrpc_tls_options t = {.cert_file = cfg.tls_cert,
                               .key_file = cfg.tls_key,
                               .client_ca_file = cfg.tls_client_ca[0] ? cfg.tls_client_ca : NULL};
        rv = ugrpc_server_listen_tls(a.srv, cfg.server_host, cfg.server_port, &t);
        if (rv == UGRPC_EINVAL) {
            fprintf(stderr, "todo-api: invalid TLS_CERT/TLS_KEY/TLS_CLIENT_CA: OpenSSL rejected "
                            "them (see the log line above)\n");
            return 2;
        }
    } else {
        rv = ugrpc_server_listen(a.srv, cfg.server_host, cfg.server_port);
    }
    if (rv < 0) {
        todo_log(UGRPC_LOG_ERROR, "cannot listen on %s:%d", cfg.server_host, cfg.server_port);
        return 1;
    }
    todo_log(UGRPC_LOG_INFO, "listening on %s:%d (%s)", cfg.server_host, ugrpc_server_port(a.srv),
             tls ? (cfg.tls_client_ca[0] ? "TLS, client certificates required" : "TLS") : "h2c");
    if (tls && cfg.plaintext_port != 0) {
        if (ugrpc_server_listen(a.srv, cfg.server_host, cfg.plaintext_port) < 0) {
            todo_log(UGRPC_LOG_ERROR, "cannot listen on %s:%d", cfg.server_host,
                     cfg.plaintext_port);
            return 1;
        }
        todo_log(UGRPC_LOG_INFO, "listening on %s:%d (h2c)", cfg.server_host,
                 ugrpc_server_port(a.srv));
    }

    if (cfg.admin_port != 0) {
        todo_admin_source src = {
            .srv = a.srv, .ready = service_ready, .ready_data = &svc, .svc_stats = &svc.stats};
        a.admin = todo_admin_start(a.loop, cfg.server_host, cfg.admin_port, &src);
        if (a.admin == NULL) return 1;
        todo_log(UGRPC_LOG_INFO, "admin endpoint on %s:%d (/metrics, /healthz, /readyz)",
                 cfg.server_host, todo_admin_port(a.admin));
    }
    a.grace_ms = cfg.shutdown_grace_ms;
    a.drain_ms = cfg.drain_delay_ms;
    uv_timer_init(a.loop, &a.drain);
    a.drain.data = &a;
    uv_signal_init(a.loop, &a.sigterm);
    uv_signal_init(a.loop, &a.sigint);
    a.sigterm.data = a.sigint.data = &a;
    uv_signal_start(&a.sigterm, on_signal, SIGTERM);
    uv_signal_start(&a.sigint, on_signal, SIGINT);

    uv_run(a.loop, UV_RUN_DEFAULT);

    ugrpc_server_free(a.srv);
    uv_loop_close(a.loop);
    store->ops->destroy(store);
    if (mongo) todo_mongo_global_cleanup();
    free(svc.tokens);
    return 0;
}
