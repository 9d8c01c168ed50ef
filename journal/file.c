/* file.c: whole files in and out (file.h). */
#include "jukilog/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int jk_file_read(const char *path, unsigned char **out, size_t *n, jk_err_t *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return jk_err_set(err, "%s: %s", path, strerror(errno));
    size_t cap = 1 << 16, len = 0;
    unsigned char *buf = malloc(cap);
    int rc = buf ? 0 : jk_err_set(err, "%s: out of memory", path);
    while (rc == 0) {
        if (len + 1 >= cap) { /* room for the NUL */
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
    buf[len] = '\0';
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

int jk_file_write_new(const char *path, const void *p, size_t n, jk_err_t *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        if (errno == EEXIST)
            return jk_err_set(err, "%s: already exists; refusing to overwrite it", path);
        return jk_err_set(err, "%s: %s", path, strerror(errno));
    }
    int ok =
        fchmod(fd, 0600) == 0 && write_all(fd, (const unsigned char *)p, n) == 0 && fsync(fd) == 0;
    int saved = errno;
    if (close(fd) != 0 && ok) {
        ok = 0;
        saved = errno;
    }
    if (ok) return 0;
    unlink(path);
    return jk_err_set(err, "%s: %s", path, strerror(saved));
}
