/* json_text.c -- see json_text.h. */
#include <stdarg.h>
#include <stdio.h>

#include "json_text.h"

void append(char *buf, size_t n, size_t *len, const char *fmt, ...) {
  if (*len >= n) return;
  va_list ap;
  va_start(ap, fmt);
  int w = vsnprintf(buf + *len, n - *len, fmt, ap);
  va_end(ap);
  if (w > 0) *len += (size_t)w;
}

/* A JSON string literal (quotes, backslashes and control characters escaped). */
void append_json_string(char *buf, size_t n, size_t *len, const char *text) {
  append(buf, n, len, "\"");
  for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
    if (*c == '"' || *c == '\\') append(buf, n, len, "\\%c", *c);
    else if (*c < 0x20) append(buf, n, len, "\\u%04x", *c);
    else append(buf, n, len, "%c", *c);
  }
  append(buf, n, len, "\"");
}

