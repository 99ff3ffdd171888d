#include "CMallocTuning.h"
#include <stdlib.h>  /* defines __GLIBC__ on glibc */

#if defined(__GLIBC__)
#include <malloc.h>

int cmalloc_pin_mmap_threshold(size_t bytes) {
    return mallopt(M_MMAP_THRESHOLD, (int)bytes) == 1 ? 1 : 0;
}

int cmalloc_chunk_is_mmapped(const void *pointer) {
    // glibc's chunk header: the size word just before the user pointer; bit 1 is IS_MMAPPED.
    return (((const size_t *)pointer)[-1] & 0x2) != 0;
}
#else
int cmalloc_pin_mmap_threshold(size_t bytes) { (void)bytes; return 0; }
int cmalloc_chunk_is_mmapped(const void *pointer) { (void)pointer; return -1; }
#endif
