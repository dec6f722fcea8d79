/*
 * Fuzz target: the admin endpoint's HTTP/1.1 request reader
 * (todo_admin_parse in src/app/admin.c).
 *
 * Input: one split byte (see fuzz_util.h), then the bytes a client sends.
 * They arrive in chunks, as reads do, into a buffer of the endpoint's size
 * that is NUL-terminated after each read exactly as admin.c does, and the
 * parser runs after each chunk until it gives an answer. A 200 must come
 * with a path inside the buffer that starts with '/' and holds no space or
 * control byte.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_REQUEST 8192u /* as admin.c */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    fz_split split;
    fz_split_init(&split, data[0]);
    data++;
    size--;
    char *req = malloc(MAX_REQUEST + 1);
    if (req == NULL) abort();
    size_t len = 0, off = 0, n;
    int code = 0;
    const char *path = NULL;
    int head_only = 0;
    while (code == 0 && (n = fz_split_next(&split, size - off)) > 0) {
        if (n > MAX_REQUEST - len) n = MAX_REQUEST - len; /* admin.c reads no more */
        memcpy(req + len, data + off, n);
        off += n;
        len += n;
        req[len] = '\0';
        code = todo_admin_parse(req, len, MAX_REQUEST, &path, &head_only);
        if (len == MAX_REQUEST && code == 0) abort(); /* a full buffer must get an answer */
    }
    if (code != 0 && code != 200 && code != 400 && code != 405 && code != 431) abort();
    if (code == 200) {
        if (path < req || path >= req + len || path[0] != '/') abort();
        for (const char *p = path; *p; p++)
            if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7F) abort();
        if (head_only != 0 && head_only != 1) abort();
    }
    free(req);
    return 0;
}
