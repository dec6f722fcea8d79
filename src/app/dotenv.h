/*
 * .env files, read the way godotenv reads them: KEY=VALUE lines, an optional
 * "export " prefix, '#' comments (whole-line, or after whitespace in an
 * unquoted value), single quotes taken literally, double quotes with escapes
 * (\n \r \t \\ \" \$) spanning lines, and ${VAR} / $VAR expansion in
 * unquoted and double-quoted values (from earlier keys of the same file,
 * then the process environment).
 */
#ifndef TODO_DOTENV_H
#define TODO_DOTENV_H

#include <stddef.h>

/* The longest value, in bytes, after quotes, escapes and expansion; a longer
 * one is an error ("line N: value longer than 65536 bytes ..."). */
#define TODO_DOTENV_MAX_VALUE 65536u

typedef struct todo_kv {
    char *key;
    char *value;
} todo_kv;

typedef struct todo_env {
    todo_kv *items;
    size_t count, cap;
} todo_env;

/* Parses `text` (len bytes) into `env`, appending; a later duplicate key
 * replaces an earlier one. Returns 0, or -1 with a one-line reason
 * ("line 3: expected KEY=VALUE") in err; a value over TODO_DOTENV_MAX_VALUE
 * is an error, as is running out of memory. Entries parsed before an error
 * are kept; todo_env_free() releases them either way. */
int todo_dotenv_parse(const char *text, size_t len, todo_env *env, char *err, size_t errlen);

/* Reads and parses a file. Returns 0; 1 when the file does not exist (env
 * untouched); -1 with a reason in err on a read or parse error. */
int todo_dotenv_load(const char *path, todo_env *env, char *err, size_t errlen);

/* The value for key, or NULL. */
const char *todo_env_get(const todo_env *env, const char *key);

void todo_env_free(todo_env *env);

#endif
