/* digest.h: the digest plugin's pure functions (no host, no JSON), tested natively. */
#ifndef DIGEST_H
#define DIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* SHA-256 (FIPS 180-4) of `len` bytes into 32 bytes. */
void digest_sha256(const void *data, size_t len, uint8_t out[32]);
/* CRC-32 as zlib, PNG and Ethernet compute it (reflected polynomial 0xEDB88320). */
uint32_t digest_crc32(const void *data, size_t len);
/* 32-bit FNV-1a. */
uint32_t digest_fnv1a32(const void *data, size_t len);
/* Lower-case hex of `len` bytes into `out` (2 * len + 1 bytes, NUL-terminated). */
void digest_hex(const uint8_t *bytes, size_t len, char *out);

typedef struct text_stats {
    size_t bytes;      /* length in bytes */
    size_t lines;      /* lines as an editor shows them: a last line without a newline
                          counts, an empty text has none */
    bool ascii;        /* only bytes below 0x80 */
    size_t utf8_chars; /* Unicode scalar values, for valid UTF-8 */
} text_stats;

text_stats digest_stats(const char *text, size_t len);

#endif
