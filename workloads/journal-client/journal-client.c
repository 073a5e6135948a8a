/*
 * journal-client — a workload for journald-like daemons, written for Bisector.
 *
 * It is a plain client of journald's public sockets (no systemd code): it forks many short-lived
 * children, and every child logs a few lines through each of the three journald entry points:
 *
 *   <dir>/stdout   stream socket, after the 7-line stream header (identifier, unit, priority,
 *                  level-prefix, forward-to-syslog, forward-to-kmsg, forward-to-console)
 *   <dir>/dev-log  syslog datagrams ("<pri>ident[pid]: msg")
 *   <dir>/socket   native datagrams ("KEY=value\n" fields)
 *
 * Why: journald builds a client context for every new sender PID (client_context_read_basic(),
 * which reads /proc/PID/{comm,exe,cmdline,status,...}). Many distinct, short-lived PIDs with varied
 * comm and cmdline lengths exercise exactly that path, including the race where the sender has
 * already exited when journald reads its /proc files.
 *
 * Each child is a re-exec of this binary (so its /proc/PID/cmdline is its own, of varied length),
 * renamed with prctl(PR_SET_NAME).
 *
 * Usage: journal-client [-d DIR] [-t SECONDS] [-r CHILDREN_PER_SEC] [-n LINES] [-j MAX_CHILDREN]
 *                       [-x PERCENT_EXIT_AT_ONCE] [-s SEED] [-q]
 *   -d  socket directory (default $JOURNAL_CLIENT_DIR, else /run/systemd/journal)
 *   -t  run time in seconds, 0 = forever (default $JOURNAL_CLIENT_SECONDS, else 0)
 *   -r  children started per second, the rate bound (default 50)
 *   -n  lines per child and per socket (default 3)
 *   -j  at most this many children alive at once (default 64)
 *   -x  percent of children that exit right after their last datagram instead of lingering a few
 *       milliseconds (default 50); exiting at once makes journald race with the exit
 *   -s  seed for the pseudo-random names and lengths (default 1), so runs are repeatable
 *   -q  no progress lines on stderr
 * Exit status 0 when the time is up (or SIGTERM/SIGINT), 2 on bad usage, 1 when no socket works.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig) { (void)sig; stop_requested = 1; }

/* xorshift64*: tiny, deterministic, good enough to vary names and lengths */
static uint64_t rng_next(uint64_t *s) {
    *s ^= *s >> 12; *s ^= *s << 25; *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int unix_connect(const char *dir, const char *name, int type) {
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if ((size_t)snprintf(sa.sun_path, sizeof sa.sun_path, "%s/%s", dir, name) >= sizeof sa.sun_path)
        return -1;
    int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    /* A datagram send blocks while the daemon's receive queue is full (net.unix.max_dgram_qlen is
     * only 10 in a fresh network namespace). Waiting keeps every message; the timeout keeps a
     * stuck daemon from stalling the workload — such a child reports a drop instead. */
    struct timeval tv = { .tv_sec = 1 };
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) { close(fd); return -1; }
    return fd;
}

static int write_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0) { if (errno == EINTR) continue; return -1; }
        p += k; n -= (size_t)k;
    }
    return 0;
}

/* One child's life: log through the three sockets, then exit. Failures are reported in the exit code
 * (bit 0 stdout, bit 1 syslog, bit 2 native; bit 3 alone = a datagram dropped after the send
 * timeout) so the parent can tell a dead daemon from a slow one. */
static int child_main(const char *dir, const char *comm, int lines, int linger_ms) {
    prctl(PR_SET_NAME, comm, 0, 0, 0);
    int failed = 0;
    pid_t pid = getpid();
    char buf[512];

    int fd = unix_connect(dir, "stdout", SOCK_STREAM);
    if (fd >= 0) {
        int n = snprintf(buf, sizeof buf, "%s\n\n6\n0\n1\n0\n0\n", comm);
        if (write_all(fd, buf, (size_t)n) < 0) failed |= 1;
        for (int i = 0; i < lines && !(failed & 1); i++) {
            n = snprintf(buf, sizeof buf, "stdout line %d from %s pid %d\n", i, comm, (int)pid);
            if (write_all(fd, buf, (size_t)n) < 0) failed |= 1;
        }
        close(fd);
    } else failed |= 1;

    fd = unix_connect(dir, "dev-log", SOCK_DGRAM);
    if (fd >= 0) {
        for (int i = 0; i < lines; i++) {
            int n = snprintf(buf, sizeof buf, "<14>%s[%d]: syslog line %d", comm, (int)pid, i);
            if (send(fd, buf, (size_t)n, 0) < 0) { failed |= errno == EAGAIN ? 8 : 2; break; }
        }
        close(fd);
    } else failed |= 2;

    fd = unix_connect(dir, "socket", SOCK_DGRAM);
    if (fd >= 0) {
        for (int i = 0; i < lines; i++) {
            int n = snprintf(buf, sizeof buf,
                             "MESSAGE=native line %d from %s\nPRIORITY=6\nSYSLOG_IDENTIFIER=%s\nJC_SEQ=%d\n",
                             i, comm, comm, i);
            if (send(fd, buf, (size_t)n, 0) < 0) { failed |= errno == EAGAIN ? 8 : 4; break; }
        }
        close(fd);
    } else failed |= 4;

    if (linger_ms > 0) {
        struct timespec ts = { linger_ms / 1000, (long)(linger_ms % 1000) * 1000000L };
        nanosleep(&ts, NULL);
    }
    return failed;
}

static void usage(void) {
    fprintf(stderr, "usage: journal-client [-d DIR] [-t SECONDS] [-r RATE] [-n LINES] [-j MAX_CHILDREN] "
                    "[-x PERCENT] [-s SEED] [-q]\n");
}

static long parse_num(const char *opt, const char *s, long lo, long hi) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi) {
        fprintf(stderr, "journal-client: %s '%s' is not a number in [%ld, %ld]\n", opt, s, lo, hi);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv) {
    /* child mode: journal-client --child DIR COMM LINES LINGER_MS [PADDING...] */
    if (argc >= 6 && strcmp(argv[1], "--child") == 0)
        return child_main(argv[2], argv[3], atoi(argv[4]), atoi(argv[5]));

    const char *dir = getenv("JOURNAL_CLIENT_DIR");
    if (!dir || !*dir) dir = "/run/systemd/journal";
    const char *env_t = getenv("JOURNAL_CLIENT_SECONDS");
    long seconds = env_t && *env_t ? parse_num("JOURNAL_CLIENT_SECONDS", env_t, 0, 100000000) : 0;
    long rate = 50, lines = 3, max_children = 64, exit_pct = 50;
    uint64_t seed = 1;
    int quiet = 0, c;
    while ((c = getopt(argc, argv, "d:t:r:n:j:x:s:qh")) != -1) {
        switch (c) {
        case 'd': dir = optarg; break;
        case 't': seconds = parse_num("-t", optarg, 0, 100000000); break;
        case 'r': rate = parse_num("-r", optarg, 1, 100000); break;
        case 'n': lines = parse_num("-n", optarg, 1, 10000); break;
        case 'j': max_children = parse_num("-j", optarg, 1, 100000); break;
        case 'x': exit_pct = parse_num("-x", optarg, 0, 100); break;
        case 's': seed = (uint64_t)parse_num("-s", optarg, 1, 2147483647L); break;
        case 'q': quiet = 1; break;
        default: usage(); return 2;
        }
    }
    if (optind != argc) { usage(); return 2; }

    struct sigaction sa = { .sa_handler = on_stop };
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    static const char *words[] = { "cron", "backup", "healthcheck", "sh", "python3", "worker",
                                   "logrotate", "x", "metrics-agent", "deploy", "sshd-session", "tar" };
    static char padding[8192];
    memset(padding, 'a', sizeof padding - 1);

    double start = now_s(), next = start, last_report = start;
    long started = 0, failed_children = 0, dropped_children = 0, fork_failures = 0, alive = 0;
    long ok_since_report = 0;
    uint64_t rng = seed * 0x9E3779B97F4A7C15ULL + 1;

    while (!stop_requested && (seconds == 0 || now_s() - start < (double)seconds)) {
        int status;
        pid_t r;
        while ((r = waitpid(-1, &status, WNOHANG)) > 0) {
            alive--;
            if (WIFEXITED(status) && WEXITSTATUS(status) == 8) dropped_children++;
            else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) failed_children++;
            else ok_since_report++;
        }
        double t = now_s();
        if (t < next || alive >= max_children) {
            struct timespec ts = { 0, 1000000L }; /* 1 ms tick keeps the rate bound without busy-waiting */
            nanosleep(&ts, NULL);
            continue;
        }
        next += 1.0 / (double)rate;
        if (next < t - 1.0) next = t; /* after a stall, do not burst to catch up */

        uint64_t x = rng_next(&rng);
        char comm[16], lines_s[16], linger_s[16], idx[24];
        snprintf(comm, sizeof comm, "%.*s-%ld", 9, words[x % (sizeof words / sizeof *words)], started % 1000);
        /* cmdline lengths from a few bytes to ~6 KiB, skewed short like real command lines */
        size_t pad_len = (x >> 8) % 4 == 0 ? (size_t)((x >> 16) % 6000) : (size_t)((x >> 16) % 200);
        int linger = (long)((x >> 40) % 100) < exit_pct ? 0 : (int)((x >> 48) % 20) + 1;
        snprintf(lines_s, sizeof lines_s, "%ld", lines);
        snprintf(linger_s, sizeof linger_s, "%d", linger);
        snprintf(idx, sizeof idx, "#%ld", started);

        pid_t pid = fork();
        if (pid < 0) { fork_failures++; continue; }
        if (pid == 0) {
            padding[pad_len] = '\0';
            char *cargv[] = { "journal-client", "--child", (char *)dir, comm, lines_s, linger_s, idx,
                              padding, NULL };
            execv("/proc/self/exe", cargv);
            _exit(127);
        }
        started++;
        alive++;

        if (!quiet && t - last_report >= 10.0) {
            fprintf(stderr, "journal-client: %.0f s, %ld children started, %ld ok in the last %.0f s, "
                            "%ld failed, %ld dropped a datagram, %ld fork failures\n",
                    t - start, started, ok_since_report, t - last_report, failed_children, dropped_children,
                    fork_failures);
            last_report = t;
            ok_since_report = 0;
        }
    }

    while (alive > 0 && waitpid(-1, NULL, 0) > 0) alive--;
    if (!quiet)
        fprintf(stderr, "journal-client: done, %ld children started, %ld failed, %ld dropped a datagram\n",
                started, failed_children, dropped_children);
    return started > 0 && failed_children == started ? 1 : 0;
}
