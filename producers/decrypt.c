/* decrypt.c: `jukilog decrypt`, which opens a passphrase-protected result (a JKENC1 file,
 * seal.h), such as a bulk provision handed to the department that asked for it.
 *
 * The plaintext goes to stdout or to a new file of mode 0600; an existing file is never
 * replaced, so a result cannot be written over something else by a slip of the command line.
 * The passphrase comes from a file, never from the command line, where `ps` would show it. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jukilog/cli.h"
#include "jukilog/file.h"
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
        jk_file_read(inpath, &in, &inn, &err) != 0)
        goto fail;
    if (jk_pass_decrypt(pass, passn, in, inn, &pt, &n, &err) != 0) {
        jk_err_wrap(&err, "%s", inpath);
        goto fail;
    }
    if (outpath != NULL) {
        if (jk_file_write_new(outpath, pt, n, &err) != 0) goto fail;
    } else if (fwrite(pt, 1, n, stdout) != n || fflush(stdout) != 0) {
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
