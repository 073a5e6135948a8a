#include "store/reader.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#define READ_CHUNK 4096

/* Virtual files do not report their size, so read until EOF, growing the buffer as needed. */
int read_small_file(const char *path, char **ret, size_t *ret_size) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;

        size_t size = READ_CHUNK, n = 0;
        char *buf = malloc(size);
        if (!buf) {
                close(fd);
                return -ENOMEM;
        }

        for (;;) {
                if (n + 1 >= size) {
                        char *p = realloc(buf, size * 2);
                        if (!p) {
                                free(buf);
                                close(fd);
                                return -ENOMEM;
                        }
                        buf = p;
                        size *= 2;
                }
                ssize_t k = read(fd, buf + n, size - n - 1);
                if (k < 0) {
                        int r = -errno;
                        free(buf);
                        close(fd);
                        return r;
                }
                if (k == 0)
                        break;
                n += (size_t) k;
        }
        close(fd);

        buf[n] = 0;
        *ret = buf;
        *ret_size = n;
        return 0;
}
