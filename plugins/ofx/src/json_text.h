/*
 * json_text.h -- writing the bridge request's JSON into a fixed buffer (truncation is detected by
 * the caller: *len reaches the capacity).
 */
#ifndef GENREFOCUS_JSON_TEXT_H
#define GENREFOCUS_JSON_TEXT_H

#include <stddef.h>

/* printf-style text appended at buf + *len (n bytes in all); *len grows by what fmt asked for. */
void append(char *buf, size_t n, size_t *len, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* A JSON string literal (quotes, backslashes and control characters escaped). */
void append_json_string(char *buf, size_t n, size_t *len, const char *text);

#endif
