/* spool.c: the producer's write-ahead file of unconfirmed events (see spool.h).
 *
 * The file only ever grows by whole lines "topic TAB key TAB event NEWLINE", or is cut back to
 * empty. Appends collect in a buffer of our own rather than stdio's, because on a failed write
 * we must know exactly which bytes reached the file: we cut it back to its last complete line
 * and keep the buffer, so the file never holds a partial line except after a crash, and the
 * torn tail of a crash is dropped on the next open. */
#include "jukilog/spool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jukilog/keys.h"

/* Pending bytes are written out once they pass this size; a larger single line is written
 * as soon as it is appended. */
#define SPOOL_BUF_HIGH (64 * 1024)

struct jk_spool {
    char *path;
    int fd;       /* O_APPEND, so writes land at the end whatever readers do */
    off_t size;   /* bytes on file: complete lines only */
    off_t synced; /* bytes known durable (fsynced); -1 when unknown */
    size_t count; /* entries, written and pending */
    char *buf;    /* pending bytes, whole lines */
    size_t len, cap;
};

static int write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Writes the pending bytes. On failure the file is cut back to its last complete line and the
 * bytes stay pending, so a later flush can retry. */
static int spool_flush(jk_spool_t *sp, jk_err_t *err)
{
    if (sp->len == 0) return 0;
    if (write_all(sp->fd, sp->buf, sp->len) != 0) {
        int e = errno;
        (void)!ftruncate(sp->fd, sp->size);
        return jk_err_set(err, "spool %s: write failed: %s", sp->path, strerror(e));
    }
    sp->size += (off_t)sp->len;
    sp->len = 0;
    return 0;
}

/* Counts complete lines and cuts a torn last line off. */
static int spool_recover(jk_spool_t *sp, jk_err_t *err)
{
    char chunk[64 * 1024];
    off_t pos = 0, good = 0;
    ssize_t n;
    while ((n = pread(sp->fd, chunk, sizeof chunk, pos)) != 0) {
        if (n < 0) {
            if (errno == EINTR) continue;
            return jk_err_set(err, "spool %s: read failed: %s", sp->path, strerror(errno));
        }
        for (ssize_t i = 0; i < n; i++) {
            if (chunk[i] == '\n') {
                sp->count++;
                good = pos + i + 1;
            }
        }
        pos += n;
    }
    if (pos != good) {
        if (ftruncate(sp->fd, good) != 0 || fsync(sp->fd) != 0)
            return jk_err_set(err, "spool %s: cannot drop the torn last line: %s", sp->path,
                              strerror(errno));
    }
    sp->size = good;
    return 0;
}

jk_spool_t *jk_spool_open(const char *path, jk_err_t *err)
{
    jk_spool_t *sp = calloc(1, sizeof *sp);
    char *dir = strdup(path);
    if (sp == NULL || dir == NULL || (sp->path = strdup(path)) == NULL) {
        free(sp);
        free(dir);
        jk_err_set(err, "spool %s: out of memory", path);
        return NULL;
    }
    sp->fd = -1;
    sp->synced = -1;
    char *slash = strrchr(dir, '/');
    struct stat sb;
    if (slash != NULL && slash != dir) {
        *slash = '\0';
        if (stat(dir, &sb) != 0 && jk_mkdirs(dir, 0700, err) != 0) {
            jk_err_wrap(err, "spool %s", path);
            goto fail;
        }
    }
    sp->fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (sp->fd < 0) {
        jk_err_set(err, "spool %s: cannot open: %s", path, strerror(errno));
        goto fail;
    }
    /* Two producers appending to one spool would interleave their entries and each clear the
     * other's: the second one is refused. */
    if (flock(sp->fd, LOCK_EX | LOCK_NB) != 0) {
        jk_err_set(err, "spool %s: %s", path,
                   errno == EWOULDBLOCK ? "in use by another process" : strerror(errno));
        goto fail;
    }
    if (spool_recover(sp, err) != 0) goto fail;
    free(dir);
    return sp;
fail:
    free(dir);
    jk_spool_close(sp);
    return NULL;
}

void jk_spool_close(jk_spool_t *sp)
{
    if (sp == NULL) return;
    /* Best effort: what was never synced was never promised to be durable. */
    if (sp->fd >= 0) {
        spool_flush(sp, NULL);
        close(sp->fd);
    }
    free(sp->buf);
    free(sp->path);
    free(sp);
}

size_t jk_spool_count(const jk_spool_t *sp)
{
    return sp->count;
}

int jk_spool_append(jk_spool_t *sp, const char *topic, const char *key, const char *event,
                    jk_err_t *err)
{
    if (topic[0] == '\0' || strpbrk(topic, "\t\n") != NULL)
        return jk_err_set(err, "spool %s: topic \"%s\" is empty or holds a TAB or NEWLINE",
                          sp->path, topic);
    if (strpbrk(key, "\t\n") != NULL)
        return jk_err_set(err, "spool %s: key holds a TAB or NEWLINE", sp->path);
    if (strchr(event, '\n') != NULL)
        return jk_err_set(err, "spool %s: event holds a NEWLINE", sp->path);

    size_t lt = strlen(topic), lk = strlen(key), le = strlen(event);
    size_t need = lt + lk + le + 3;
    if (sp->len + need > sp->cap) {
        size_t cap = sp->cap ? sp->cap : 4096;
        while (cap < sp->len + need)
            cap *= 2;
        char *nb = realloc(sp->buf, cap);
        if (nb == NULL) return jk_err_set(err, "spool %s: out of memory", sp->path);
        sp->buf = nb;
        sp->cap = cap;
    }
    char *p = sp->buf + sp->len;
    memcpy(p, topic, lt);
    p += lt;
    *p++ = '\t';
    memcpy(p, key, lk);
    p += lk;
    *p++ = '\t';
    memcpy(p, event, le);
    p += le;
    *p = '\n';
    sp->len += need;
    if (sp->len >= SPOOL_BUF_HIGH && spool_flush(sp, err) != 0) {
        sp->len -= need; /* this entry is refused; those before it stay pending */
        return -1;
    }
    sp->count++;
    return 0;
}

int jk_spool_sync(jk_spool_t *sp, jk_err_t *err)
{
    if (spool_flush(sp, err) != 0) return -1;
    if (sp->synced == sp->size) return 0; /* nothing written since the last fsync */
    if (fsync(sp->fd) != 0)
        return jk_err_set(err, "spool %s: fsync failed: %s", sp->path, strerror(errno));
    sp->synced = sp->size;
    return 0;
}

int jk_spool_foreach(jk_spool_t *sp, jk_spool_fn fn, void *ctx, jk_err_t *err)
{
    if (spool_flush(sp, err) != 0) return -1;
    /* A descriptor of our own, so reading has its own offset; entries appended by fn while we
     * read are beyond `end` and not visited. */
    int fd = open(sp->path, O_RDONLY | O_CLOEXEC);
    FILE *fp = fd >= 0 ? fdopen(fd, "r") : NULL;
    if (fp == NULL) {
        int e = errno;
        if (fd >= 0) close(fd);
        return jk_err_set(err, "spool %s: cannot open for reading: %s", sp->path, strerror(e));
    }
    off_t end = sp->size, pos = 0;
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t n;
    int rc = 0;
    while (pos < end && (n = getline(&line, &cap, fp)) > 0) {
        pos += n;
        lineno++;
        if (line[n - 1] != '\n') {
            rc = jk_err_set(err, "spool %s: line %zu has no end (file changed under us)", sp->path,
                            lineno);
            break;
        }
        line[n - 1] = '\0';
        char *t1 = strchr(line, '\t');
        char *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
        if (t2 == NULL) {
            rc = jk_err_set(err, "spool %s: line %zu is not topic TAB key TAB event", sp->path,
                            lineno);
            break;
        }
        *t1 = *t2 = '\0';
        if ((rc = fn(ctx, line, t1 + 1, t2 + 1)) != 0) break;
    }
    if (rc == 0 && ferror(fp))
        rc = jk_err_set(err, "spool %s: read failed: %s", sp->path, strerror(errno));
    else if (rc == 0 && pos < end)
        rc = jk_err_set(err, "spool %s: shorter than expected (%lld of %lld bytes)", sp->path,
                        (long long)pos, (long long)end);
    free(line);
    fclose(fp);
    return rc;
}

int jk_spool_clear(jk_spool_t *sp, jk_err_t *err)
{
    sp->len = 0;
    sp->synced = -1;
    if (ftruncate(sp->fd, 0) != 0 || fsync(sp->fd) != 0)
        return jk_err_set(err, "spool %s: cannot clear: %s", sp->path, strerror(errno));
    sp->size = 0;
    sp->synced = 0;
    sp->count = 0;
    return 0;
}
