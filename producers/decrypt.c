/* decrypt.c: `jukilog decrypt`, which opens a passphrase-protected result (a JKENC1 file,
 * seal.h), such as a bulk provision handed to the department that asked for it.
 *
 * The plaintext goes to stdout or to a new file of mode 0600; an existing file is never
 * replaced, so a result cannot be written over something else by a slip of the command line.
 * The passphrase comes from a file, never from the command line, where `ps` would show it. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jukilog/cli.h"
#include "jukilog/seal.h"

static const char help[] =
    "usage: jukilog decrypt RESULT.enc --passphrase-file FILE [--out FILE]\n"
    "\n"
    "Decrypts a passphrase-protected result (a JKENC1 file: scrypt and AES-256-GCM; the\n"
    "format is in include/jukilog/seal.h) and writes the plaintext to stdout, or with --out\n"
    "to a new file created with mode 0600 (an existing file is never overwritten).\n"
    "\n"
    "  --passphrase-file FILE  the passphrase: the file's bytes, without one trailing newline\n"
    "                          (at most 1024 bytes, not empty)\n"
    "  --out FILE              write here instead of stdout\n"
    "\n"
    "Exit status: 0 decrypted; 2 with one line when the passphrase is wrong, the file was\n"
    "altered or is not a jukilog encrypted file, or a file cannot be read or written.\n";

/* The whole of path, malloc'd. Works for pipes too (no size known beforehand). */
static int read_all(const char *path, unsigned char **out, size_t *n, jk_err_t *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return jk_err_set(err, "%s: %s", path, strerror(errno));
    size_t cap = 1 << 16, len = 0;
    unsigned char *buf = malloc(cap);
    int rc = buf ? 0 : jk_err_set(err, "%s: out of memory", path);
    while (rc == 0) {
        if (len == cap) {
            unsigned char *more = cap <= SIZE_MAX / 2 ? realloc(buf, cap * 2) : NULL;
            if (more == NULL) {
                rc = jk_err_set(err, "%s: out of memory after %zu bytes", path, len);
                break;
            }
            buf = more;
            cap *= 2;
        }
        ssize_t k = read(fd, buf + len, cap - len);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) rc = jk_err_set(err, "%s: %s", path, strerror(errno));
        if (k <= 0) break;
        len += (size_t)k;
    }
    close(fd);
    if (rc != 0) {
        free(buf);
        return rc;
    }
    *out = buf;
    *n = len;
    return 0;
}

static int write_all(int fd, const unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Writes n bytes to a new file at path, mode 0600 whatever the umask; removes it on failure. */
static int write_new(const char *path, const unsigned char *p, size_t n, jk_err_t *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        if (errno == EEXIST)
            return jk_err_set(err, "%s: already exists; refusing to overwrite it", path);
        return jk_err_set(err, "%s: %s", path, strerror(errno));
    }
    int ok = fchmod(fd, 0600) == 0 && write_all(fd, p, n) == 0 && fsync(fd) == 0;
    int saved = errno;
    if (close(fd) != 0 && ok) {
        ok = 0;
        saved = errno;
    }
    if (ok) return 0;
    unlink(path);
    return jk_err_set(err, "%s: %s", path, strerror(saved));
}

int cmd_decrypt(int argc, char **argv)
{
    static const struct option opts[] = {
        {"passphrase-file", required_argument, NULL, 'p'},
        {"out", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = "decrypt", *passfile = NULL, *outpath = NULL;
    jk_config_t cfg;
    jk_err_t err;
    if (jk_config_load(&cfg, &err)) return jk_cli_fail(cmd, &err);
    int c, rc;
    optind = 1;
    while ((c = getopt_long(argc, argv, "X:p:o:h", opts, NULL)) != -1) {
        if (c == 'p')
            passfile = optarg;
        else if (c == 'o')
            outpath = optarg;
        else if ((rc = jk_cli_option(c, argv, cmd, &cfg, help)) != JK_CLI_NEXT)
            return rc;
    }
    if (optind == argc) return jk_cli_usage(cmd, "name the file to decrypt");
    if (optind + 1 < argc) return jk_cli_usage(cmd, "unexpected argument \"%s\"", argv[optind + 1]);
    if (passfile == NULL) return jk_cli_usage(cmd, "--passphrase-file is required");
    const char *inpath = argv[optind];
    struct stat st;
    /* Said before the work, as well as enforced when the file is created (O_EXCL). */
    if (outpath != NULL && lstat(outpath, &st) == 0) {
        jk_err_set(&err, "%s: already exists; refusing to overwrite it", outpath);
        return jk_cli_fail(cmd, &err);
    }

    char *pass = NULL;
    unsigned char *in = NULL, *pt = NULL;
    size_t passn = 0, inn = 0, n = 0;
    rc = JK_EXIT_ERROR;
    if (jk_pass_read_file(passfile, &pass, &passn, &err) != 0 ||
        read_all(inpath, &in, &inn, &err) != 0)
        goto fail;
    if (jk_pass_decrypt(pass, passn, in, inn, &pt, &n, &err) != 0) {
        jk_err_wrap(&err, "%s", inpath);
        goto fail;
    }
    if (outpath != NULL) {
        if (write_new(outpath, pt, n, &err) != 0) goto fail;
    } else if (write_all(STDOUT_FILENO, pt, n) != 0) {
        jk_err_set(&err, "stdout: %s", strerror(errno));
        goto fail;
    }
    rc = JK_EXIT_OK;
    goto out;
fail:
    rc = jk_cli_fail(cmd, &err);
out:
    jk_pass_free(pass, passn);
    jk_pass_free(pt, n);
    free(in);
    return rc;
}
