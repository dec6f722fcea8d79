/*
 * todo-api configuration. Every key has a default, an environment name, a
 * flag and a line of help; one value is resolved per key with the precedence
 * flags > process environment > .env file > default. docs/configuration.md
 * lists the same table.
 */
#ifndef TODO_CONFIG_H
#define TODO_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct todo_config {
    char server_host[64];
    int server_port;
    char env_file[512]; /* the .env file read, or "" */
    int env_file_found;

    uint64_t max_recv_msg_size;
    uint64_t max_send_msg_size;
    uint64_t max_concurrent_streams;
    uint64_t max_header_list_size;
    uint64_t max_connections;
    uint64_t max_output_buffer;
    uint64_t worker_queue_max;
    uint64_t shutdown_grace_ms;
    uint64_t drain_delay_ms;
    uint64_t handshake_timeout_ms;
    uint64_t keepalive_time_ms;
    uint64_t keepalive_timeout_ms;
    uint64_t keepalive_min_time_ms;
    int keepalive_permit_without_stream;
    uint64_t max_connection_idle_ms;
    uint64_t max_connection_age_ms;
    uint64_t max_connection_age_grace_ms;

    char tls_cert[512];
    char tls_key[512];
    char tls_client_ca[512];
    int plaintext_port;
    int admin_port;

    char store[16]; /* auto, memory or mongo (auto resolved by the loader) */
    uint64_t store_delay_ms;
    char mongo_uri[1024]; /* resolved: MONGO_URI, MONGO_URI_FILE or DB_* */
    char mongo_uri_file[512];
    char db_host[256];
    int db_port;
    char db_user[128];
    char db_password[256];
    char db_password_file[512];
    char db_name[64];
    char db_collection[64];
    uint64_t db_timeout_ms;
    uint64_t db_health_interval_ms;
    int single_flight;
    char auth_tokens[2048]; /* comma-separated; AUTH_TOKENS_FILE lines appended */
    char auth_tokens_file[512];

    char log_level[8];
    char log_format[8];
    char access_log[4]; /* on or off */
    int access_log_sample;
} todo_config;

enum { TODO_CONFIG_OK = 0, TODO_CONFIG_EXIT = 1, TODO_CONFIG_ERROR = 2 };

/* Resolves the configuration from argv, `environ` (through getenv) and the
 * .env file (--env-file, else ENV_FILE, else ./.env when it exists).
 * Returns TODO_CONFIG_OK; TODO_CONFIG_EXIT after printing --help or
 * --version to `out`; or TODO_CONFIG_ERROR with one line naming the bad
 * key or flag in err. */
int todo_config_load(todo_config *cfg, int argc, char **argv, FILE *out, char *err, size_t errlen);

/* Prints the key table (used by --help). */
void todo_config_usage(FILE *out);

#endif
