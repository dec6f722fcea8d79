/*
 * Fuzz target: the .env parser (src/app/dotenv.c).
 *
 * The input is a whole file. Parsed entries must be well-formed (a
 * non-empty key without '=' or NUL, NUL-terminated strings) and findable
 * with todo_env_get(); the error line, if any, must fit its buffer.
 * Parsing the same text into an environment that already holds its entries
 * must give the same keys (later duplicates replace earlier ones).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dotenv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const todo_env *env)
{
    if (env->count > env->cap) abort();
    for (size_t i = 0; i < env->count; i++) {
        const todo_kv *kv = &env->items[i];
        if (kv->key == NULL || kv->value == NULL || kv->key[0] == '\0') abort();
        if (strchr(kv->key, '=') != NULL) abort();
        (void)strlen(kv->value);
        /* Keys are unique: get() finds this very entry. */
        if (todo_env_get(env, kv->key) != kv->value) abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size copy without a terminator: the parser takes a length. */
    char *text = malloc(size ? size : 1);
    if (text == NULL) abort();
    memcpy(text, data, size);
    char err[64];
    err[0] = '\0';
    todo_env env = {0};
    int rv = todo_dotenv_parse(text, size, &env, err, sizeof(err));
    if (rv != 0 && rv != -1) abort();
    if (rv == -1 && memchr(err, '\0', sizeof(err)) == NULL) abort();
    check(&env);
    if (rv == 0) {
        size_t count = env.count;
        /* Again, on top of the first parse: the same keys. Expansion now
         * sees the first parse's values (A=$A$A grows again), so the only
         * failure allowed is a value that grew past the bound. */
        if (todo_dotenv_parse(text, size, &env, err, sizeof(err)) != 0 &&
            strstr(err, "value longer than") == NULL)
            abort();
        check(&env);
        if (env.count != count) abort();
    }
    todo_env_free(&env);
    free(text);
    return 0;
}
