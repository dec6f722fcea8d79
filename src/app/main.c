/*
 * todo-api: the Todo gRPC service on the ugrpc library.
 *
 * It uses the library only through ugrpc.h, as any embedder would.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "service.h"
#include "ugrpc.h"

typedef struct app {
    uv_loop_t *loop;
    ugrpc_server *srv;
    uv_signal_t sigterm, sigint;
    int signals;
} app;

static void on_shutdown(ugrpc_server *srv, void *data)
{
    app *a = data;
    (void)srv;
    uv_close((uv_handle_t *)&a->sigterm, NULL);
    uv_close((uv_handle_t *)&a->sigint, NULL);
    todo_log(UGRPC_LOG_INFO, "shutdown complete");
}

static uint64_t grace_ms;

static void on_signal(uv_signal_t *h, int signum)
{
    app *a = h->data;
    if (++a->signals > 1) {
        todo_log(UGRPC_LOG_WARN, "second signal (%s): exiting now", strsignal(signum));
        exit(1);
    }
    todo_log(UGRPC_LOG_INFO, "%s: shutting down (grace %llu ms)", strsignal(signum),
             (unsigned long long)grace_ms);
    ugrpc_server_shutdown(a->srv, grace_ms, on_shutdown, a);
}

int main(int argc, char **argv)
{
    todo_config cfg;
    char err[512];
    int rv = todo_config_load(&cfg, argc, argv, stdout, err, sizeof(err));
    if (rv == TODO_CONFIG_EXIT) return 0;
    if (rv == TODO_CONFIG_ERROR) {
        fprintf(stderr, "todo-api: %s\n", err);
        return 2;
    }
    todo_log_setup(cfg.log_format, cfg.log_level);
    grace_ms = cfg.shutdown_grace_ms;
    signal(SIGPIPE, SIG_IGN);

    todo_memstore store;
    if (todo_memstore_init(&store) < 0 || todo_memstore_seed(&store) < 0) {
        fprintf(stderr, "todo-api: out of memory\n");
        return 1;
    }
    todo_log(UGRPC_LOG_INFO,
             "todo-api %s: serving the embedded in-memory store (no database configured), "
             "seeded with %zu todo%s%s%s",
             UGRPC_VERSION, store.count, store.count == 1 ? "" : "s",
             cfg.env_file_found ? "; config from " : "", cfg.env_file_found ? cfg.env_file : "");

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

    rv = ugrpc_server_new(a.loop, &opts, &a.srv);
    if (rv < 0) {
        fprintf(stderr, "todo-api: cannot create server: %s\n", ugrpc_strerror(rv));
        return 1;
    }
    todo_service svc = {.store = &store, .delay_ms = cfg.store_delay_ms};
    rv = todo_service_register(a.srv, &svc);
    if (rv < 0) {
        fprintf(stderr, "todo-api: cannot register service: %s\n", ugrpc_strerror(rv));
        return 1;
    }
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

    uv_signal_init(a.loop, &a.sigterm);
    uv_signal_init(a.loop, &a.sigint);
    a.sigterm.data = a.sigint.data = &a;
    uv_signal_start(&a.sigterm, on_signal, SIGTERM);
    uv_signal_start(&a.sigint, on_signal, SIGINT);

    uv_run(a.loop, UV_RUN_DEFAULT);

    ugrpc_server_free(a.srv);
    uv_loop_close(a.loop);
    todo_memstore_free(&store);
    return 0;
}
