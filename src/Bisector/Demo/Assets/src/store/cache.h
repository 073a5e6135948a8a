#pragma once
#include <stddef.h>
#include <stdint.h>

#define CACHE_SLOTS 1024
#define LABEL_MAX 96

/* What the daemon remembers about one client: refreshed from /proc on every request, replaced (never accumulated). */
typedef struct cache_entry {
        unsigned id;
        uint64_t refreshed_ns;
        char *label;
        char *stat;
        size_t stat_size;
} cache_entry;

void cache_init(void);
cache_entry *cache_refresh(unsigned id, int peer_pid, uint64_t now_ns);
size_t cache_count(void);
void cache_clear(void);
