/* keys.c: Ed25519 keys on disk and on the log (keys.h).
 *
 * A private key file is written once and never replaced: the file appears under its name only
 * when complete and durable (temporary file, fsync, rename without replacement, fsync of the
 * directory), so a crash leaves either no key or the whole key, and an enrolled key can never be
 * silently overwritten by a second `enroll`. */
#include "jukilog/keys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "jukilog/envelope.h"
#include "jukilog/util.h"

#define RAW_LEN 32

/* The reason OpenSSL queued, for messages; clears the queue so it does not leak into the next
 * caller's diagnosis. */
static const char *ssl_reason(char *buf, size_t cap)
{
    unsigned long e = ERR_peek_last_error();
    if (e == 0)
        snprintf(buf, cap, "unknown OpenSSL error");
    else
        ERR_error_string_n(e, buf, cap);
    ERR_clear_error();
    return buf;
}

static EVP_PKEY *generate(const char *type, const char *label, jk_err_t *err)
{
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, type);
    if (key == NULL) {
        char why[256];
        jk_err_set(err, "cannot generate an %s key: %s", label, ssl_reason(why, sizeof why));
    }
    return key;
}

EVP_PKEY *jk_key_generate(jk_err_t *err)
{
    return generate("ED25519", "Ed25519", err);
}

EVP_PKEY *jk_key_generate_x25519(jk_err_t *err)
{
    return generate("X25519", "X25519", err);
}

int jk_mkdirs(const char *path, int mode, jk_err_t *err)
{
    if (path == NULL || path[0] == '\0') return jk_err_set(err, "mkdir: empty path");
    char *p = strdup(path);
    if (p == NULL) return jk_err_set(err, "mkdir %s: out of memory", path);
    int rc = 0;
    /* Create each prefix in turn; one that exists is fine as long as it is a directory. */
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0') continue;
        char c = *s;
        *s = '\0';
        struct stat st;
        if (mkdir(p, (mode_t)mode) != 0 && errno != EEXIST) {
            rc = jk_err_set(err, "mkdir %s: %s", p, strerror(errno));
        } else if (stat(p, &st) != 0 || !S_ISDIR(st.st_mode)) {
            rc = jk_err_set(err, "mkdir %s: exists and is not a directory", p);
        }
        *s = c;
        if (rc != 0 || c == '\0') break;
    }
    free(p);
    return rc;
}

/* The directory part of path ("." when there is none); malloc'd. */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL) return strdup(".");
    if (slash == path) return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

int jk_key_save(EVP_PKEY *key, const char *path, jk_err_t *err)
{
    struct stat st;
    if (lstat(path, &st) == 0)
        return jk_err_set(err, "%s: already exists; refusing to overwrite a key", path);

    char *dir = dir_of(path);
    size_t tlen = strlen(path) + sizeof ".tmp.XXXXXX";
    char *tmp = malloc(tlen);
    if (dir == NULL || tmp == NULL) {
        free(dir);
        free(tmp);
        return jk_err_set(err, "%s: out of memory", path);
    }
    tmp[0] = '\0'; /* names a file to remove on failure once mkstemp made one */

    int rc = -1, fd = -1;
    FILE *fp = NULL;
    if (jk_mkdirs(dir, 0700, err) != 0) {
        jk_err_wrap(err, "%s", path);
        goto out;
    }
    /* mkstemp creates the file 0600; fchmod states it rather than trusting that. */
    snprintf(tmp, tlen, "%s.tmp.XXXXXX", path);
    fd = mkstemp(tmp);
    if (fd < 0) {
        jk_err_set(err, "%s: cannot create a temporary file: %s", path, strerror(errno));
        tmp[0] = '\0';
        goto out;
    }
    if (fchmod(fd, 0600) != 0 || (fp = fdopen(fd, "w")) == NULL) {
        jk_err_set(err, "%s: %s", tmp, strerror(errno));
        goto out;
    }
    fd = -1; /* owned by fp now */
    if (PEM_write_PrivateKey(fp, key, NULL, NULL, 0, NULL, NULL) != 1) {
        char why[256];
        jk_err_set(err, "%s: cannot write the key: %s", path, ssl_reason(why, sizeof why));
        goto out;
    }
    if (fflush(fp) != 0 || fsync(fileno(fp)) != 0) {
        jk_err_set(err, "%s: %s", tmp, strerror(errno));
        goto out;
    }
    int closed = fclose(fp);
    fp = NULL;
    if (closed != 0) {
        jk_err_set(err, "%s: %s", tmp, strerror(errno));
        goto out;
    }
    /* RENAME_NOREPLACE closes the window between the lstat above and here: a key that appeared
     * meanwhile is still not overwritten. */
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) != 0) {
        if (errno == EEXIST)
            jk_err_set(err, "%s: already exists; refusing to overwrite a key", path);
        else
            jk_err_set(err, "%s: cannot rename %s into place: %s", path, tmp, strerror(errno));
        goto out;
    }
    tmp[0] = '\0'; /* nothing left to clean up */
    if (fsync_dir(dir) != 0) {
        jk_err_set(err, "%s: fsync: %s", dir, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    if (fp != NULL) fclose(fp);
    if (fd >= 0) close(fd);
    if (tmp[0] != '\0') unlink(tmp);
    free(tmp);
    free(dir);
    return rc;
}

/* A passphrase callback that declines: key files are not encrypted, and without it OpenSSL would
 * prompt on the terminal from inside a library call. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf, (void)size, (void)rwflag, (void)u;
    return -1;
}

static EVP_PKEY *load(const char *path, const char *type, const char *label, jk_err_t *err)
{
    FILE *fp = fopen(path, "r");
    if (fp == NULL) {
        jk_err_set(err, "%s: %s", path, strerror(errno));
        return NULL;
    }
    EVP_PKEY *key = PEM_read_PrivateKey(fp, NULL, no_passphrase, NULL);
    fclose(fp);
    if (key == NULL) {
        char why[256];
        jk_err_set(err, "%s: not a PEM private key: %s", path, ssl_reason(why, sizeof why));
        return NULL;
    }
    if (!EVP_PKEY_is_a(key, type)) {
        EVP_PKEY_free(key);
        jk_err_set(err, "%s: not an %s key", path, label);
        return NULL;
    }
    return key;
}

EVP_PKEY *jk_key_load(const char *path, jk_err_t *err)
{
    return load(path, "ED25519", "Ed25519", err);
}

EVP_PKEY *jk_key_load_x25519(const char *path, jk_err_t *err)
{
    return load(path, "X25519", "X25519", err);
}

static int raw_public(EVP_PKEY *key, unsigned char raw[RAW_LEN], jk_err_t *err)
{
    size_t n = RAW_LEN;
    if (key == NULL || !(EVP_PKEY_is_a(key, "ED25519") || EVP_PKEY_is_a(key, "X25519")))
        return jk_err_set(err, "not an Ed25519 or X25519 key");
    if (EVP_PKEY_get_raw_public_key(key, raw, &n) != 1 || n != RAW_LEN) {
        ERR_clear_error();
        return jk_err_set(err, "cannot read the raw public key");
    }
    return 0;
}

char *jk_key_public_b64(EVP_PKEY *key, jk_err_t *err)
{
    unsigned char raw[RAW_LEN];
    if (raw_public(key, raw, err) != 0) return NULL;
    char *b64 = jk_b64_encode(raw, sizeof raw);
    if (b64 == NULL) jk_err_set(err, "out of memory");
    return b64;
}

static EVP_PKEY *from_public_b64(const char *b64, int type, const char *label, jk_err_t *err)
{
    unsigned char *raw;
    size_t n;
    if (jk_b64_decode(b64, &raw, &n) != 0) raw = NULL;
    if (raw == NULL || n != RAW_LEN) {
        free(raw);
        jk_err_set(err, "public key is not base64 of %d bytes", RAW_LEN);
        return NULL;
    }
    EVP_PKEY *key = EVP_PKEY_new_raw_public_key(type, NULL, raw, n);
    free(raw);
    if (key == NULL) {
        char why[256];
        jk_err_set(err, "not an %s public key: %s", label, ssl_reason(why, sizeof why));
    }
    return key;
}

EVP_PKEY *jk_key_from_public_b64(const char *b64, jk_err_t *err)
{
    return from_public_b64(b64, EVP_PKEY_ED25519, "Ed25519", err);
}

EVP_PKEY *jk_key_from_public_b64_x25519(const char *b64, jk_err_t *err)
{
    return from_public_b64(b64, EVP_PKEY_X25519, "X25519", err);
}

int jk_key_id(EVP_PKEY *key, char out[17], jk_err_t *err)
{
    unsigned char raw[RAW_LEN];
    char hex[65];
    if (raw_public(key, raw, err) != 0) return -1;
    if (jk_sha256_hex(raw, sizeof raw, hex) != 0) return jk_err_set(err, "SHA-256 failed");
    memcpy(out, hex, 16);
    out[16] = '\0';
    return 0;
}
