/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ZE_JSON_H
#define ZE_JSON_H

/*
 * Owns: writing JSON text - the one string escaper of the tree and small
 * writers - and the UTF-8 rule it shares with the ZDS codec.
 * Never touches: reading JSON (cni's inspect uses jansson), sockets.
 * Interface: this header (json.c).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/*
 * The length (1-4) of the valid UTF-8 sequence at s[0..len), len > 0, or 0
 * when it is none: strict, as proto3 wants it (no overlongs, no surrogates,
 * nothing above U+10FFFF, no truncated sequence).
 */
size_t utf8_char_len(const unsigned char *s, size_t len);

/*
 * s[0..len) as a JSON string literal, always valid UTF-8 and valid JSON:
 * '"' and '\' escaped, \n and \t as such, the other control characters and
 * DEL as \u00XX, valid UTF-8 as it is, and each byte that is not part of
 * valid UTF-8 as \u00XX (its value read as Latin-1: a reader can tell what
 * was there, though not from a real U+0080-U+00FF).
 */
void json_str(FILE *f, const char *s, size_t len);

/* json_str() of a C string, or null for NULL. */
void json_cstr(FILE *f, const char *s);

/* true or false */
void json_bool(FILE *f, bool b);

#endif
