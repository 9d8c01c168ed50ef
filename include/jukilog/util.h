/* util.h: small encodings and clocks shared by every layer: hex, base64, random ids, and
 * RFC 3339 timestamps in milliseconds (the only time format on the log). */
#ifndef JUKILOG_UTIL_H
#define JUKILOG_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define JK_TIME_LEN 32 /* buffer size for "2026-04-02T00:15:00.000Z" */

/* Lower-case hex of n bytes into out, which holds 2n+1 bytes. */
void jk_hex_encode(const unsigned char *in, size_t n, char *out);
/* Decodes exactly 2n hex digits (either case) into n bytes. Returns 0, or -1 on bad input. */
int jk_hex_decode(const char *in, unsigned char *out, size_t n);
/* True when s is exactly n lower-case hex digits. */
int jk_is_hex(const char *s, size_t n);

/* Standard base64 with padding; the result is malloc'd and NUL-terminated. */
char *jk_b64_encode(const unsigned char *in, size_t n);
/* Decodes standard base64 (padding required, no white space). *out is malloc'd.
 * Returns 0, or -1 on bad input. */
int jk_b64_decode(const char *in, unsigned char **out, size_t *n);

/* The length of the UTF-8 sequence at s (at most n bytes, n > 0), or 0 when it is not valid as
 * jansson checks it: no overlong form, no surrogate, nothing above U+10FFFF. */
size_t jk_utf8_len(const unsigned char *s, size_t n);

/* 32 lower-case hex digits from 16 random bytes (OpenSSL RAND_bytes). Returns 0 or -1. */
int jk_random_id(char out[33]);

/* Milliseconds since the Unix epoch, from the system clock. */
int64_t jk_now_ms(void);
/* The processors online (1 when unknown), at most 64. */
int jk_cores(void);
/* Formats ms since the epoch as "YYYY-MM-DDTHH:MM:SS.mmmZ". */
void jk_time_format(int64_t ms, char out[JK_TIME_LEN]);
/* Parses an RFC 3339 time ("Z" or "+hh:mm" offset, optional fraction up to ms) into ms since the
 * epoch. Returns 0, or -1 when the text is not a valid time (including 2026-02-30). */
int jk_time_parse(const char *s, int64_t *ms);
/* True when s is exactly the canonical form jk_time_format produces. */
int jk_time_is_canonical(const char *s);

#endif
