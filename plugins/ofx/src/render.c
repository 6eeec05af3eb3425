/*
 * render.c -- the Render action (see render.h).
 *
 * Conventions handled here: OFX images are stored bottom row first (y up); the renderer and the
 * aperture shapes use rows top to bottom (y down), so rows are flipped on the way in and out.
 * The blur radius K is in pixels at full resolution: the request carries the render scale.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "framebuf.h"
#include "frames.h"
#include "json_text.h"
#include "render.h"

/* One render's images and the layout of its shared buffer. */
typedef struct {
  OfxTime t;
  double rs[2];    /* render scale */
  OfxRectI win;    /* render window, inside Output's bounds */
  Img s, o;        /* Source and Output at t */
  Img *d, *hs;     /* depth at t, t-1, ..., then t+1 ..; hs[i]: the i-th other Source frame (hs[0] unused: s) */
  int nd, ns, after; /* fetched: depth frames, source frames (with t), of them after t */
  int W, H, has_alpha, premult;
} Job;

static unsigned long g_request_id;

/* Source and Output at t (RGB or RGBA); the failure told to the user otherwise. */
static OfxStatus open_frame(OfxImageEffectHandle effect, Instance *inst, Job *j) {
  if (img_open(inst->src, j->t, &j->s) != 0) {
    report_error(effect, &inst->error_posted, "frame %g: cannot fetch the Source image (or its pixel format is unsupported)", j->t);
    return kOfxStatFailed;
  }
  if (img_open(inst->out, j->t, &j->o) != 0 || j->o.nc == 1) {
    img_close(&j->s);
    report_error(effect, &inst->error_posted, "frame %g: cannot fetch the Output image (or its pixel format is unsupported)", j->t);
    return kOfxStatFailed;
  }
  if (j->s.nc == 1) {
    img_close(&j->s);
    img_close(&j->o);
    report_error(effect, &inst->error_posted, "frame %g: Source must be RGB or RGBA", j->t);
    return kOfxStatFailed;
  }
  j->W = j->s.b.x2 - j->s.b.x1, j->H = j->s.b.y2 - j->s.b.y1;
  if (j->win.x1 < j->o.b.x1) j->win.x1 = j->o.b.x1;
  if (j->win.y1 < j->o.b.y1) j->win.y1 = j->o.b.y1;
  if (j->win.x2 > j->o.b.x2) j->win.x2 = j->o.b.x2;
  if (j->win.y2 > j->o.b.y2) j->win.y2 = j->o.b.y2;
  return kOfxStatOK;
}

/* Alpha travels (and is defocused by the bridge with the colour) when Source is RGBA and says it
 * is not opaque; premultiplied RGB is sent and returned premultiplied, as the host delivers it. */
static void alpha_mode(Job *j) {
  j->has_alpha = j->premult = 0;
  if (j->s.nc != 4) return;
  char *pm = NULL;
  if (P->propGetString(j->s.h, kOfxImageEffectPropPreMultiplication, 0, &pm) == kOfxStatOK && pm) {
    j->has_alpha = strcmp(pm, kOfxImageOpaque) != 0;
    j->premult = strcmp(pm, kOfxImagePreMultiplied) == 0;
  }
}

/* The buffer: Source RGB frames (t, earlier, later), depth frames, Output RGB, then Source and
 * Output alpha when alpha travels; rows top to bottom. */
static size_t buffer_bytes(const Job *j) {
  size_t px = (size_t)j->W * j->H;
  return px * 3 * 4 * ((size_t)j->ns + 1) + px * 4 * (size_t)j->nd + (j->has_alpha ? px * 4 * 2 : 0);
}

static void pack_pixels(const Job *j, float *buf) {
  const Img *s = &j->s;
  int W = j->W, H = j->H;
  size_t px = (size_t)W * H;
  float *src = buf, *dep = buf + px * 3 * (size_t)j->ns;
  float *src_a = j->has_alpha ? dep + px * (size_t)j->nd + px * 3 : NULL;
  for (int r = 0; r < H; r++) { /* Source at t (and its alpha), rows top to bottom */
    int y = s->b.y2 - 1 - r;
    for (int x = 0; x < W; x++) {
      for (int c = 0; c < 3; c++) src[((size_t)r * W + x) * 3 + c] = img_get(s, s->b.x1 + x, y, c);
      if (j->has_alpha) src_a[(size_t)r * W + x] = img_get(s, s->b.x1 + x, y, 3);
    }
  }
  /* Earlier Source frames t-1, ..., then later ones t+1, ...: RGB after frame t's, same rows. */
  for (int i = 1; i < j->ns; i++)
    for (int r = 0; r < H; r++) {
      int y = s->b.y2 - 1 - r;
      for (int x = 0; x < W; x++)
        for (int c = 0; c < 3; c++)
          src[(size_t)i * px * 3 + ((size_t)r * W + x) * 3 + c] = img_get(&j->hs[i], s->b.x1 + x, y, c);
    }
  /* Depth frames: first channel, sampled at the source pixel (nearest, clamped to the depth bounds). */
  for (int i = 0; i < j->nd; i++)
    for (int r = 0; r < H; r++) {
      const Img *d = &j->d[i];
      int y = clampi(s->b.y2 - 1 - r, d->b.y1, d->b.y2 - 1);
      for (int x = 0; x < W; x++) {
        int xx = clampi(s->b.x1 + x, d->b.x1, d->b.x2 - 1);
        dep[(size_t)i * px + (size_t)r * W + x] = img_get(d, xx, y, 0);
      }
    }
}

/* The RENDER request's JSON; 0, or -1 when it does not fit in `cap`. */
static int request_json(const Job *j, const Values *v, char *json, size_t cap) {
  /* Focus point: canonical coordinates -> pixel column / top-down row of the buffer. */
  double fx, fy, par = 1.0;
  param_focus_point(v, &fx, &fy);
  if (P->propGetDouble(j->s.h, kOfxImagePropPixelAspectRatio, 0, &par) != kOfxStatOK || !(par > 0)) par = 1.0;
  double col = fx * j->rs[0] / par - j->s.b.x1; /* canonical x is in square pixels */
  double row = (double)(j->s.b.y2 - 1) - floor(fy * j->rs[1]) + 0.5;
  size_t len = 0;
  unsigned long id = __atomic_add_fetch(&g_request_id, 1, __ATOMIC_RELAXED);
  append(json, cap, &len,
         "{\"id\":%lu,\"width\":%d,\"height\":%d,\"depth_frames\":%d,\"source_frames\":%d,\"frames_after\":%d,"
         "\"render_scale\":%.17g,\"time\":%.17g,"
         "\"pixel_aspect\":%.17g,\"alpha\":%s,\"premultiplied\":%s,"
         "\"focus_point\":[%.17g,%.17g],\"focus_from_point\":%s,\"params\":{",
         id, j->W, j->H, j->nd, j->ns, j->after, j->rs[0], j->t, par, j->has_alpha ? "true" : "false",
         j->premult ? "true" : "false", col, row, param_focus_from_point(v) ? "true" : "false");
  params_json(v, json, cap, &len);
  append(json, cap, &len, "}}");
  return len < cap ? 0 : -1;
}

/* The bridge round trip: the request for the pixels in memfd `fd`; the failure told to the user. */
static OfxStatus ask_bridge(OfxImageEffectHandle effect, Instance *inst, const Job *j, const Values *v, int fd) {
  size_t cap = 8192;
  char *json = malloc(cap);
  if (!json) {
    report_error(effect, &inst->error_posted, "frame %g: out of memory", j->t);
    return kOfxStatErrMemory;
  }
  char err[512] = "";
  int rc = request_json(j, v, json, cap) == 0 ? bridge_render(&g_bridge, json, fd, err, sizeof(err)) : -1;
  free(json);
  if (rc != 0) {
    report_error(effect, &inst->error_posted, "frame %g: bridge failed: %s", j->t, err[0] ? err : "request too large");
    return kOfxStatFailed;
  }
  return kOfxStatOK;
}

/* Output: render window, rows flipped back; alpha from the bridge when it was sent, else from
 * Source (1 where Source has none). */
static void write_output(Job *j, const float *buf) {
  const Img *s = &j->s;
  size_t px = (size_t)j->W * j->H;
  const float *out = buf + px * 3 * (size_t)j->ns + px * (size_t)j->nd;
  const float *out_a = j->has_alpha ? out + px * 4 : NULL;
  for (int y = j->win.y1; y < j->win.y2; y++)
    for (int x = j->win.x1; x < j->win.x2; x++) {
      int inside = x >= s->b.x1 && x < s->b.x2 && y >= s->b.y1 && y < s->b.y2;
      size_t idx = inside ? ((size_t)(s->b.y2 - 1 - y) * j->W + (size_t)(x - s->b.x1)) * 3 : 0;
      for (int c = 0; c < j->o.nc; c++) {
        float val = 0.0f;
        if (inside)
          val = c < 3 ? out[idx + c] : j->has_alpha ? out_a[idx / 3] : (s->nc == 4 ? img_get(s, x, y, 3) : 1.0f);
        img_set(&j->o, x, y, c, val);
      }
    }
}

/* The window's pixels to the bridge and its result into Output (ns > 0: there is depth to use). */
static OfxStatus render_through_bridge(OfxImageEffectHandle effect, Instance *inst, Job *j, const Values *v) {
  alpha_mode(j);
  FrameBuf *fb = framebuf_acquire(buffer_bytes(j));
  if (!fb) {
    report_error(effect, &inst->error_posted, "frame %g: cannot allocate shared memory: %s", j->t, strerror(errno));
    return kOfxStatErrMemory;
  }
  pack_pixels(j, fb->ptr);
  OfxStatus status = ask_bridge(effect, inst, j, v, fb->fd);
  if (status == kOfxStatOK) {
    write_output(j, fb->ptr);
    clear_error(effect, &inst->error_posted);
  }
  framebuf_release(fb);
  return status;
}

OfxStatus render_action(OfxImageEffectHandle effect, OfxPropertySetHandle inArgs) {
  Instance *inst = get_instance(effect);
  if (!inst) return kOfxStatErrBadHandle;
  Job j;
  memset(&j, 0, sizeof(j));
  j.rs[0] = j.rs[1] = 1.0;
  P->propGetDouble(inArgs, kOfxPropTime, 0, &j.t);
  P->propGetDoubleN(inArgs, kOfxImageEffectPropRenderScale, 2, j.rs);
  if (P->propGetIntN(inArgs, kOfxImageEffectPropRenderWindow, 4, &j.win.x1) != kOfxStatOK) return kOfxStatFailed;
  Values v;
  params_read(inst, j.t, &v);
  OfxStatus status = open_frame(effect, inst, &j);
  if (status != kOfxStatOK) return status;

  Window fw;
  frame_window(inst, &v, j.t, &fw);
  if (fw.n_src > 0) {
    j.d = calloc((size_t)fw.n_src, sizeof(Img));
    j.hs = calloc((size_t)fw.n_src, sizeof(Img));
    if (!j.d || !j.hs) fw.n_src = fw.n_depth = 0;
  }
  frames_fetch(inst, &j.s, j.t, &fw, j.d, j.hs, &j.nd, &j.ns, &j.after);
  if (j.ns == 0) { /* nothing to refocus with: Source through */
    clear_error(effect, &inst->error_posted);
    img_copy_through(&j.s, &j.o, j.win);
  } else {
    status = render_through_bridge(effect, inst, &j, &v);
  }
  for (int i = 0; i < j.nd; i++) img_close(&j.d[i]);
  for (int i = 1; i < j.ns; i++) img_close(&j.hs[i]);
  free(j.d);
  free(j.hs);
  img_close(&j.s);
  img_close(&j.o);
  return status;
}
