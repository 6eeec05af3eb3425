/* image.c -- see image.h. */
#include <string.h>

#include "image.h"
#include "plugin.h"

int img_open(OfxImageClipHandle clip, OfxTime t, Img *im) {
  memset(im, 0, sizeof(*im));
  if (E->clipGetImage(clip, t, NULL, &im->h) != kOfxStatOK || !im->h) return -1;
  char *depth = NULL, *comp = NULL;
  void *data = NULL;
  P->propGetPointer(im->h, kOfxImagePropData, 0, &data);
  P->propGetIntN(im->h, kOfxImagePropBounds, 4, &im->b.x1);
  P->propGetInt(im->h, kOfxImagePropRowBytes, 0, &im->row_bytes);
  P->propGetString(im->h, kOfxImageEffectPropPixelDepth, 0, &depth);
  P->propGetString(im->h, kOfxImageEffectPropComponents, 0, &comp);
  im->data = data;
  im->bytes = !depth ? 0 : !strcmp(depth, kOfxBitDepthFloat) ? 4 : !strcmp(depth, kOfxBitDepthShort) ? 2
                          : !strcmp(depth, kOfxBitDepthByte) ? 1 : 0;
  im->nc = !comp ? 0 : !strcmp(comp, kOfxImageComponentRGBA) ? 4 : !strcmp(comp, kOfxImageComponentRGB) ? 3
                       : !strcmp(comp, kOfxImageComponentAlpha) ? 1 : 0;
  if (!data || !im->bytes || !im->nc || im->b.x2 <= im->b.x1 || im->b.y2 <= im->b.y1) {
    E->clipReleaseImage(im->h);
    im->h = NULL;
    return -2;
  }
  return 0;
}

void img_close(Img *im) {
  if (im->h) E->clipReleaseImage(im->h);
  im->h = NULL;
}

int img_open_like(OfxImageClipHandle clip, OfxTime time, const Img *s, Img *im) {
  if (img_open(clip, time, im) != 0) return -1;
  if (im->b.x1 != s->b.x1 || im->b.y1 != s->b.y1 || im->b.x2 != s->b.x2 || im->b.y2 != s->b.y2 || im->nc == 1) {
    img_close(im);
    memset(im, 0, sizeof(*im));
    return -1;
  }
  return 0;
}

void img_copy_through(const Img *s, Img *o, OfxRectI win) {
  for (int y = win.y1; y < win.y2; y++)
    for (int x = win.x1; x < win.x2; x++) {
      int inside = x >= s->b.x1 && x < s->b.x2 && y >= s->b.y1 && y < s->b.y2;
      for (int c = 0; c < o->nc; c++) {
        float v = 0.0f;
        if (inside) v = c < s->nc ? img_get(s, x, y, c) : 1.0f;
        img_set(o, x, y, c, v);
      }
    }
}
