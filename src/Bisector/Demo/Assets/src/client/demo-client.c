/* demo-client: the workload. Connects to demod and asks about client ids at a steady pace until killed,
 * so every build of the daemon sees the same request stream. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define BATCH 20
#define BATCH_INTERVAL_NS 10000000L /* 20 requests per 10 ms: about 2000 requests per second */

int main(int argc, char **argv) {
        if (argc < 2) {
                fprintf(stderr, "usage: %s SOCKET [REQUESTS]\n", argv[0]);
                return 2;
        }
        long limit = argc > 2 ? atol(argv[2]) : -1;

        int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un addr = { .sun_family = AF_UNIX };
        strncpy(addr.sun_path, argv[1], sizeof(addr.sun_path) - 1);
        for (int attempt = 0; connect(s, (struct sockaddr *) &addr, sizeof(addr)) < 0; attempt++) {
                if (attempt == 100) {
                        perror("connect");
                        return 1;
                }
                usleep(50000);
        }

        /* A fixed seed keeps the request stream identical from run to run. */
        unsigned seed = 12345;
        char line[4096];
        struct timespec next;
        clock_gettime(CLOCK_MONOTONIC, &next);
        for (long sent = 0; limit < 0 || sent < limit; ) {
                for (int i = 0; i < BATCH; i++, sent++) {
                        char req[32];
                        int n = snprintf(req, sizeof(req), "%u\n", rand_r(&seed) % 1024);
                        if (write(s, req, (size_t) n) != n)
                                return 1;
                        if (read(s, line, sizeof(line)) <= 0)
                                return 1;
                }
                next.tv_nsec += BATCH_INTERVAL_NS;
                if (next.tv_nsec >= 1000000000L) {
                        next.tv_sec++;
                        next.tv_nsec -= 1000000000L;
                }
                clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
        }
        return 0;
}
