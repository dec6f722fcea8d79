/* .env parsing (godotenv-compatible). */
#include "dotenv.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A growable string, for one value. */
typedef struct sbuf {
    char *p;
    size_t len, cap;
    int too_long; /* an append was refused: the value would pass TODO_DOTENV_MAX_VALUE */
} sbuf;

static int sb_putn(sbuf *b, const char *s, size_t n)
{
    /* The bound matters for expansion: A=$A$A on every line doubles the
     * value, and 30 such lines would ask for gigabytes. */
    if (n > TODO_DOTENV_MAX_VALUE - b->len) {
        b->too_long = 1;
        return -1;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (p == NULL) return -1;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

static int sb_putc(sbuf *b, char c)
{
    return sb_putn(b, &c, 1);
}

const char *todo_env_get(const todo_env *env, const char *key)
{
    for (size_t i = 0; i < env->count; i++)
        if (strcmp(env->items[i].key, key) == 0) return env->items[i].value;
    return NULL;
}

static int env_set(todo_env *env, char *key, char *value)
{
    for (size_t i = 0; i < env->count; i++) {
        if (strcmp(env->items[i].key, key) == 0) {
            free(env->items[i].value);
            free(key);
            env->items[i].value = value;
            return 0;
        }
    }
    if (env->count == env->cap) {
        size_t cap = env->cap ? env->cap * 2 : 16;
        todo_kv *items = realloc(env->items, cap * sizeof(*items));
        if (items == NULL) return -1;
        env->items = items;
        env->cap = cap;
    }
    env->items[env->count++] = (todo_kv){key, value};
    return 0;
}

void todo_env_free(todo_env *env)
{
    for (size_t i = 0; i < env->count; i++) {
        free(env->items[i].key);
        free(env->items[i].value);
    }
    free(env->items);
    env->items = NULL;
    env->count = env->cap = 0;
}

static int is_key_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '.' || c == '-';
}

/* Expands $VAR or ${VAR} at s (pointing at '$'). Appends the value and
 * returns the number of input bytes used; 0 when it is not a reference. */
static size_t expand(const char *s, const char *end, const todo_env *env, sbuf *out, int *oom)
{
    const char *p = s + 1;
    int braced = p < end && *p == '{';
    if (braced) p++;
    const char *name = p;
    while (p < end && (isalnum((unsigned char)*p) || *p == '_'))
        p++;
    size_t nlen = (size_t)(p - name);
    if (nlen == 0 || (braced && (p >= end || *p != '}'))) return 0;
    char key[256];
    if (nlen >= sizeof(key)) return 0;
    memcpy(key, name, nlen);
    key[nlen] = '\0';
    const char *v = todo_env_get(env, key);
    if (v == NULL) v = getenv(key);
    if (v != NULL && sb_putn(out, v, strlen(v)) < 0) *oom = 1;
    return (size_t)(p - s) + (braced ? 1 : 0);
}

static void set_err(char *err, size_t errlen, int line, const char *what)
{
    snprintf(err, errlen, "line %d: %s", line, what);
}

int todo_dotenv_parse(const char *text, size_t len, todo_env *env, char *err, size_t errlen)
{
    const char *p = text, *end = text + len;
    int line = 1;
    while (p < end) {
        /* Skip blank space and whole-line comments. */
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\r'))
            p++;
        if (p < end && *p == '\n') {
            p++;
            line++;
            continue;
        }
        if (p >= end) break;
        if (*p == '#') {
            while (p < end && *p != '\n')
                p++;
            continue;
        }
        if ((size_t)(end - p) > 7 && strncmp(p, "export", 6) == 0 &&
            (p[6] == ' ' || p[6] == '\t')) {
            p += 7;
            while (p < end && (*p == ' ' || *p == '\t'))
                p++;
        }
        const char *k = p;
        while (p < end && is_key_char(*p))
            p++;
        size_t klen = (size_t)(p - k);
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        if (klen == 0 || p >= end || (*p != '=' && *p != ':')) {
            set_err(err, errlen, line, "expected KEY=VALUE");
            return -1;
        }
        p++;
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        sbuf v = {0};
        int oom = sb_putn(&v, "", 0) < 0;
        if (p < end && (*p == '\'' || *p == '"')) {
            char q = *p++;
            int closed = 0, open_line = line;
            while (p < end) {
                char c = *p;
                if (c == q) {
                    closed = 1;
                    p++;
                    break;
                }
                if (c == '\n') line++;
                if (q == '"' && c == '\\' && p + 1 < end) {
                    char e = p[1];
                    /* As godotenv: \n \r \t become control characters, any
                     * other escaped character stands for itself. */
                    char r = e == 'n' ? '\n' : e == 'r' ? '\r' : e == 't' ? '\t' : e;
                    oom |= sb_putc(&v, r) < 0;
                    p += 2;
                    continue;
                }
                if (q == '"' && c == '$') {
                    size_t used = expand(p, end, env, &v, &oom);
                    if (used) {
                        p += used;
                        continue;
                    }
                }
                oom |= sb_putc(&v, c) < 0;
                p++;
            }
            if (!closed) {
                free(v.p);
                set_err(err, errlen, open_line, "unterminated quoted value");
                return -1;
            }
            /* Anything after the closing quote must be a comment. */
            while (p < end && (*p == ' ' || *p == '\t' || *p == '\r'))
                p++;
            if (p < end && *p != '\n' && *p != '#') {
                free(v.p);
                set_err(err, errlen, line, "unexpected text after quoted value");
                return -1;
            }
            while (p < end && *p != '\n')
                p++;
        } else {
            const char *start = p;
            while (p < end && *p != '\n') {
                if (*p == '#' && p > start && (p[-1] == ' ' || p[-1] == '\t')) break;
                if (*p == '$') {
                    size_t used = expand(p, end, env, &v, &oom);
                    if (used) {
                        p += used;
                        continue;
                    }
                }
                oom |= sb_putc(&v, *p) < 0;
                p++;
            }
            while (p < end && *p != '\n')
                p++;
            while (v.len > 0 && isspace((unsigned char)v.p[v.len - 1]))
                v.p[--v.len] = '\0';
        }
        char *key = strndup(k, klen);
        if (oom || key == NULL || env_set(env, key, v.p) < 0) {
            free(v.p);
            free(key);
            char what[64];
            snprintf(what, sizeof(what), "value longer than %u bytes (after expansion)",
                     TODO_DOTENV_MAX_VALUE);
            set_err(err, errlen, line, v.too_long ? what : "out of memory");
            return -1;
        }
    }
    return 0;
}

int todo_dotenv_load(const char *path, todo_env *env, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        if (errno == ENOENT) return 1;
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    sbuf b = {0};
    char chunk[4096];
    size_t n;
    int rv = 0;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (sb_putn(&b, chunk, n) < 0 || b.len > (1u << 20)) {
            snprintf(err, errlen, "%s: larger than 1 MiB", path);
            rv = -1;
            break;
        }
    }
    if (rv == 0 && ferror(f)) {
        snprintf(err, errlen, "%s: read error", path);
        rv = -1;
    }
    fclose(f);
    if (rv == 0) {
        char perr[200];
        if (todo_dotenv_parse(b.p ? b.p : "", b.len, env, perr, sizeof(perr)) < 0) {
            snprintf(err, errlen, "%s: %s", path, perr);
            rv = -1;
        }
    }
    free(b.p);
    return rv;
}
