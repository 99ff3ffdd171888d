#ifndef CMALLOCTUNING_H
#define CMALLOCTUNING_H

#include <stddef.h>

/// Fixes glibc's mmap threshold at `bytes` (mallopt(M_MMAP_THRESHOLD)). Setting it explicitly
/// also turns off glibc's dynamic threshold, which otherwise rises to the size of the largest
/// mmapped block freed so far (up to 32 MiB): after one 3 MiB WebSocket frame every later
/// buffer below 3 MiB would come from the arenas and stay resident. Returns 1 on success,
/// 0 where refused or where the C library is not glibc.
int cmalloc_pin_mmap_threshold(size_t bytes);

/// Whether `pointer`, returned by malloc, is a chunk of its own mapping (glibc's IS_MMAPPED
/// bit in the chunk header). Only for tests of the threshold; -1 where unknown (not glibc).
int cmalloc_chunk_is_mmapped(const void *pointer);

#endif
