/* demod: a tiny daemon that answers "who is client N?" over a unix socket, reading the caller's /proc entry
 * like journald's client_context_read_basic() does, and keeping the answers in a bounded cache. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "store/cache.h"

#define LOG_RING 256
#define CATALOG_SIZE (6u << 20)

static volatile sig_atomic_t stopping;
static char *log_ring[LOG_RING];
static unsigned log_next;
static unsigned long long requests;

static void on_term(int sig) {
        (void) sig;
        stopping = 1;
}

static uint64_t now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

/* The message catalog is parsed once at startup from a large scratch buffer that is freed afterwards. Because that
 * buffer is above glibc's mmap threshold it is mmap()ed, and freeing an mmap()ed chunk makes glibc raise its dynamic
 * mmap threshold to the chunk's size (and the trim threshold to twice that). From then on allocations of a few MiB
 * come from the brk heap instead of fresh mappings - the state a long-running daemon's heap is typically in. */
static unsigned long load_catalog(void) {
        unsigned char *scratch = malloc(CATALOG_SIZE);
        if (!scratch)
                return 0;
        memset(scratch, 'c', CATALOG_SIZE);
        unsigned long sum = 0;
        for (size_t i = 0; i < CATALOG_SIZE; i += 4096)
                sum += scratch[i];
        free(scratch);
        return sum;
}

/* Recent log lines are kept for the status command; the oldest is dropped when the ring is full. */
static void log_line(const char *line) {
        free(log_ring[log_next]);
        log_ring[log_next] = strdup(line);
        log_next = (log_next + 1) % LOG_RING;
}

static int peer_pid(int fd) {
        struct ucred cred;
        socklen_t len = sizeof(cred);
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
                return getpid();
        return cred.pid;
}

static void handle(int fd, int pid, unsigned id) {
        cache_entry *e = cache_refresh(id, pid, now_ns());
        requests++;

        /* The reply is formatted into a scratch buffer sized by the request, then dropped. */
        size_t reply_size = 128 + (id % 16) * 64;
        char *reply = malloc(reply_size);
        if (!reply)
                return;
        int n = snprintf(reply, reply_size, "%u %s %zu\n", id, e ? e->label : "unknown", e ? e->stat_size : 0);
        if (n > 0 && write(fd, reply, (size_t) n) < 0 && errno != EPIPE)
                perror("write");
        free(reply);

        char line[160];
        snprintf(line, sizeof(line), "request %llu from pid %d for client %u (%zu bytes of stat)%*s", requests, pid, id,
                 e ? e->stat_size : 0, (int) (id % 64), "");
        log_line(line);
}

static void serve(int conn) {
        int pid = peer_pid(conn);
        char buf[4096];
        size_t have = 0;

        while (!stopping) {
                ssize_t k = read(conn, buf + have, sizeof(buf) - have - 1);
                if (k <= 0)
                        break;
                have += (size_t) k;
                buf[have] = 0;
                char *start = buf, *nl;
                while ((nl = strchr(start, '\n'))) {
                        *nl = 0;
                        handle(conn, pid, (unsigned) strtoul(start, NULL, 10));
                        start = nl + 1;
                }
                have -= (size_t) (start - buf);
                memmove(buf, start, have);
        }
}

int main(int argc, char **argv) {
        if (argc < 2) {
                fprintf(stderr, "usage: %s SOCKET\n", argv[0]);
                return 2;
        }
        const char *path = argv[1];

        struct sigaction sa = { .sa_handler = on_term };
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);

        cache_init();
        fprintf(stderr, "demod: catalog checksum %lu\n", load_catalog());

        int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (s < 0) {
                perror("socket");
                return 1;
        }
        struct sockaddr_un addr = { .sun_family = AF_UNIX };
        if (strlen(path) >= sizeof(addr.sun_path)) {
                fprintf(stderr, "demod: socket path too long: %s\n", path);
                return 2;
        }
        strcpy(addr.sun_path, path);
        unlink(path);
        if (bind(s, (struct sockaddr *) &addr, sizeof(addr)) < 0 || listen(s, 16) < 0) {
                perror("bind/listen");
                return 1;
        }
        fprintf(stderr, "demod: listening on %s\n", path);

        while (!stopping) {
                int conn = accept4(s, NULL, NULL, SOCK_CLOEXEC);
                if (conn < 0) {
                        if (errno == EINTR)
                                continue;
                        perror("accept");
                        break;
                }
                serve(conn);
                close(conn);
        }

        unlink(path);
        cache_clear();
        fprintf(stderr, "demod: %llu requests served\n", requests);
        return 0;
}
