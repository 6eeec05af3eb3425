/* pfm.c -- see pfm.h. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pfm.h"

int pfm_read(const char *path, Pfm *out) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  char magic[3] = {0};
  double scale;
  int w, h;
  if (fscanf(f, "%2s %d %d %lf", magic, &w, &h, &scale) != 4 || w <= 0 || h <= 0 || w > 65536 || h > 65536 ||
      (strcmp(magic, "PF") && strcmp(magic, "Pf"))) {
    fclose(f);
    return -2;
  }
  fgetc(f); /* the single whitespace after the scale */
  out->w = w, out->h = h, out->nc = magic[1] == 'F' ? 3 : 1;
  size_t n = (size_t)w * h * out->nc;
  out->px = malloc(n * sizeof(float));
  if (!out->px || fread(out->px, sizeof(float), n, f) != n) {
    fclose(f);
    free(out->px);
    return -3;
  }
  fclose(f);
  if (scale > 0) { /* big endian: swap */
    for (size_t i = 0; i < n; i++) {
      uint32_t u;
      memcpy(&u, &out->px[i], 4);
      u = __builtin_bswap32(u);
      memcpy(&out->px[i], &u, 4);
    }
  }
  return 0;
}

int pfm_write(const char *path, int w, int h, int nc, const float *px) {
  char tmp[4200];
  snprintf(tmp, sizeof(tmp), "%s.tmp%d", path, (int)getpid());
  FILE *f = fopen(tmp, "wb");
  if (!f) return -1;
  fprintf(f, "%s\n%d %d\n-1.0\n", nc == 3 ? "PF" : "Pf", w, h);
  size_t n = (size_t)w * h * nc;
  int ok = fwrite(px, sizeof(float), n, f) == n;
  ok &= fclose(f) == 0;
  if (!ok || rename(tmp, path) != 0) {
    unlink(tmp);
    return -1;
  }
  return 0;
}
