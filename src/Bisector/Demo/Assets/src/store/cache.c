#include "store/cache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/reader.h"

/* A fixed number of slots, one per client id: an entry is freed when its slot is refreshed, so the cache is bounded. */
static cache_entry *slots[CACHE_SLOTS];

void cache_init(void) {
        memset(slots, 0, sizeof(slots));
}

/* "client-N (comm)": the comm is the second field of /proc/PID/stat. */
static char *label_new(unsigned id, const char *stat) {
        char *label = malloc(LABEL_MAX);
        if (!label)
                return NULL;
        const char *open = strchr(stat, '('), *close = strrchr(stat, ')');
        int comm_len = open && close && close > open ? (int) (close - open + 1) : 0;
        snprintf(label, LABEL_MAX, "client-%u %.*s", id, comm_len, open ? open : "");
        return label;
}

static void entry_free(cache_entry *e) {
        if (!e)
                return;
        free(e->label);
        free(e->stat);
        free(e);
}

cache_entry *cache_refresh(unsigned id, int peer_pid, uint64_t now_ns) {
        char path[64];
        char *stat = NULL;
        size_t stat_size = 0;

        snprintf(path, sizeof(path), "/proc/%d/stat", peer_pid);
        if (read_small_file(path, &stat, &stat_size) < 0)
                return NULL;

        cache_entry *e = calloc(1, sizeof(*e));
        if (!e) {
                free(stat);
                return NULL;
        }
        e->id = id;
        e->refreshed_ns = now_ns;
        e->label = label_new(id, stat);
        e->stat = stat;
        e->stat_size = stat_size;

        unsigned slot = id % CACHE_SLOTS;
        entry_free(slots[slot]);
        slots[slot] = e;
        return e;
}

size_t cache_count(void) {
        size_t n = 0;
        for (unsigned i = 0; i < CACHE_SLOTS; i++)
                n += slots[i] != NULL;
        return n;
}

void cache_clear(void) {
        for (unsigned i = 0; i < CACHE_SLOTS; i++) {
                entry_free(slots[i]);
                slots[i] = NULL;
        }
}
