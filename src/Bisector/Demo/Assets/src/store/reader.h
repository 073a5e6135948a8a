#pragma once
#include <stddef.h>

/* Reads a small file (a /proc entry or a record) completely. On success returns 0 and stores a malloc()ed,
 * NUL-terminated buffer in *ret (the caller frees it) and its length in *ret_size. */
int read_small_file(const char *path, char **ret, size_t *ret_size);
