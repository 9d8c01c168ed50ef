/* test_keys.c: Ed25519 key files, public keys in base64 and key ids (journal/keys.c).
 *
 * The RFC 8032 test-1 key's public base64 and id were computed outside this code:
 *   openssl pkey -in k.pem -pubout -outform DER | tail -c 32 | base64
 *   openssl pkey -in k.pem -pubout -outform DER | tail -c 32 | sha256sum | cut -c1-16 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/pem.h>

#include "jukilog/envelope.h"
#include "jukilog/keys.h"

static const unsigned char RFC_SEED[32] = {
    0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a, 0xf4, 0x92, 0xec, 0x2c, 0xc4,
    0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32, 0x69, 0x19, 0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae, 0x7f, 0x60};
#define RFC_PUB_B64 "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
#define RFC_KEY_ID "21fe31dfa154a261"

/* Each test gets a fresh directory under /tmp, removed (with what is in it, two levels deep) at
 * the end. */
static int setup_dir(void **state)
{
    char *dir = strdup("/tmp/jk_test_keys.XXXXXX");
    if (dir == NULL || mkdtemp(dir) == NULL) return -1;
    umask(022);
    *state = dir;
    return 0;
}

static void remove_tree(const char *path, int depth)
{
    DIR *d = opendir(path);
    if (d != NULL) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
            char sub[1024];
            if (snprintf(sub, sizeof sub, "%s/%s", path, e->d_name) >= (int)sizeof sub) continue;
            if (depth > 0) remove_tree(sub, depth - 1);
            unlink(sub);
        }
        closedir(d);
    }
    rmdir(path);
}

static int teardown_dir(void **state)
{
    remove_tree(*state, 4);
    free(*state);
    return 0;
}

static char *path_in(void **state, const char *name)
{
    char *p = malloc(strlen(*state) + strlen(name) + 2);
    assert_non_null(p);
    sprintf(p, "%s/%s", (char *)*state, name);
    return p;
}

static size_t count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) n++;
    closedir(d);
    return n;
}

static void test_generate_save_load(void **state)
{
    jk_err_t err = {""};
    char *path = path_in(state, "keys/cs-352039.pem");
    EVP_PKEY *key = jk_key_generate(&err);
    assert_non_null(key);
    assert_true(EVP_PKEY_is_a(key, "ED25519"));

    assert_int_equal(jk_key_save(key, path, &err), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0600);
    /* The parent was created 0700, and holds nothing but the key (no temporary left). */
    char *dir = path_in(state, "keys");
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
    assert_int_equal(count_entries(dir), 1);

    /* PEM, unencrypted PKCS#8. */
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    char line[64];
    assert_non_null(fgets(line, sizeof line, fp));
    assert_string_equal(line, "-----BEGIN PRIVATE KEY-----\n");
    fclose(fp);

    EVP_PKEY *back = jk_key_load(path, &err);
    assert_non_null(back);
    assert_int_equal(EVP_PKEY_eq(key, back), 1);
    unsigned char a[32], b[32];
    size_t an = sizeof a, bn = sizeof b;
    assert_int_equal(EVP_PKEY_get_raw_private_key(key, a, &an), 1);
    assert_int_equal(EVP_PKEY_get_raw_private_key(back, b, &bn), 1);
    assert_memory_equal(a, b, 32);

    /* What one signs, the other verifies. */
    jk_envelope_t *ev = jk_envelope_new("t", "test:x", NULL, json_object(), &err);
    assert_non_null(ev);
    ev->seq = 1;
    assert_int_equal(jk_envelope_sign(ev, back, &err), 0);
    assert_int_equal(jk_envelope_verify(ev, key, &err), 0);
    jk_envelope_free(ev);

    EVP_PKEY_free(back);
    EVP_PKEY_free(key);
    free(dir);
    free(path);
}

static void test_save_refuses_overwrite(void **state)
{
    jk_err_t err = {""};
    char *path = path_in(state, "admin.pem");
    EVP_PKEY *k1 = jk_key_generate(&err), *k2 = jk_key_generate(&err);
    assert_non_null(k1);
    assert_non_null(k2);
    assert_int_equal(jk_key_save(k1, path, &err), 0);

    assert_int_equal(jk_key_save(k2, path, &err), -1);
    char want[600];
    snprintf(want, sizeof want, "%s: already exists; refusing to overwrite a key", path);
    assert_string_equal(err.msg, want);

    /* The first key is still there, alone. */
    EVP_PKEY *back = jk_key_load(path, &err);
    assert_non_null(back);
    assert_int_equal(EVP_PKEY_eq(k1, back), 1);
    assert_int_equal(count_entries(*state), 1);

    /* Also when what is there is not a key, or is a dangling symbolic link. */
    char *other = path_in(state, "other");
    fclose(fopen(other, "w"));
    assert_int_equal(jk_key_save(k1, other, &err), -1);
    assert_non_null(strstr(err.msg, "already exists"));
    char *link = path_in(state, "link");
    assert_int_equal(symlink("/nonexistent/jk", link), 0);
    assert_int_equal(jk_key_save(k1, link, &err), -1);
    assert_non_null(strstr(err.msg, "already exists"));

    EVP_PKEY_free(back);
    EVP_PKEY_free(k1);
    EVP_PKEY_free(k2);
    free(link);
    free(other);
    free(path);
}

static void test_save_errors(void **state)
{
    jk_err_t err = {""};
    EVP_PKEY *key = jk_key_generate(&err);
    assert_non_null(key);
    /* A parent that is a file. */
    char *file = path_in(state, "file");
    fclose(fopen(file, "w"));
    char *path = path_in(state, "file/key.pem");
    assert_int_equal(jk_key_save(key, path, &err), -1);
    char want[600];
    snprintf(want, sizeof want, "%s: mkdir %s: exists and is not a directory", path, file);
    assert_string_equal(err.msg, want);
    EVP_PKEY_free(key);
    free(path);
    free(file);
}

static void test_load_errors(void **state)
{
    jk_err_t err = {""};
    char want[600];

    char *missing = path_in(state, "missing.pem");
    assert_null(jk_key_load(missing, &err));
    snprintf(want, sizeof want, "%s: No such file or directory", missing);
    assert_string_equal(err.msg, want);

    char *garbage = path_in(state, "garbage.pem");
    FILE *fp = fopen(garbage, "w");
    fputs("not a key\n", fp);
    fclose(fp);
    assert_null(jk_key_load(garbage, &err));
    snprintf(want, sizeof want, "%s: not a PEM private key", garbage);
    assert_memory_equal(err.msg, want, strlen(want));

    /* A valid PEM key of another algorithm. */
    char *ec = path_in(state, "ec.pem");
    EVP_PKEY *eckey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_non_null(eckey);
    fp = fopen(ec, "w");
    assert_int_equal(PEM_write_PrivateKey(fp, eckey, NULL, NULL, 0, NULL, NULL), 1);
    fclose(fp);
    assert_null(jk_key_load(ec, &err));
    snprintf(want, sizeof want, "%s: not an Ed25519 key", ec);
    assert_string_equal(err.msg, want);

    /* An encrypted key is refused without prompting on the terminal. */
    char *enc = path_in(state, "enc.pem");
    EVP_PKEY *ed = jk_key_generate(&err);
    fp = fopen(enc, "w");
    assert_int_equal(
        PEM_write_PrivateKey(fp, ed, EVP_aes_256_cbc(), (unsigned char *)"pw", 2, NULL, NULL), 1);
    fclose(fp);
    assert_null(jk_key_load(enc, &err));
    snprintf(want, sizeof want, "%s: not a PEM private key", enc);
    assert_memory_equal(err.msg, want, strlen(want));

    EVP_PKEY_free(ed);
    EVP_PKEY_free(eckey);
    free(enc);
    free(ec);
    free(garbage);
    free(missing);
}

static void test_public_b64(void **state)
{
    (void)state;
    jk_err_t err = {""};
    EVP_PKEY *rfc = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, RFC_SEED, 32);
    assert_non_null(rfc);
    char *b64 = jk_key_public_b64(rfc, &err);
    assert_non_null(b64);
    assert_string_equal(b64, RFC_PUB_B64);

    EVP_PKEY *pub = jk_key_from_public_b64(b64, &err);
    assert_non_null(pub);
    assert_int_equal(EVP_PKEY_eq(rfc, pub), 1);
    char *again = jk_key_public_b64(pub, &err);
    assert_string_equal(again, RFC_PUB_B64);

    /* The public key verifies what the private one signs. */
    jk_envelope_t *ev = jk_envelope_new("t", "test:x", "s", json_object(), &err);
    assert_non_null(ev);
    ev->seq = 7;
    assert_int_equal(jk_envelope_sign(ev, rfc, &err), 0);
    assert_int_equal(jk_envelope_verify(ev, pub, &err), 0);
    /* It cannot sign. */
    assert_int_equal(jk_envelope_sign(ev, pub, &err), -1);
    jk_envelope_free(ev);

    /* Random keys round-trip too. */
    EVP_PKEY *k = jk_key_generate(&err);
    char *kb = jk_key_public_b64(k, &err);
    assert_non_null(kb);
    assert_int_equal(strlen(kb), 44);
    EVP_PKEY *kp = jk_key_from_public_b64(kb, &err);
    assert_non_null(kp);
    assert_int_equal(EVP_PKEY_eq(k, kp), 1);
    assert_int_equal(EVP_PKEY_eq(rfc, kp), 0);

    const char *bad[] = {
        "",
        "not base64",
        "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHUQ==",  /* 31 bytes */
        "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURoA",  /* 33 bytes */
        "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo",   /* padding missing */
        "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo=",  /* base64url */
        " 11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=", /* white space */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_null(jk_key_from_public_b64(bad[i], &err));
        assert_string_equal(err.msg, "public key is not base64 of 32 bytes");
    }

    /* Not an Ed25519 key. */
    EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_null(jk_key_public_b64(ec, &err));
    assert_string_equal(err.msg, "not an Ed25519 or X25519 key");

    EVP_PKEY_free(ec);
    EVP_PKEY_free(kp);
    EVP_PKEY_free(k);
    free(kb);
    free(again);
    EVP_PKEY_free(pub);
    free(b64);
    EVP_PKEY_free(rfc);
}

static void test_key_id(void **state)
{
    (void)state;
    jk_err_t err = {""};
    char id[17], id2[17];
    EVP_PKEY *rfc = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, RFC_SEED, 32);
    assert_int_equal(jk_key_id(rfc, id, &err), 0);
    assert_string_equal(id, RFC_KEY_ID);

    /* The same from the public half alone. */
    EVP_PKEY *pub = jk_key_from_public_b64(RFC_PUB_B64, &err);
    assert_non_null(pub);
    assert_int_equal(jk_key_id(pub, id2, &err), 0);
    assert_string_equal(id2, RFC_KEY_ID);

    /* Stable for one key, different between keys. */
    EVP_PKEY *k = jk_key_generate(&err);
    assert_int_equal(jk_key_id(k, id, &err), 0);
    assert_int_equal(jk_key_id(k, id2, &err), 0);
    assert_true(jk_is_hex(id, 16));
    assert_string_equal(id, id2);
    assert_string_not_equal(id, RFC_KEY_ID);

    EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_int_equal(jk_key_id(ec, id, &err), -1);
    assert_string_equal(err.msg, "not an Ed25519 or X25519 key");

    EVP_PKEY_free(ec);
    EVP_PKEY_free(k);
    EVP_PKEY_free(pub);
    EVP_PKEY_free(rfc);
}

/* Encryption keys: X25519, saved and loaded like signing keys, never mistaken for them. */
static void test_x25519(void **state)
{
    jk_err_t err = {""};
    char *enc = path_in(state, "enc.pem"), *sig = path_in(state, "sig.pem");
    EVP_PKEY *x = jk_key_generate_x25519(&err), *e = jk_key_generate(&err);
    assert_non_null(x);
    assert_true(EVP_PKEY_is_a(x, "X25519"));
    assert_int_equal(jk_key_save(x, enc, &err), 0);
    assert_int_equal(jk_key_save(e, sig, &err), 0);

    EVP_PKEY *back = jk_key_load_x25519(enc, &err);
    assert_non_null(back);
    assert_int_equal(EVP_PKEY_eq(x, back), 1);
    char *b1 = jk_key_public_b64(x, &err), *b2 = jk_key_public_b64(back, &err);
    assert_non_null(b1);
    assert_int_equal(strlen(b1), 44);
    assert_string_equal(b1, b2);

    /* each loader refuses the other kind, naming the file */
    char want[600];
    assert_null(jk_key_load_x25519(sig, &err));
    snprintf(want, sizeof want, "%s: not an X25519 key", sig);
    assert_string_equal(err.msg, want);
    assert_null(jk_key_load(enc, &err));
    snprintf(want, sizeof want, "%s: not an Ed25519 key", enc);
    assert_string_equal(err.msg, want);

    free(b1);
    free(b2);
    EVP_PKEY_free(back);
    EVP_PKEY_free(x);
    EVP_PKEY_free(e);
    free(enc);
    free(sig);
}

static void test_mkdirs(void **state)
{
    jk_err_t err = {""};
    char *deep = path_in(state, "a/b/c");
    assert_int_equal(jk_mkdirs(deep, 0700, &err), 0);
    struct stat st;
    assert_int_equal(stat(deep, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0700);
    /* Existing directories are fine, also with a trailing or doubled slash. */
    assert_int_equal(jk_mkdirs(deep, 0700, &err), 0);
    char *slashes = path_in(state, "a//b/c/d/");
    assert_int_equal(jk_mkdirs(slashes, 0755, &err), 0);
    char *d = path_in(state, "a/b/c/d");
    assert_int_equal(stat(d, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0755);

    /* A file in the way. */
    char *file = path_in(state, "a/f");
    fclose(fopen(file, "w"));
    char *under = path_in(state, "a/f/g");
    assert_int_equal(jk_mkdirs(under, 0700, &err), -1);
    char want[600];
    snprintf(want, sizeof want, "mkdir %s: exists and is not a directory", file);
    assert_string_equal(err.msg, want);
    assert_int_equal(jk_mkdirs(file, 0700, &err), -1);

    assert_int_equal(jk_mkdirs("", 0700, &err), -1);
    assert_string_equal(err.msg, "mkdir: empty path");

    free(under);
    free(file);
    free(d);
    free(slashes);
    free(deep);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_generate_save_load, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_save_refuses_overwrite, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_save_errors, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_load_errors, setup_dir, teardown_dir),
        cmocka_unit_test(test_public_b64),
        cmocka_unit_test(test_key_id),
        cmocka_unit_test_setup_teardown(test_x25519, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_mkdirs, setup_dir, teardown_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
