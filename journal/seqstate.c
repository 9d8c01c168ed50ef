/* seqstate.c: the producer's state file (see seqstate.h).
 *
 * The file is one small JSON object {"prev":"<64 hex>","seq":N,"source":"cs:352039"}. A producer
 * saves it before it sends the event it describes, so the file never lags behind the log: after a
 * crash the next event continues the chain instead of reusing a seq. Saving goes through
 * "<path>.tmp", fsync, rename and an fsync of the directory, which makes the rename itself
 * durable; a reader sees the old state or the new one, never a mix. */
#include "jukilog/seqstate.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "jukilog/envelope.h"
#include "jukilog/keys.h"
#include "jukilog/util.h"

int jk_seqstate_load(const char *path, const char *source, jk_seqstate_t *st, jk_err_t *err)
{
    FILE *fp = fopen(path, "r");
    if (fp == NULL) {
        if (errno != ENOENT)
            return jk_err_set(err, "state file %s: cannot open: %s", path, strerror(errno));
        st->seq = 0;
        memcpy(st->prev, JK_ZERO_HASH, sizeof st->prev);
        return 0;
    }
    json_error_t jerr;
    json_t *root = json_loadf(fp, JSON_REJECT_DUPLICATES, &jerr);
    int rerr = ferror(fp);
    fclose(fp);
    if (rerr) {
        json_decref(root);
        return jk_err_set(err, "state file %s: read error", path);
    }
    if (root == NULL)
        return jk_err_set(err, "state file %s: not JSON: %s (line %d)", path, jerr.text, jerr.line);

    int rc = -1;
    json_t *jsrc = json_object_get(root, "source");
    json_t *jseq = json_object_get(root, "seq");
    json_t *jprev = json_object_get(root, "prev");
    if (!json_is_object(root))
        jk_err_set(err, "state file %s: not a JSON object", path);
    else if (!json_is_string(jsrc))
        jk_err_set(err, "state file %s: \"source\" missing or not a string", path);
    else if (strcmp(json_string_value(jsrc), source) != 0)
        jk_err_set(err, "state file %s: belongs to source %s, not %s", path,
                   json_string_value(jsrc), source);
    else if (!json_is_integer(jseq) || json_integer_value(jseq) < 0)
        jk_err_set(err, "state file %s: \"seq\" missing or not an integer >= 0", path);
    else if (!json_is_string(jprev) || !jk_is_hex(json_string_value(jprev), 64))
        jk_err_set(err, "state file %s: \"prev\" missing or not 64 lower-case hex digits", path);
    else {
        st->seq = json_integer_value(jseq);
        memcpy(st->prev, json_string_value(jprev), sizeof st->prev);
        rc = 0;
    }
    json_decref(root);
    return rc;
}

/* Makes a rename in the directory of path durable. */
static int fsync_parent(const char *dir, jk_err_t *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return jk_err_set(err, "cannot open directory %s: %s", dir, strerror(errno));
    int rc = 0;
    if (fsync(fd) != 0) rc = jk_err_set(err, "fsync of %s: %s", dir, strerror(errno));
    close(fd);
    return rc;
}

static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

int jk_seqstate_save(const char *path, const char *source, const jk_seqstate_t *st, jk_err_t *err)
{
    if (st->seq < 0 || !jk_is_hex(st->prev, 64))
        return jk_err_set(err, "state file %s: refusing to save seq %lld with prev \"%.64s\"", path,
                          (long long)st->seq, st->prev);

    char *dir = strdup(path);
    char *tmp = malloc(strlen(path) + 5);
    json_t *root = json_pack("{s:s, s:I, s:s}", "source", source, "seq", (json_int_t)st->seq,
                             "prev", st->prev);
    char *text = root ? json_dumps(root, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
    json_decref(root);
    int rc = -1, fd = -1;
    if (dir == NULL || tmp == NULL || text == NULL) {
        jk_err_set(err, "state file %s: out of memory", path);
        goto out;
    }
    char *slash = strrchr(dir, '/');
    if (slash == NULL)
        strcpy(dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    struct stat sb;
    if (stat(dir, &sb) != 0 && jk_mkdirs(dir, 0700, err) != 0) {
        jk_err_wrap(err, "state file %s", path);
        goto out;
    }

    sprintf(tmp, "%s.tmp", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        jk_err_set(err, "state file %s: cannot create %s: %s", path, tmp, strerror(errno));
        goto out;
    }
    if (write_all(fd, text, strlen(text)) != 0 || write_all(fd, "\n", 1) != 0 || fsync(fd) != 0) {
        jk_err_set(err, "state file %s: cannot write %s: %s", path, tmp, strerror(errno));
        goto out_unlink;
    }
    int cerr = close(fd);
    fd = -1;
    if (cerr != 0) {
        jk_err_set(err, "state file %s: cannot write %s: %s", path, tmp, strerror(errno));
        goto out_unlink;
    }
    if (rename(tmp, path) != 0) {
        jk_err_set(err, "state file %s: cannot rename %s over it: %s", path, tmp, strerror(errno));
        goto out_unlink;
    }
    rc = fsync_parent(dir, err) == 0 ? 0 : jk_err_wrap(err, "state file %s", path);
    goto out;

out_unlink:
    if (fd >= 0) close(fd);
    fd = -1;
    unlink(tmp);
out:
    if (fd >= 0) close(fd);
    free(text);
    free(tmp);
    free(dir);
    return rc;
}
