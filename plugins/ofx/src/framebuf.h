/*
 * framebuf.h -- shared-memory frame buffers (memfd), pooled: a fresh memfd per frame would pay a
 * page fault (and zeroing) per 4 KiB in both processes. Buffers are reused across frames and
 * render threads, and released at EndSequenceRender / Unload (framebuf_trim).
 */
#ifndef GENREFOCUS_FRAMEBUF_H
#define GENREFOCUS_FRAMEBUF_H

#include <stddef.h>

typedef struct {
  int fd, in_use;
  float *ptr;
  size_t size;
} FrameBuf;

/* A buffer of at least `total` bytes held by the caller until framebuf_release; NULL (errno set)
 * when none can be made. */
FrameBuf *framebuf_acquire(size_t total);
void framebuf_release(FrameBuf *b);

/* Unmap and close every buffer no render holds. */
void framebuf_trim(void);

#endif
