/*
 * crc32c.h - CRC-32C (Castagnoli), the checksum that guards stored
 * objects against damage on disk. Uses the SSE4.2 instruction when the
 * processor has it, a table otherwise; both give the same value.
 */
#ifndef TALLY_BASE_CRC32C_H
#define TALLY_BASE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

uint32_t crc32c(const void *data, size_t n);

#endif
