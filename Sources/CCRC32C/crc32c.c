// CRC32C (Castagnoli polynomial 0x82F63B78, reflected), hardware-accelerated with the
// SSE4.2 crc32 instruction when the CPU has it, slicing-by-8 tables otherwise.
#include "ccrc32c.h"
#include <string.h>

static uint32_t table[8][256];
__attribute__((constructor)) static void build_table(void);

__attribute__((constructor)) static void build_table(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = table[0][i];
        for (int t = 1; t < 8; t++) { c = table[0][c & 0xff] ^ (c >> 8); table[t][i] = c; }
    }
}

static uint32_t crc_software(uint32_t crc, const uint8_t *p, size_t n) {

    while (n >= 8) {
        uint64_t v; memcpy(&v, p, 8);
        v ^= crc;
        crc = table[7][v & 0xff] ^ table[6][(v >> 8) & 0xff] ^ table[5][(v >> 16) & 0xff] ^
              table[4][(v >> 24) & 0xff] ^ table[3][(v >> 32) & 0xff] ^ table[2][(v >> 40) & 0xff] ^
              table[1][(v >> 48) & 0xff] ^ table[0][v >> 56];
        p += 8; n -= 8;
    }
    while (n--) crc = table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return crc;
}

#if defined(__x86_64__)
#include <nmmintrin.h>
__attribute__((target("sse4.2")))
static uint32_t crc_hardware(uint32_t crc, const uint8_t *p, size_t n) {
    uint64_t c = crc;
    while (n >= 8) { uint64_t v; memcpy(&v, p, 8); c = _mm_crc32_u64(c, v); p += 8; n -= 8; }
    uint32_t c32 = (uint32_t)c;
    while (n--) c32 = _mm_crc32_u8(c32, *p++);
    return c32;
}
#endif

uint32_t strata_crc32c(uint32_t crc, const void *data, size_t length) {
    crc = ~crc;
#if defined(__x86_64__)
    static int has_sse42 = -1;
    if (has_sse42 < 0) { __builtin_cpu_init(); has_sse42 = __builtin_cpu_supports("sse4.2") ? 1 : 0; }
    if (has_sse42) return ~crc_hardware(crc, (const uint8_t *)data, length);
#endif
    return ~crc_software(crc, (const uint8_t *)data, length);
}
