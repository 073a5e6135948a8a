/*
 * heapstats.so — an LD_PRELOAD heap-counter shim for Bisector.
 *
 * Build:  gcc -O2 -shared -fPIC -o heapstats.so heapstats.c -lpthread
 * Use:    LD_PRELOAD=/path/heapstats.so BISECTOR_HEAP_FILE=/run/x/heap.txt daemon ...
 *
 * Environment
 *   BISECTOR_HEAP_FILE         file to publish into (created/truncated; without it the shim stays idle);
 *                              removed from the environment so children of the daemon do not publish
 *   BISECTOR_HEAP_INTERVAL_MS  publish period in milliseconds (default 100, minimum 1)
 *   BISECTOR_HEAP_TRIM_AT      the trim probe of diagnosis by experiment: seconds after the shim started (decimal,
 *                              e.g. 5.5) at which the publishing thread calls malloc_trim(0) once; the record's
 *                              trims= key turns 0 -> 1 in the first record published after it, so a sampler sees
 *                              exactly which samples came before and after
 *
 *   Shells and exec wrappers (sh, dash, bash, unshare, nsenter, env, ...) stay idle and leave the environment
 *   alone: a recipe's command reaches the daemon through `sh -c`, and a shell that consumed the variable
 *   would never pass it on (dash builds its exported variables from environ after constructors ran).
 *
 * File format (version 1)
 *   The file is exactly HEAPSTATS_RECORD_SIZE (512) bytes: one line of space-separated key=value
 *   pairs (decimal integers), padded with spaces, ending with '\n'. It is rewritten in place at
 *   offset 0 with a single pwrite(), so a sampler reads it with one pread() and never sees it grow.
 *   The first pair is seq=N and the last is end=N; a reader that sees seq != end read a torn record
 *   and simply reads again. Keys, in order:
 *     seq        record number, starting at 1
 *     t_ms       CLOCK_MONOTONIC of the snapshot, milliseconds
 *     pid        the process publishing
 *     arena      mallinfo2.arena: bytes of heap obtained with brk/sbrk or arena mmaps (all arenas)
 *     ordblks    mallinfo2.ordblks: number of free chunks
 *     uordblks   mallinfo2.uordblks: bytes in use in the arenas
 *     fordblks   mallinfo2.fordblks: bytes free inside the arenas (fragmentation lives here)
 *     keepcost   mallinfo2.keepcost: releasable bytes at the top of the main heap
 *     hblks      mallinfo2.hblks: number of chunks served by their own mmap()
 *     hblkhd     mallinfo2.hblkhd: bytes in those mmapped chunks
 *     malloc calloc realloc free   calls made through the PLT (the program and its libraries;
 *                glibc's own internal calls are not seen)
 *     realloc_shrink realloc_grow  realloc calls whose new size is below / above the old usable size
 *     big        malloc/calloc/realloc requests >= 1 MiB
 *     h0 .. h7   request-size histogram of malloc/calloc/realloc: <=64, <=256, <=1K, <=4K,
 *                <=16K, <=128K, <=1M, >1M bytes
 *     trims      malloc_trim(0) calls made for BISECTOR_HEAP_TRIM_AT (0 or 1)
 *     foreign    1 when malloc() is served by another allocator preloaded before this shim (jemalloc,
 *                tcmalloc: then the glibc counters above describe an unused heap), else 0
 *     end        equal to seq
 *
 * Why it does not change the allocation behaviour: the malloc/calloc/realloc/free wrappers only bump
 * relaxed atomic counters and call glibc's own __libc_* entry points, so the same allocator with the
 * same thresholds serves every request; the publishing thread never allocates (no stdio, no malloc),
 * so it creates no arena of its own; its stack is a plain mmap outside the heap. mmap/mremap/munmap
 * made by malloc itself cannot be interposed (they do not go through the PLT); hblks/hblkhd show
 * their effect instead.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define HEAPSTATS_RECORD_SIZE 512

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);

static uint64_t n_malloc, n_calloc, n_realloc, n_free, n_shrink, n_grow, n_big, hist[8];

#define BUMP(x) __atomic_fetch_add(&(x), 1, __ATOMIC_RELAXED)
#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

static inline void count_size(size_t n) {
    int b = n <= 64 ? 0 : n <= 256 ? 1 : n <= 1024 ? 2 : n <= 4096 ? 3
          : n <= 16384 ? 4 : n <= 131072 ? 5 : n <= 1048576 ? 6 : 7;
    BUMP(hist[b]);
    if (n >= 1048576) BUMP(n_big);
}

void *malloc(size_t n) {
    BUMP(n_malloc);
    count_size(n);
    return __libc_malloc(n);
}

void *calloc(size_t n, size_t m) {
    BUMP(n_calloc);
    size_t total;
    if (!__builtin_mul_overflow(n, m, &total)) count_size(total);
    return __libc_calloc(n, m);
}

void *realloc(void *p, size_t n) {
    BUMP(n_realloc);
    count_size(n);
    if (p) {
        size_t old = malloc_usable_size(p);
        if (n < old) BUMP(n_shrink);
        else if (n > old) BUMP(n_grow);
    }
    return __libc_realloc(p, n);
}

void free(void *p) {
    if (p) BUMP(n_free);
    __libc_free(p);
}

/* Appends "key=value " without stdio, so the publisher never touches the heap. */
static size_t put(char *buf, size_t at, const char *key, uint64_t v) {
    char digits[24];
    int nd = 0;
    do { digits[nd++] = (char)('0' + v % 10); v /= 10; } while (v);
    size_t klen = strlen(key);
    if (at + klen + 1 + (size_t)nd + 1 >= HEAPSTATS_RECORD_SIZE) return at;
    memcpy(buf + at, key, klen); at += klen;
    buf[at++] = '=';
    while (nd) buf[at++] = digits[--nd];
    buf[at++] = ' ';
    return at;
}

static int out_fd = -1;
static long interval_ms = 100;
static long trim_at_ms = -1;
static uint64_t n_trims, foreign;

static void publish(uint64_t seq) {
    static char buf[HEAPSTATS_RECORD_SIZE];
    struct mallinfo2 mi = mallinfo2();
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    size_t at = 0;
    at = put(buf, at, "seq", seq);
    at = put(buf, at, "t_ms", (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
    at = put(buf, at, "pid", (uint64_t)getpid());
    at = put(buf, at, "arena", mi.arena);
    at = put(buf, at, "ordblks", mi.ordblks);
    at = put(buf, at, "uordblks", mi.uordblks);
    at = put(buf, at, "fordblks", mi.fordblks);
    at = put(buf, at, "keepcost", mi.keepcost);
    at = put(buf, at, "hblks", mi.hblks);
    at = put(buf, at, "hblkhd", mi.hblkhd);
    at = put(buf, at, "malloc", LOAD(n_malloc));
    at = put(buf, at, "calloc", LOAD(n_calloc));
    at = put(buf, at, "realloc", LOAD(n_realloc));
    at = put(buf, at, "free", LOAD(n_free));
    at = put(buf, at, "realloc_shrink", LOAD(n_shrink));
    at = put(buf, at, "realloc_grow", LOAD(n_grow));
    at = put(buf, at, "big", LOAD(n_big));
    static const char *hk[8] = { "h0", "h1", "h2", "h3", "h4", "h5", "h6", "h7" };
    for (int i = 0; i < 8; i++) at = put(buf, at, hk[i], LOAD(hist[i]));
    at = put(buf, at, "trims", LOAD(n_trims));
    at = put(buf, at, "foreign", foreign);
    at = put(buf, at, "end", seq);
    memset(buf + at, ' ', HEAPSTATS_RECORD_SIZE - 1 - at);
    buf[HEAPSTATS_RECORD_SIZE - 1] = '\n';
    (void)!pwrite(out_fd, buf, HEAPSTATS_RECORD_SIZE, 0);
}

static long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *publisher(void *arg) {
    (void)arg;
    long started = now_ms();
    struct timespec period = { interval_ms / 1000, (interval_ms % 1000) * 1000000L };
    for (uint64_t seq = 1;; seq++) {
        /* malloc_trim neither allocates nor creates an arena; it gives free pages of every arena back (madvise)
         * and shrinks the top of the main heap. Done here, before publishing, so trims=1 first appears in a
         * record written after the trim. */
        if (trim_at_ms >= 0 && LOAD(n_trims) == 0 && now_ms() - started >= trim_at_ms) {
            malloc_trim(0);
            BUMP(n_trims);
        }
        publish(seq);
        while (nanosleep(&period, &period) < 0 && errno == EINTR) {}
        period.tv_sec = interval_ms / 1000;
        period.tv_nsec = (interval_ms % 1000) * 1000000L;
    }
    return NULL;
}

static int is_wrapper(void) {
    static const char *names[] = { "sh", "dash", "bash", "ash", "busybox", "unshare", "nsenter", "env",
                                   "nice", "setsid", "taskset", "chrt", "ionice", "stdbuf", NULL };
    for (int i = 0; names[i]; i++)
        if (strcmp(program_invocation_short_name, names[i]) == 0) return 1;
    return 0;
}

__attribute__((constructor)) static void heapstats_start(void) {
    const char *path = getenv("BISECTOR_HEAP_FILE");
    if (!path || !*path) return;
    if (is_wrapper()) return;
    out_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    /* Children the daemon spawns inherit LD_PRELOAD; without this they would truncate and
     * overwrite the daemon's record with their own. */
    unsetenv("BISECTOR_HEAP_FILE");
    if (out_fd < 0) return;
    const char *iv = getenv("BISECTOR_HEAP_INTERVAL_MS");
    if (iv && *iv) {
        long v = strtol(iv, NULL, 10);
        if (v >= 1) interval_ms = v;
    }
    const char *trim = getenv("BISECTOR_HEAP_TRIM_AT");
    if (trim && *trim) {
        /* Seconds with an optional fraction, parsed by hand: strtod may allocate (locale) before main. */
        long whole = 0, frac = 0, scale = 1000;
        int ok = 1, dot = 0;
        for (const char *c = trim; *c && ok; c++) {
            if (*c == '.' && !dot) dot = 1;
            else if (*c < '0' || *c > '9') ok = 0;
            else if (!dot) whole = whole * 10 + (*c - '0');
            else if (scale > 1) { scale /= 10; frac += (*c - '0') * scale; }
        }
        if (ok) trim_at_ms = whole * 1000 + frac;
    }
    unsetenv("BISECTOR_HEAP_TRIM_AT");
    /* Which library's malloc the dynamic linker binds first: ours (then glibc serves every request) or an
     * allocator preloaded before us. dladdr compares load bases, so it holds whatever the symbol's GOT says. */
    Dl_info mine, bound;
    void *m = dlsym(RTLD_DEFAULT, "malloc");
    if (m && dladdr((void *)heapstats_start, &mine) && dladdr(m, &bound))
        foreign = mine.dli_fbase != bound.dli_fbase;

    /* The daemon may take signals through signalfd with them blocked in its (only) thread; our
     * thread must never be the one the kernel picks, so it starts with every signal blocked. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    pthread_t t;
    pthread_create(&t, &attr, publisher, NULL);
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}
