/*
 * image.h -- a host image fetched from a clip, and its pixels as floats. OFX images are stored
 * bottom row first (y up), in float, 16-bit or 8-bit components (RGBA, RGB or Alpha).
 */
#ifndef GENREFOCUS_IMAGE_H
#define GENREFOCUS_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "ofx_abi.h"

typedef struct {
  OfxPropertySetHandle h;
  unsigned char *data;
  OfxRectI b;
  int row_bytes, nc, bytes; /* components, bytes per component */
} Img;

/* Fetch clip's image at t: 0, -1 when the host gives none, -2 for an unsupported pixel format. */
int img_open(OfxImageClipHandle clip, OfxTime t, Img *im);
void img_close(Img *im);

/* The clip's image at `time` into *im when it is RGB(A) with the bounds of `like`; else -1, *im empty. */
int img_open_like(OfxImageClipHandle clip, OfxTime time, const Img *like, Img *im);

/* Output = Source inside the render window (the identity: used when there is nothing to render). */
void img_copy_through(const Img *s, Img *o, OfxRectI win);

static inline float img_get(const Img *im, int x, int y, int c) {
  const unsigned char *row = im->data + (ptrdiff_t)(y - im->b.y1) * im->row_bytes;
  size_t idx = (size_t)(x - im->b.x1) * im->nc + c;
  if (im->bytes == 4) return ((const float *)row)[idx];
  if (im->bytes == 2) return ((const uint16_t *)row)[idx] / 65535.0f;
  return row[idx] / 255.0f;
}

static inline void img_set(Img *im, int x, int y, int c, float v) {
  unsigned char *row = im->data + (ptrdiff_t)(y - im->b.y1) * im->row_bytes;
  size_t idx = (size_t)(x - im->b.x1) * im->nc + c;
  if (im->bytes == 4) {
    ((float *)row)[idx] = v;
  } else if (im->bytes == 2) {
    float q = v * 65535.0f + 0.5f;
    ((uint16_t *)row)[idx] = (uint16_t)(q < 0 ? 0 : q > 65535.0f ? 65535.0f : q);
  } else {
    float q = v * 255.0f + 0.5f;
    row[idx] = (unsigned char)(q < 0 ? 0 : q > 255.0f ? 255.0f : q);
  }
}

static inline int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

#endif
