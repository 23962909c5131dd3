#ifndef CCRC32C_H
#define CCRC32C_H
#include <stddef.h>
#include <stdint.h>

/// CRC32C (Castagnoli), as used by Specs/SegmentFormat.md. `crc` is the running value
/// (0 to start); the result can be fed back in to extend over more bytes.
uint32_t strata_crc32c(uint32_t crc, const void *data, size_t length);

#endif
