/*
 * TLS over memory BIOs. Ciphertext from the socket goes into the read BIO;
 * SSL_read yields plaintext for nghttp2. Plaintext from nghttp2 goes through
 * SSL_write into the write BIO, which the connection drains to the socket.
 */
#include "tls.h"

#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "server.h"

struct ugrpc__tls {
    SSL *ssl;
    BIO *rbio; /* network -> SSL */
    BIO *wbio; /* SSL -> network */
    int ready;
};

static void log_ssl_errors(ugrpc_server *srv, const char *what)
{
    unsigned long e;
    char buf[256];
    int logged = 0;
    while ((e = ERR_get_error()) != 0) {
        ERR_error_string_n(e, buf, sizeof(buf));
        ugrpc__log(srv, UGRPC_LOG_ERROR, "%s: %s", what, buf);
        logged = 1;
    }
    if (!logged) ugrpc__log(srv, UGRPC_LOG_ERROR, "%s", what);
}

/* ALPN: gRPC needs HTTP/2; a client that cannot speak it is refused. */
static int select_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
    (void)ssl;
    (void)arg;
    for (unsigned int i = 0; i < inlen;) {
        unsigned int n = in[i];
        if (i + 1 + n > inlen) break;
        if (n == 2 && memcmp(in + i + 1, "h2", 2) == 0) {
            *out = in + i + 1;
            *outlen = 2;
            return SSL_TLSEXT_ERR_OK;
        }
        i += 1 + n;
    }
    return SSL_TLSEXT_ERR_ALERT_FATAL;
}

/* OpenSSL calls select_alpn only when the client offers ALPN at all; a
 * client that offers none would get a session it cannot use for gRPC. It is
 * refused here, in the handshake, with the same alert. */
static int require_alpn(SSL *ssl, int *alert, void *arg)
{
    (void)arg;
    const unsigned char *ext;
    size_t len;
    if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_application_layer_protocol_negotiation, &ext,
                                  &len) == 1)
        return SSL_CLIENT_HELLO_SUCCESS;
    *alert = SSL_AD_NO_APPLICATION_PROTOCOL;
    return SSL_CLIENT_HELLO_ERROR;
}

ugrpc__tls_ctx *ugrpc__tls_ctx_new(ugrpc_server *srv, const ugrpc_tls_options *o)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        log_ssl_errors(srv, "TLS context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    /* RFC 7540 section 9.2: no renegotiation, no compression. */
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
    /* TLS 1.2 suites allowed by RFC 7540 (AEAD with ephemeral keys). */
    SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20");
    SSL_CTX_set_alpn_select_cb(ctx, select_alpn, NULL);
    SSL_CTX_set_client_hello_cb(ctx, require_alpn, NULL);
    if (SSL_CTX_use_certificate_chain_file(ctx, o->cert_file) != 1) {
        log_ssl_errors(srv, o->cert_file);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, o->key_file, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        log_ssl_errors(srv, o->key_file);
        goto fail;
    }
    if (o->client_ca_file != NULL) {
        if (SSL_CTX_load_verify_locations(ctx, o->client_ca_file, NULL) != 1) {
            log_ssl_errors(srv, o->client_ca_file);
            goto fail;
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    }
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

void ugrpc__tls_ctx_free(ugrpc__tls_ctx *ctx)
{
    SSL_CTX_free(ctx);
}

ugrpc__tls *ugrpc__tls_new(ugrpc__tls_ctx *ctx)
{
    ugrpc__tls *t = ugrpc__calloc(1, sizeof(*t));
    if (t == NULL) return NULL;
    t->ssl = SSL_new(ctx);
    t->rbio = BIO_new(BIO_s_mem());
    t->wbio = BIO_new(BIO_s_mem());
    if (t->ssl == NULL || t->rbio == NULL || t->wbio == NULL) {
        BIO_free(t->rbio);
        BIO_free(t->wbio);
        SSL_free(t->ssl);
        ugrpc__free(t);
        return NULL;
    }
    SSL_set_bio(t->ssl, t->rbio, t->wbio); /* the SSL owns both BIOs now */
    SSL_set_accept_state(t->ssl);
    return t;
}

void ugrpc__tls_free(ugrpc__tls *t)
{
    if (t == NULL) return;
    SSL_free(t->ssl);
    ugrpc__free(t);
}

int ugrpc__tls_ready(const ugrpc__tls *t)
{
    return t->ready;
}

int ugrpc__tls_feed(ugrpc__tls *t, const uint8_t *data, size_t len,
                    int (*deliver)(void *ud, const uint8_t *p, size_t n), void *ud)
{
    while (len > 0) {
        int n = BIO_write(t->rbio, data, len > INT32_MAX ? INT32_MAX : (int)len);
        if (n <= 0) return UGRPC_ENOMEM;
        data += n;
        len -= (size_t)n;
    }
    if (!t->ready) {
        int rv = SSL_do_handshake(t->ssl);
        if (rv != 1) {
            int err = SSL_get_error(t->ssl, rv);
            ERR_clear_error();
            return err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE ? 0 : UGRPC_EPROTO;
        }
        t->ready = 1;
    }
    uint8_t buf[16384];
    for (;;) {
        int n = SSL_read(t->ssl, buf, sizeof(buf));
        if (n > 0) {
            int rv = deliver(ud, buf, (size_t)n);
            if (rv < 0) return rv;
            continue;
        }
        int err = SSL_get_error(t->ssl, n);
        ERR_clear_error();
        if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return 0;
        return UGRPC_EPROTO; /* close_notify or a bad record */
    }
}

int ugrpc__tls_write(ugrpc__tls *t, ugrpc__buf *plain)
{
    if (!t->ready) return 0;
    while (ugrpc__buf_avail(plain) > 0) {
        size_t avail = ugrpc__buf_avail(plain);
        int n =
            SSL_write(t->ssl, plain->data + plain->off, avail > INT32_MAX ? INT32_MAX : (int)avail);
        if (n <= 0) {
            ERR_clear_error();
            return UGRPC_EPROTO;
        }
        plain->off += (size_t)n;
    }
    ugrpc__buf_clear(plain);
    return 0;
}

int ugrpc__tls_take_output(ugrpc__tls *t, ugrpc__buf *out)
{
    size_t pending = BIO_ctrl_pending(t->wbio);
    if (pending == 0) return 0;
    if (ugrpc__buf_reserve(out, pending) < 0) return UGRPC_ENOMEM;
    int n = BIO_read(t->wbio, out->data + out->len, (int)pending);
    if (n > 0) out->len += (size_t)n;
    return 0;
}
