/*
 * pfm.h -- PFM images, the test host's frames on disk: float RGB ("PF") or gray ("Pf"), bottom row
 * first (the OFX row order), little endian when the scale is negative.
 */
#ifndef TESTHOST_PFM_H
#define TESTHOST_PFM_H

typedef struct {
  int w, h, nc; /* nc 3 (PF) or 1 (Pf) */
  float *px;    /* bottom row first */
} Pfm;

/* Read `path` into *out (out->px malloc'd): 0, or -1 cannot open, -2 not a PFM, -3 truncated. */
int pfm_read(const char *path, Pfm *out);

/* Write w x h x nc floats (bottom row first) atomically (a temporary file renamed): 0 or -1. */
int pfm_write(const char *path, int w, int h, int nc, const float *px);

#endif
