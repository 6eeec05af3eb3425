/*
 * testhost.c -- a headless OpenFX host for testing GenRefocus (or any filter-like image effect).
 *
 * It dlopens a bundle binary, supplies the property, parameter, image-effect, memory and
 * multithread suites, and runs what a real host runs: Load -> Describe -> DescribeInContext ->
 * CreateInstance -> GetClipPreferences -> GetRegionOfDefinition -> BeginSequenceRender ->
 * (IsIdentity, Render) per frame with animated parameters -> EndSequenceRender -> DestroyInstance
 * -> Unload. Images are read from and written to PFM files (float RGB or gray, bottom row first,
 * which is the OFX row order), converted to the requested pixel depth and components.
 *
 *   testhost BINARY --source SRC.pfm [--depth DEPTH.pfm] [--out OUT_%03d.pfm] [--frames N]
 *            [--start F] [--anim FILE] [--bit-depth float|short|byte] [--components RGBA|RGB]
 *            [--depth-components RGBA|RGB|Alpha] [--context filter|general] [--threads T]
 *            [--kill-bridge-after K] [--render-scale S] [--describe-json FILE] [--order F,F,...]
 *
 * Modules: host_props.c (property sets and suite), host_params.c (parameters and suite, animated
 * keys), pfm.c (the PFM frames on disk); this file: options, clips and images, the image-effect,
 * memory, multithread and message suites, the description dump, and running the plugin.
 *
 * With --render-scale S the files hold images at render resolution (proxy); the canonical frame
 * (region of definition, project size, XY parameters) is their size divided by S.
 *
 * Patterns may contain one printf integer conversion (the frame number). The animation file
 * has lines "TIME PARAM VALUE [VALUE2]" (a choice may be given by option name); doubles are
 * interpolated linearly between keys, integers/choices/booleans hold the last key; a string
 * holds one value for the whole clip ("-" = empty).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../src/ofx_abi.h"
#include "host_params.h"
#include "host_props.h"
#include "pfm.h"

/* ================================================================ images and clips */

struct OfxImageClipStruct {
  char name[64];
  OfxPropertySetHandle props;
  const char *pattern; /* NULL: not connected (or the output clip) */
  int nc;              /* components delivered */
};

#define MAX_CLIPS 8
struct OfxImageEffectStruct {
  OfxPropertySetHandle props;
  OfxParamSetHandle params;
  OfxImageClipHandle clips[MAX_CLIPS];
  int nclips;
};

/* Options */
static const char *o_binary, *o_source, *o_depth, *o_out, *o_anim, *o_describe;
static const char *o_alpha, *o_out_alpha;          /* Source alpha frames in, Output alpha frames out (PFM) */
static const char *o_premult = kOfxImageOpaque;    /* premultiplication state of RGBA images */
static const char *o_context = kOfxImageEffectContextFilter, *o_bitdepth = kOfxBitDepthFloat;
static const char *o_order; /* "--order 3,1,2": the frames to render, in this order (default: start..end) */
static int o_frames = 3, o_start = 0, o_threads = 1, o_kill_after = -1, o_nc = 4, o_depth_nc = -1;
static int g_w, g_h;
static double o_rs = 1.0; /* render scale: files are at render resolution, canonical = pixels / scale */
static double o_par = 1.0; /* pixel aspect ratio of every image: canonical x = pixel x * par / scale */
static int g_bytes = 4;
/* --frames-needed ask|default: ask the plugin (GetFramesNeeded, as hosts do for a plugin that declares
 * temporal clip access) or use the spec's default (time t only on every input, as a plugin that does
 * not answer gets). Either way a Render that fetches an input at an undeclared time fails. */
static int o_ask_frames = 1;
static int o_msg_version = 2; /* --message-suite 0|1|2: the newest message suite offered (0: none) */
static int g_temporal; /* the plugin descriptor's kOfxImageEffectPropTemporalClipAccess */

#define MAX_RANGES 8
typedef struct {
  char clip[64];
  int n; /* pairs */
  double r[MAX_RANGES][2];
} NeededFrames;
typedef struct {
  NeededFrames clip[4];
  int nclips, frame, undeclared;
} Needed;
static __thread Needed *tl_needed; /* set only while the plugin's Render runs */

typedef struct {
  float *px; /* float RGB(A) rendered by the plugin */
  int nc;
  void *mem;
} OutBuf;
static __thread OutBuf *tl_out;
static __thread int tl_thread_index;
static __thread int tl_spawned;

static void frame_path(char *buf, size_t n, const char *pattern, int frame) {
  if (strchr(pattern, '%')) snprintf(buf, n, pattern, frame);
  else snprintf(buf, n, "%s", pattern);
}

static size_t bytes_of(const char *depth) {
  return !strcmp(depth, kOfxBitDepthFloat) ? 4 : !strcmp(depth, kOfxBitDepthShort) ? 2 : 1;
}

static void store(void *data, size_t idx, float v) {
  if (g_bytes == 4) ((float *)data)[idx] = v;
  else if (g_bytes == 2) {
    float q = v * 65535.0f + 0.5f;
    ((uint16_t *)data)[idx] = (uint16_t)(q < 0 ? 0 : q > 65535 ? 65535 : q);
  } else {
    float q = v * 255.0f + 0.5f;
    ((uint8_t *)data)[idx] = (uint8_t)(q < 0 ? 0 : q > 255 ? 255 : q);
  }
}
static float load(const void *data, size_t idx) {
  if (g_bytes == 4) return ((const float *)data)[idx];
  if (g_bytes == 2) return ((const uint16_t *)data)[idx] / 65535.0f;
  return ((const uint8_t *)data)[idx] / 255.0f;
}

static OfxPropertySetHandle image_props(void *data, int w, int h, int nc) {
  OfxPropertySetHandle im = props_new();
  int bounds[4] = {0, 0, w, h};
  propSetString(im, kOfxPropType, 0, kOfxTypeImage);
  propSetPointer(im, kOfxImagePropData, 0, data);
  propSetIntN(im, kOfxImagePropBounds, 4, bounds);
  propSetIntN(im, kOfxImagePropRegionOfDefinition, 4, bounds);
  propSetInt(im, kOfxImagePropRowBytes, 0, (int)(w * nc * g_bytes));
  propSetString(im, kOfxImageEffectPropPixelDepth, 0, o_bitdepth);
  propSetString(im, kOfxImageEffectPropComponents, 0,
                nc == 4 ? kOfxImageComponentRGBA : nc == 3 ? kOfxImageComponentRGB : kOfxImageComponentAlpha);
  propSetDouble(im, kOfxImagePropPixelAspectRatio, 0, o_par);
  propSetString(im, kOfxImagePropField, 0, kOfxImageFieldNone);
  propSetString(im, kOfxImageEffectPropPreMultiplication, 0, nc == 4 ? o_premult : kOfxImageOpaque);
  double rs[2] = {o_rs, o_rs};
  propSetDoubleN(im, kOfxImageEffectPropRenderScale, 2, rs);
  return im;
}

static int frames_declared(const Needed *nd, const char *clip, OfxTime t) {
  for (int c = 0; c < nd->nclips; c++) {
    if (strcmp(nd->clip[c].clip, clip)) continue;
    for (int k = 0; k < nd->clip[c].n; k++)
      if (t >= nd->clip[c].r[k][0] && t <= nd->clip[c].r[k][1]) return 1;
  }
  return 0;
}

static OfxStatus clipGetImage(OfxImageClipHandle clip, OfxTime t, const OfxRectD *region, OfxPropertySetHandle *out) {
  (void)region;
  if (!clip) return kOfxStatErrBadHandle;
  if (!strcmp(clip->name, kOfxImageEffectOutputClipName)) {
    if (!tl_out) return kOfxStatFailed; /* only inside a render */
    *out = image_props(tl_out->mem, g_w, g_h, tl_out->nc);
    return kOfxStatOK;
  }
  if (!clip->pattern) return kOfxStatFailed;
  if (tl_needed && !frames_declared(tl_needed, clip->name, t)) {
    fprintf(stderr, "testhost: frame %d: plugin fetched %s at time %g, which it did not declare in GetFramesNeeded\n",
            tl_needed->frame, clip->name, t);
    tl_needed->undeclared = 1;
    return kOfxStatFailed;
  }
  int frame = (int)floor(t + 0.5);
  if (frame < o_start || frame >= o_start + o_frames) return kOfxStatFailed; /* outside the clip */
  char path[4096];
  frame_path(path, sizeof(path), clip->pattern, frame);
  Pfm pf;
  if (pfm_read(path, &pf) != 0) {
    fprintf(stderr, "testhost: cannot read %s\n", path);
    return kOfxStatFailed;
  }
  int nc = clip->nc;
  /* Source alpha from --alpha (straight coverage); RGB premultiplied by it when --premult says so. */
  Pfm pa = {0};
  int with_alpha = nc == 4 && o_alpha && !strcmp(clip->name, kOfxImageEffectSimpleSourceClipName);
  if (with_alpha) {
    char apath[4096];
    frame_path(apath, sizeof(apath), o_alpha, frame);
    if (pfm_read(apath, &pa) != 0 || pa.w != pf.w || pa.h != pf.h) {
      fprintf(stderr, "testhost: cannot read alpha %s (or its size differs)\n", apath);
      free(pf.px);
      free(pa.px);
      return kOfxStatFailed;
    }
  }
  int premult = with_alpha && !strcmp(o_premult, kOfxImagePreMultiplied);
  void *data = calloc((size_t)pf.w * pf.h * nc, (size_t)g_bytes);
  for (size_t i = 0; i < (size_t)pf.w * pf.h; i++) {
    float a = with_alpha ? pa.px[i * pa.nc] : 1.0f;
    for (int c = 0; c < nc; c++) {
      float v = c < 3 ? pf.px[i * pf.nc + (pf.nc == 3 ? c : 0)] * (premult ? a : 1.0f) : a;
      if (nc == 1) v = pf.px[i * pf.nc];
      store(data, i * nc + c, v);
    }
  }
  free(pf.px);
  free(pa.px);
  *out = image_props(data, pf.w, pf.h, nc);
  (*out)->owned = data;
  return kOfxStatOK;
}

static OfxStatus clipReleaseImage(OfxPropertySetHandle im) {
  if (!im) return kOfxStatErrBadHandle;
  free(im->owned);
  for (Prop *p = im->head, *nx; p; p = nx) {
    nx = p->next;
    for (int k = 0; k < p->n; k++) free(p->s[k]);
    free(p->s), free(p->i), free(p->d), free(p->p), free(p->name), free(p);
  }
  free(im);
  return kOfxStatOK;
}

static OfxStatus getPropertySet(OfxImageEffectHandle e, OfxPropertySetHandle *out) {
  if (!e) return kOfxStatErrBadHandle;
  *out = e->props;
  return kOfxStatOK;
}
static OfxStatus getParamSet(OfxImageEffectHandle e, OfxParamSetHandle *out) {
  if (!e) return kOfxStatErrBadHandle;
  *out = e->params;
  return kOfxStatOK;
}
static OfxStatus clipDefine(OfxImageEffectHandle e, const char *name, OfxPropertySetHandle *out) {
  if (!e || e->nclips >= MAX_CLIPS) return kOfxStatErrBadHandle;
  OfxImageClipHandle c = calloc(1, sizeof(*c));
  snprintf(c->name, sizeof(c->name), "%s", name);
  c->props = props_new();
  propSetString(c->props, kOfxPropType, 0, kOfxTypeClip);
  propSetString(c->props, kOfxPropName, 0, name);
  e->clips[e->nclips++] = c;
  if (out) *out = c->props;
  return kOfxStatOK;
}
static OfxStatus clipGetHandle(OfxImageEffectHandle e, const char *name, OfxImageClipHandle *clip,
                               OfxPropertySetHandle *pp) {
  for (int i = 0; i < e->nclips; i++)
    if (!strcmp(e->clips[i]->name, name)) {
      if (clip) *clip = e->clips[i];
      if (pp) *pp = e->clips[i]->props;
      return kOfxStatOK;
    }
  return kOfxStatErrUnknown;
}
static OfxStatus clipGetPropertySet(OfxImageClipHandle c, OfxPropertySetHandle *out) {
  if (!c) return kOfxStatErrBadHandle;
  *out = c->props;
  return kOfxStatOK;
}
static OfxStatus clipGetRegionOfDefinition(OfxImageClipHandle c, OfxTime t, OfxRectD *b) {
  (void)t;
  if (!c) return kOfxStatErrBadHandle;
  b->x1 = 0, b->y1 = 0, b->x2 = g_w * o_par / o_rs, b->y2 = g_h / o_rs; /* canonical coordinates */
  return kOfxStatOK;
}
static int effectAbort(OfxImageEffectHandle e) { (void)e; return 0; }
static OfxStatus imageMemoryAlloc(OfxImageEffectHandle e, size_t n, OfxImageMemoryHandle *h) {
  (void)e;
  *h = (OfxImageMemoryHandle)malloc(n ? n : 1);
  return *h ? kOfxStatOK : kOfxStatErrMemory;
}
static OfxStatus imageMemoryFree(OfxImageMemoryHandle h) { free(h); return kOfxStatOK; }
static OfxStatus imageMemoryLock(OfxImageMemoryHandle h, void **p) { *p = h; return kOfxStatOK; }
static OfxStatus imageMemoryUnlock(OfxImageMemoryHandle h) { (void)h; return kOfxStatOK; }

static const OfxImageEffectSuiteV1 g_effect_suite = {
    getPropertySet, getParamSet, clipDefine, clipGetHandle, clipGetPropertySet, clipGetImage, clipReleaseImage,
    clipGetRegionOfDefinition, effectAbort, imageMemoryAlloc, imageMemoryFree, imageMemoryLock, imageMemoryUnlock};

/* ================================================================ memory and threads */

static OfxStatus memoryAlloc(void *h, size_t n, void **out) {
  (void)h;
  *out = malloc(n ? n : 1);
  return *out ? kOfxStatOK : kOfxStatErrMemory;
}
static OfxStatus memoryFree(void *p) { free(p); return kOfxStatOK; }
static const OfxMemorySuiteV1 g_memory_suite = {memoryAlloc, memoryFree};

typedef struct {
  OfxThreadFunctionV1 *fn;
  unsigned idx, max;
  void *arg;
} ThreadArg;
static void *mt_trampoline(void *a) {
  ThreadArg *t = a;
  tl_thread_index = (int)t->idx;
  tl_spawned = 1;
  t->fn(t->idx, t->max, t->arg);
  return NULL;
}
static OfxStatus multiThread(OfxThreadFunctionV1 fn, unsigned n, void *arg) {
  if (n == 0) n = 1;
  pthread_t *th = calloc(n, sizeof(pthread_t));
  ThreadArg *ta = calloc(n, sizeof(ThreadArg));
  for (unsigned i = 0; i < n; i++) {
    ta[i] = (ThreadArg){fn, i, n, arg};
    pthread_create(&th[i], NULL, mt_trampoline, &ta[i]);
  }
  for (unsigned i = 0; i < n; i++) pthread_join(th[i], NULL);
  free(th), free(ta);
  return kOfxStatOK;
}
static OfxStatus multiThreadNumCPUs(unsigned *n) {
  long c = sysconf(_SC_NPROCESSORS_ONLN);
  *n = c > 0 ? (unsigned)c : 1;
  return kOfxStatOK;
}
static OfxStatus multiThreadIndex(unsigned *i) { *i = (unsigned)tl_thread_index; return kOfxStatOK; }
static int multiThreadIsSpawnedThread(void) { return tl_spawned; }
static OfxStatus mutexCreate(OfxMutexHandle *m, int count) {
  pthread_mutex_t *mx = malloc(sizeof(*mx));
  pthread_mutexattr_t at;
  pthread_mutexattr_init(&at);
  pthread_mutexattr_settype(&at, PTHREAD_MUTEX_RECURSIVE);
  pthread_mutex_init(mx, &at);
  pthread_mutexattr_destroy(&at);
  for (int i = 0; i < count; i++) pthread_mutex_lock(mx);
  *m = (OfxMutexHandle)mx;
  return kOfxStatOK;
}
static OfxStatus mutexDestroy(const OfxMutexHandle m) { pthread_mutex_destroy((pthread_mutex_t *)m); free(m); return kOfxStatOK; }
static OfxStatus mutexLock(const OfxMutexHandle m) { return pthread_mutex_lock((pthread_mutex_t *)m) ? kOfxStatFailed : kOfxStatOK; }
static OfxStatus mutexUnLock(const OfxMutexHandle m) { return pthread_mutex_unlock((pthread_mutex_t *)m) ? kOfxStatFailed : kOfxStatOK; }
static OfxStatus mutexTryLock(const OfxMutexHandle m) { return pthread_mutex_trylock((pthread_mutex_t *)m) ? kOfxStatFailed : kOfxStatOK; }
static const OfxMultiThreadSuiteV1 g_mt_suite = {multiThread, multiThreadNumCPUs, multiThreadIndex,
                                                 multiThreadIsSpawnedThread, mutexCreate, mutexDestroy,
                                                 mutexLock, mutexUnLock, mutexTryLock};

/* Message suite V2 (V1 is its first member, so one table serves both). Every message is printed to
 * stdout as "plugin message (TYPE, transient|persistent): TEXT" -- the record the tests read -- and
 * the persistent one is kept until cleared and printed at exit. */
static pthread_mutex_t g_msg_lock = PTHREAD_MUTEX_INITIALIZER;
static char g_persistent[1024];
static OfxImageEffectHandle g_inst;

static int message_type_known(const char *type, int persistent) {
  static const char *const types[] = {kOfxMessageError, kOfxMessageWarning, kOfxMessageMessage,
                                      kOfxMessageFatal, kOfxMessageLog};
  for (int k = 0; type && k < (persistent ? 3 : 5); k++) /* persistent: error, warning, message only */
    if (!strcmp(type, types[k])) return 1;
  return 0;
}

static OfxStatus post_message(void *handle, const char *type, int persistent, const char *fmt, va_list ap) {
  if (persistent && (!handle || handle != (void *)g_inst)) return kOfxStatErrBadHandle;
  if (!message_type_known(type, persistent) || !fmt) {
    fprintf(stderr, "testhost: plugin posted a message of unknown type %s\n", type ? type : "(null)");
    return kOfxStatFailed;
  }
  char text[1024];
  vsnprintf(text, sizeof(text), fmt, ap);
  pthread_mutex_lock(&g_msg_lock);
  printf("plugin message (%s, %s): %s\n", type, persistent ? "persistent" : "transient", text);
  fflush(stdout);
  if (persistent) snprintf(g_persistent, sizeof(g_persistent), "%s", text);
  pthread_mutex_unlock(&g_msg_lock);
  return kOfxStatOK;
}
static OfxStatus msgMessage(void *handle, const char *type, const char *id, const char *fmt, ...) {
  (void)id;
  va_list ap;
  va_start(ap, fmt);
  OfxStatus st = post_message(handle, type, 0, fmt, ap);
  va_end(ap);
  return st;
}
static OfxStatus msgSetPersistent(void *handle, const char *type, const char *id, const char *fmt, ...) {
  (void)id;
  va_list ap;
  va_start(ap, fmt);
  OfxStatus st = post_message(handle, type, 1, fmt, ap);
  va_end(ap);
  return st;
}
static OfxStatus msgClearPersistent(void *handle) {
  if (!handle || handle != (void *)g_inst) return kOfxStatErrBadHandle;
  pthread_mutex_lock(&g_msg_lock);
  if (g_persistent[0]) printf("plugin cleared its persistent message\n");
  g_persistent[0] = 0;
  pthread_mutex_unlock(&g_msg_lock);
  return kOfxStatOK;
}
static const OfxMessageSuiteV2 g_msg_suite = {msgMessage, msgSetPersistent, msgClearPersistent};

static const void *fetchSuite(OfxPropertySetHandle host, const char *name, int version) {
  (void)host;
  if (!strcmp(name, kOfxMessageSuite) && version >= 1 && version <= o_msg_version) return &g_msg_suite;
  if (version != 1) return NULL;
  if (!strcmp(name, kOfxPropertySuite)) return &g_prop_suite;
  if (!strcmp(name, kOfxParameterSuite)) return &g_param_suite;
  if (!strcmp(name, kOfxImageEffectSuite)) return &g_effect_suite;
  if (!strcmp(name, kOfxMemorySuite)) return &g_memory_suite;
  if (!strcmp(name, kOfxMultiThreadSuite)) return &g_mt_suite;
  return NULL;
}

/* ================================================================ JSON dump of the description */

static void json_str(FILE *f, const char *s) {
  fputc('"', f);
  for (; s && *s; s++) {
    if (*s == '"' || *s == '\\') fprintf(f, "\\%c", *s);
    else if ((unsigned char)*s < 0x20) fprintf(f, "\\u%04x", *s);
    else fputc(*s, f);
  }
  fputc('"', f);
}

static void json_prop_values(FILE *f, OfxPropertySetHandle ps, const char *name) {
  Prop *p = prop_find(ps, name);
  if (!p) {
    fputs("null", f);
    return;
  }
  fputc('[', f);
  for (int k = 0; k < p->n; k++) {
    if (k) fputc(',', f);
    if (p->type == PT_STR) json_str(f, p->s[k]);
    else if (p->type == PT_INT) fprintf(f, "%d", p->i[k]);
    else if (p->type == PT_DBL) fprintf(f, "%.17g", p->d[k]);
    else fputs("null", f);
  }
  fputc(']', f);
}

static void dump_description(const char *path, OfxImageEffectHandle desc) {
  FILE *f = fopen(path, "w");
  if (!f) {
    perror(path);
    return;
  }
  static const char *const effect_props[] = {kOfxPropLabel, kOfxImageEffectPluginPropGrouping,
                                             kOfxImageEffectPropSupportedContexts,
                                             kOfxImageEffectPropSupportedPixelDepths,
                                             kOfxImageEffectPluginRenderThreadSafety,
                                             kOfxImageEffectPropSupportsTiles, kOfxImageEffectPropTemporalClipAccess};
  fputs("{\"effect\":{", f);
  for (size_t i = 0; i < sizeof(effect_props) / sizeof(*effect_props); i++) {
    if (i) fputc(',', f);
    json_str(f, effect_props[i]);
    fputc(':', f);
    json_prop_values(f, desc->props, effect_props[i]);
  }
  fputs("},\"clips\":[", f);
  for (int i = 0; i < desc->nclips; i++) {
    OfxImageClipHandle c = desc->clips[i];
    fprintf(f, "%s{\"name\":", i ? "," : "");
    json_str(f, c->name);
    fputs(",\"optional\":", f);
    json_prop_values(f, c->props, kOfxImageClipPropOptional);
    fputs(",\"components\":", f);
    json_prop_values(f, c->props, kOfxImageEffectPropSupportedComponents);
    fputc('}', f);
  }
  static const char *const param_props[][2] = {
      {"label", kOfxPropLabel}, {"hint", kOfxParamPropHint}, {"script_name", kOfxParamPropScriptName},
      {"default", kOfxParamPropDefault}, {"min", kOfxParamPropMin}, {"max", kOfxParamPropMax},
      {"display_min", kOfxParamPropDisplayMin}, {"display_max", kOfxParamPropDisplayMax},
      {"choices", kOfxParamPropChoiceOption}, {"parent", kOfxParamPropParent},
      {"double_type", kOfxParamPropDoubleType}, {"coordinates", kOfxParamPropDefaultCoordinateSystem},
      {"page_children", kOfxParamPropPageChild}, {"animates", kOfxParamPropAnimates},
      {"string_mode", kOfxParamPropStringMode}};
  fputs("],\"params\":[", f);
  for (int i = 0; i < desc->params->n; i++) {
    OfxParamHandle p = desc->params->p[i];
    fprintf(f, "%s{\"name\":", i ? ",\n" : "");
    json_str(f, p->name);
    fputs(",\"type\":", f);
    json_str(f, p->type);
    for (size_t k = 0; k < sizeof(param_props) / sizeof(*param_props); k++) {
      fprintf(f, ",\"%s\":", param_props[k][0]);
      json_prop_values(f, p->props, param_props[k][1]);
    }
    fputc('}', f);
  }
  fputs("]}\n", f);
  fclose(f);
}

/* ================================================================ running the plugin */

static OfxPlugin *g_plugin;
static int g_failures;
static pthread_mutex_t g_fail_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_barrier_t g_barrier;

static OfxStatus action(const char *name, const void *handle, OfxPropertySetHandle in, OfxPropertySetHandle out) {
  return g_plugin->mainEntry(name, handle, in, out);
}

static OfxImageEffectHandle effect_new(const char *type) {
  OfxImageEffectHandle e = calloc(1, sizeof(*e));
  e->props = props_new();
  e->params = calloc(1, sizeof(*e->params));
  e->params->props = props_new();
  propSetString(e->props, kOfxPropType, 0, type);
  return e;
}

static void fail(const char *what, int frame, OfxStatus st) {
  pthread_mutex_lock(&g_fail_lock);
  fprintf(stderr, "testhost: frame %d: %s failed (status %d)\n", frame, what, st);
  g_failures++;
  pthread_mutex_unlock(&g_fail_lock);
}

/* The input frames the plugin may fetch while rendering time t: the spec's default (t on every input
 * clip), then, for a plugin with temporal clip access, its answer to GetFramesNeeded; printed as
 * "frame F: frames needed CLIP a b [c d ...]; ..." for the tests. */
static int frames_needed(OfxTime t, Needed *nd) {
  memset(nd, 0, sizeof(*nd));
  nd->frame = (int)t;
  OfxPropertySetHandle in = props_new(), out = props_new();
  propSetDouble(in, kOfxPropTime, 0, t);
  char name[128];
  for (int i = 0; i < g_inst->nclips; i++) {
    if (!strcmp(g_inst->clips[i]->name, kOfxImageEffectOutputClipName)) continue;
    double dflt[2] = {t, t};
    snprintf(name, sizeof(name), "OfxImageClipPropFrameRange_%s", g_inst->clips[i]->name);
    propSetDoubleN(out, name, 2, dflt);
  }
  OfxStatus st = g_temporal && o_ask_frames ? action(kOfxImageEffectActionGetFramesNeeded, g_inst, in, out)
                                            : kOfxStatReplyDefault;
  int ok = st == kOfxStatOK || st == kOfxStatReplyDefault;
  if (!ok) fail("GetFramesNeeded", nd->frame, st);
  char line[1024];
  size_t len = (size_t)snprintf(line, sizeof(line), "frame %d: frames needed", nd->frame);
  for (int i = 0; ok && i < g_inst->nclips && nd->nclips < 4; i++) {
    if (!strcmp(g_inst->clips[i]->name, kOfxImageEffectOutputClipName)) continue;
    NeededFrames *c = &nd->clip[nd->nclips++];
    snprintf(c->clip, sizeof(c->clip), "%s", g_inst->clips[i]->name);
    snprintf(name, sizeof(name), "OfxImageClipPropFrameRange_%s", c->clip);
    int dim = 0;
    propGetDimension(out, name, &dim);
    c->n = dim / 2 > MAX_RANGES ? MAX_RANGES : dim / 2;
    if (dim % 2) fail("GetFramesNeeded (odd number of range values)", nd->frame, kOfxStatErrValue), ok = 0;
    propGetDoubleN(out, name, 2 * c->n, &c->r[0][0]);
    if (len < sizeof(line)) len += (size_t)snprintf(line + len, sizeof(line) - len, "%s %s", nd->nclips > 1 ? ";" : "", c->clip);
    for (int k = 0; k < c->n && len < sizeof(line); k++)
      len += (size_t)snprintf(line + len, sizeof(line) - len, " %g %g", c->r[k][0], c->r[k][1]);
  }
  printf("%s\n", line);
  clipReleaseImage(in);
  clipReleaseImage(out);
  return ok;
}

static void render_frame(int frame) {
  OfxTime t = frame;
  double rs[2] = {o_rs, o_rs};
  int win[4] = {0, 0, g_w, g_h};
  OfxPropertySetHandle in = props_new(), out = props_new();
  propSetDouble(in, kOfxPropTime, 0, t);
  propSetString(in, kOfxImageEffectPropFieldToRender, 0, kOfxImageFieldNone);
  propSetIntN(in, kOfxImageEffectPropRenderWindow, 4, win);
  propSetDoubleN(in, kOfxImageEffectPropRenderScale, 2, rs);
  OutBuf ob = {NULL, o_nc, calloc((size_t)g_w * g_h * o_nc, (size_t)g_bytes)};
  tl_out = &ob;
  float *rgb = calloc((size_t)g_w * g_h * 3, sizeof(float));
  OfxStatus st = action(kOfxImageEffectActionIsIdentity, g_inst, in, out);
  const char *idclip = st == kOfxStatOK ? pstr(out, kOfxPropName, 0) : NULL;
  int ok = 1;
  if (idclip) {
    OfxImageClipHandle c = NULL;
    OfxPropertySetHandle im = NULL;
    double it = t;
    propGetDouble(out, kOfxPropTime, 0, &it);
    if (clipGetHandle(g_inst, idclip, &c, NULL) != kOfxStatOK || clipGetImage(c, it, NULL, &im) != kOfxStatOK) {
      fail("identity fetch", frame, kOfxStatFailed);
      ok = 0;
    } else {
      for (size_t i = 0; i < (size_t)g_w * g_h; i++)
        for (int ch = 0; ch < 3; ch++) rgb[i * 3 + ch] = load(im->owned, i * c->nc + ch);
      clipReleaseImage(im);
    }
    printf("frame %d: identity (%s)\n", frame, idclip);
  } else if (st != kOfxStatReplyDefault && st != kOfxStatOK) {
    fail("IsIdentity", frame, st);
    ok = 0;
  } else {
    Needed needed;
    ok = frames_needed(t, &needed);
    tl_needed = &needed;
    st = ok ? action(kOfxImageEffectActionRender, g_inst, in, out) : kOfxStatFailed;
    tl_needed = NULL;
    if (ok && needed.undeclared) {
      fail("Render (fetched an undeclared frame)", frame, st);
      ok = 0;
    } else if (ok && st != kOfxStatOK) {
      fail("Render", frame, st);
      ok = 0;
    } else if (ok) {
      for (size_t i = 0; i < (size_t)g_w * g_h; i++)
        for (int ch = 0; ch < 3; ch++) rgb[i * 3 + ch] = load(ob.mem, i * o_nc + ch);
      printf("frame %d: rendered\n", frame);
    }
  }
  fflush(stdout);
  if (ok && o_out) {
    char path[4096];
    frame_path(path, sizeof(path), o_out, frame);
    if (pfm_write(path, g_w, g_h, 3, rgb) != 0) fail("write output", frame, kOfxStatFailed);
  }
  if (ok && o_out_alpha && o_nc == 4 && !idclip) {
    char path[4096];
    float *alpha = calloc((size_t)g_w * g_h, sizeof(float));
    for (size_t i = 0; alpha && i < (size_t)g_w * g_h; i++) alpha[i] = load(ob.mem, i * 4 + 3);
    frame_path(path, sizeof(path), o_out_alpha, frame);
    if (!alpha || pfm_write(path, g_w, g_h, 1, alpha) != 0) fail("write output alpha", frame, kOfxStatFailed);
    free(alpha);
  }
  tl_out = NULL;
  free(rgb);
  free(ob.mem);
  clipReleaseImage(in);
  clipReleaseImage(out);
}

static void kill_bridge(void) {
  char path[4096];
  const char *sock = getenv("GENREFOCUS_OFX_SOCKET");
  if (!sock) {
    fprintf(stderr, "testhost: --kill-bridge-after needs GENREFOCUS_OFX_SOCKET\n");
    return;
  }
  snprintf(path, sizeof(path), "%s", sock);
  char *slash = strrchr(path, '/');
  if (slash) *slash = 0;
  strncat(path, "/bridge.pid", sizeof(path) - strlen(path) - 1);
  FILE *f = fopen(path, "r");
  int pid = 0;
  if (!f || fscanf(f, "%d", &pid) != 1 || pid <= 1) {
    fprintf(stderr, "testhost: no bridge pid in %s\n", path);
    if (f) fclose(f);
    return;
  }
  fclose(f);
  kill(pid, SIGKILL);
  printf("killed bridge pid %d\n", pid);
  fflush(stdout);
  usleep(200000);
}

typedef struct { int tid; } Worker;
static void *worker(void *arg) {
  int tid = ((Worker *)arg)->tid;
  pthread_barrier_wait(&g_barrier); /* all threads call Render at the same moment */
  for (int f = o_start + tid; f < o_start + o_frames; f += o_threads) render_frame(f);
  return NULL;
}

/* Animation: "TIME PARAM VALUE [VALUE2]" lines become keys on the instance's parameters. */
static int load_anim(OfxImageEffectHandle inst, const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) {
    perror(path);
    return -1;
  }
  char line[4096];
  while (fgets(line, sizeof(line), f)) {
    char name[128], v1[1024], v2[128] = "";
    double t;
    if (line[0] == '#' || sscanf(line, "%lf %127s %1023s %127s", &t, name, v1, v2) < 3) continue;
    OfxParamHandle p;
    if (paramGetHandle(inst->params, name, &p, NULL) != kOfxStatOK) {
      fprintf(stderr, "testhost: %s: unknown parameter %s\n", path, name);
      fclose(f);
      return -1;
    }
    double a = strtod(v1, NULL), b = v2[0] ? strtod(v2, NULL) : 0;
    if (!strcmp(p->type, kOfxParamTypeString)) { /* one value for the whole clip ("-" = empty) */
      snprintf(p->text, sizeof(p->text), "%s", strcmp(v1, "-") ? v1 : "");
      continue;
    }
    if (!strcmp(p->type, kOfxParamTypeChoice)) {
      int nopt = 0;
      propGetDimension(p->props, kOfxParamPropChoiceOption, &nopt);
      for (int k = 0; k < nopt; k++)
        if (!strcmp(pstr(p->props, kOfxParamPropChoiceOption, k), v1)) a = k;
    } else if (!strcmp(p->type, kOfxParamTypeBoolean)) {
      a = (!strcmp(v1, "true") || !strcmp(v1, "1")) ? 1 : 0;
    }
    if (p->nkeys >= MAX_KEYS) continue;
    int k = p->nkeys++;
    while (k > 0 && p->ktime[k - 1] > t) { /* keep keys sorted */
      p->ktime[k] = p->ktime[k - 1];
      p->kval[k][0] = p->kval[k - 1][0], p->kval[k][1] = p->kval[k - 1][1];
      k--;
    }
    p->ktime[k] = t, p->kval[k][0] = a, p->kval[k][1] = b;
  }
  fclose(f);
  return 0;
}

static int usage(void) {
  fprintf(stderr, "usage: testhost BINARY --source SRC.pfm [--depth D.pfm] [--out OUT_%%03d.pfm] [--frames N] "
                  "[--start F] [--anim FILE] [--bit-depth float|short|byte] [--components RGBA|RGB] "
                  "[--depth-components RGBA|RGB|Alpha] [--context filter|general] [--threads T] "
                  "[--kill-bridge-after K] [--render-scale S] [--pixel-aspect P] [--alpha A_%%03d.pfm] "
                  "[--premult premultiplied|unpremultiplied|opaque] [--out-alpha OA_%%03d.pfm] "
                  "[--describe-json FILE] [--frames-needed ask|default] [--message-suite 0|1|2] [--order F,F,...]\n");
  return 2;
}

static int ncomp(const char *s) { return !strcmp(s, "RGBA") ? 4 : !strcmp(s, "RGB") ? 3 : !strcmp(s, "Alpha") ? 1 : -1; }

int main(int argc, char **argv) {
  if (argc < 2) return usage();
  o_binary = argv[1];
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!v) return usage();
    i++;
    if (!strcmp(a, "--source")) o_source = v;
    else if (!strcmp(a, "--depth")) o_depth = v;
    else if (!strcmp(a, "--out")) o_out = v;
    else if (!strcmp(a, "--anim")) o_anim = v;
    else if (!strcmp(a, "--describe-json")) o_describe = v;
    else if (!strcmp(a, "--frames-needed")) o_ask_frames = strcmp(v, "default") != 0;
    else if (!strcmp(a, "--message-suite")) o_msg_version = atoi(v);
    else if (!strcmp(a, "--frames")) o_frames = atoi(v);
    else if (!strcmp(a, "--start")) o_start = atoi(v);
    else if (!strcmp(a, "--order")) o_order = v;
    else if (!strcmp(a, "--threads")) o_threads = atoi(v) > 0 ? atoi(v) : 1;
    else if (!strcmp(a, "--kill-bridge-after")) o_kill_after = atoi(v);
    else if (!strcmp(a, "--render-scale")) o_rs = strtod(v, NULL) > 0 ? strtod(v, NULL) : 1.0;
    else if (!strcmp(a, "--pixel-aspect")) o_par = strtod(v, NULL) > 0 ? strtod(v, NULL) : 1.0;
    else if (!strcmp(a, "--alpha")) o_alpha = v;
    else if (!strcmp(a, "--out-alpha")) o_out_alpha = v;
    else if (!strcmp(a, "--premult"))
      o_premult = !strcmp(v, "premultiplied") ? kOfxImagePreMultiplied
                  : !strcmp(v, "unpremultiplied") ? kOfxImageUnPreMultiplied : kOfxImageOpaque;
    else if (!strcmp(a, "--components")) o_nc = ncomp(v);
    else if (!strcmp(a, "--depth-components")) o_depth_nc = ncomp(v);
    else if (!strcmp(a, "--context"))
      o_context = !strcmp(v, "general") ? kOfxImageEffectContextGeneral : kOfxImageEffectContextFilter;
    else if (!strcmp(a, "--bit-depth"))
      o_bitdepth = !strcmp(v, "short") ? kOfxBitDepthShort : !strcmp(v, "byte") ? kOfxBitDepthByte : kOfxBitDepthFloat;
    else return usage();
  }
  if (o_nc != 3 && o_nc != 4) return usage();
  if (o_depth_nc < 0) o_depth_nc = o_nc;
  g_bytes = (int)bytes_of(o_bitdepth);

  void *lib = dlopen(o_binary, RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    fprintf(stderr, "testhost: dlopen: %s\n", dlerror());
    return 3;
  }
  int (*get_n)(void) = (int (*)(void))dlsym(lib, "OfxGetNumberOfPlugins");
  OfxPlugin *(*get_p)(int) = (OfxPlugin * (*)(int)) dlsym(lib, "OfxGetPlugin");
  OfxStatus (*set_host)(const OfxHost *) = (OfxStatus(*)(const OfxHost *))dlsym(lib, "OfxSetHost");
  if (!get_n || !get_p) {
    fprintf(stderr, "testhost: %s does not export OfxGetNumberOfPlugins/OfxGetPlugin\n", o_binary);
    return 3;
  }
  static OfxHost host;
  host.host = props_new();
  host.fetchSuite = fetchSuite;
  propSetString(host.host, kOfxPropName, 0, "org.genrefocus.testhost");
  propSetString(host.host, kOfxPropLabel, 0, "GenRefocus headless test host");
  int api[2] = {1, 4};
  propSetIntN(host.host, kOfxPropAPIVersion, 2, api);
  propSetInt(host.host, kOfxImageEffectHostPropIsBackground, 0, 1);
  propSetInt(host.host, kOfxImageEffectPropSupportsMultiResolution, 0, 1);
  propSetInt(host.host, kOfxImageEffectPropSupportsTiles, 0, 1);
  propSetInt(host.host, kOfxImageEffectPropTemporalClipAccess, 0, 1);
  propSetString(host.host, kOfxImageEffectPropSupportedComponents, 0, kOfxImageComponentRGBA);
  propSetString(host.host, kOfxImageEffectPropSupportedComponents, 1, kOfxImageComponentRGB);
  propSetString(host.host, kOfxImageEffectPropSupportedComponents, 2, kOfxImageComponentAlpha);
  propSetString(host.host, kOfxImageEffectPropSupportedContexts, 0, kOfxImageEffectContextFilter);
  propSetString(host.host, kOfxImageEffectPropSupportedContexts, 1, kOfxImageEffectContextGeneral);
  if (set_host) set_host(&host);
  if (get_n() < 1 || !(g_plugin = get_p(0))) return 3;
  if (strcmp(g_plugin->pluginApi, kOfxImageEffectPluginApi) || g_plugin->apiVersion != 1) {
    fprintf(stderr, "testhost: plugin API %s v%d not supported\n", g_plugin->pluginApi, g_plugin->apiVersion);
    return 3;
  }
  printf("plugin %s %u.%u\n", g_plugin->pluginIdentifier, g_plugin->pluginVersionMajor, g_plugin->pluginVersionMinor);
  g_plugin->setHost(&host);
  OfxStatus st;
  if ((st = action(kOfxActionLoad, NULL, NULL, NULL)) != kOfxStatOK) {
    fprintf(stderr, "testhost: Load failed (%d)\n", st);
    return 4;
  }
  /* Describe, then describe in the chosen context (on a fresh descriptor, as hosts do). */
  OfxImageEffectHandle desc = effect_new(kOfxTypeImageEffect);
  if ((st = action(kOfxActionDescribe, desc, NULL, NULL)) != kOfxStatOK) {
    fprintf(stderr, "testhost: Describe failed (%d)\n", st);
    return 4;
  }
  int nctx = 0, supported = 0, nd = 0, depth_ok = 0;
  propGetDimension(desc->props, kOfxImageEffectPropSupportedContexts, &nctx);
  for (int i = 0; i < nctx; i++) supported |= !strcmp(pstr(desc->props, kOfxImageEffectPropSupportedContexts, i), o_context);
  propGetDimension(desc->props, kOfxImageEffectPropSupportedPixelDepths, &nd);
  for (int i = 0; i < nd; i++) depth_ok |= !strcmp(pstr(desc->props, kOfxImageEffectPropSupportedPixelDepths, i), o_bitdepth);
  if (!supported || !depth_ok) {
    fprintf(stderr, "testhost: plugin does not support context %s / depth %s\n", o_context, o_bitdepth);
    return 4;
  }
  OfxImageEffectHandle cdesc = effect_new(kOfxTypeImageEffect);
  for (Prop *p = desc->props->head; p; p = p->next) /* context descriptor starts from the describe props */
    for (int k = 0; k < p->n; k++) {
      if (p->type == PT_STR) propSetString(cdesc->props, p->name, k, p->s[k]);
      else if (p->type == PT_INT) propSetInt(cdesc->props, p->name, k, p->i[k]);
      else if (p->type == PT_DBL) propSetDouble(cdesc->props, p->name, k, p->d[k]);
    }
  OfxPropertySetHandle in = props_new();
  propSetString(in, kOfxImageEffectPropContext, 0, o_context);
  if ((st = action(kOfxImageEffectActionDescribeInContext, cdesc, in, NULL)) != kOfxStatOK) {
    fprintf(stderr, "testhost: DescribeInContext failed (%d)\n", st);
    return 4;
  }
  if (o_describe) dump_description(o_describe, cdesc);
  g_temporal = pint(cdesc->props, kOfxImageEffectPropTemporalClipAccess, 0, 0);
  if (!o_source || o_frames <= 0) {
    action(kOfxActionUnload, NULL, NULL, NULL);
    return 0;
  }

  /* Instance: parameters from the descriptor (defaults), clips connected to the files. */
  char first[4096];
  frame_path(first, sizeof(first), o_source, o_start);
  Pfm pf;
  if (pfm_read(first, &pf) != 0) {
    fprintf(stderr, "testhost: cannot read source %s\n", first);
    return 3;
  }
  g_w = pf.w, g_h = pf.h;
  free(pf.px);
  g_inst = effect_new(kOfxTypeImageEffectInstance);
  propSetString(g_inst->props, kOfxImageEffectPropContext, 0, o_context);
  double psize[2] = {g_w * o_par / o_rs, g_h / o_rs}, poff[2] = {0, 0};
  propSetDoubleN(g_inst->props, kOfxImageEffectPropProjectSize, 2, psize);
  propSetDoubleN(g_inst->props, kOfxImageEffectPropProjectExtent, 2, psize);
  propSetDoubleN(g_inst->props, kOfxImageEffectPropProjectOffset, 2, poff);
  for (int i = 0; i < cdesc->params->n; i++) {
    OfxParamHandle d = cdesc->params->p[i], p;
    OfxPropertySetHandle pp;
    paramDefine(g_inst->params, d->type, d->name, &pp);
    paramGetHandle(g_inst->params, d->name, &p, NULL);
    for (Prop *q = d->props->head; q; q = q->next)
      for (int k = 0; k < q->n; k++) {
        if (q->type == PT_STR) propSetString(pp, q->name, k, q->s[k]);
        else if (q->type == PT_INT) propSetInt(pp, q->name, k, q->i[k]);
        else if (q->type == PT_DBL) propSetDouble(pp, q->name, k, q->d[k]);
      }
    propSetString(pp, kOfxPropType, 0, kOfxTypeParameterInstance);
    for (int c = 0; c < dims_of(p->type); c++) {
      double dv = 0;
      int iv = 0;
      if (is_double_type(p->type)) propGetDouble(pp, kOfxParamPropDefault, c, &dv);
      else if (propGetInt(pp, kOfxParamPropDefault, c, &iv) == kOfxStatOK) dv = iv;
      p->val[c] = dv;
    }
    if (!strcmp(p->type, kOfxParamTypeString)) snprintf(p->text, sizeof(p->text), "%s", pstr(pp, kOfxParamPropDefault, 0) ? pstr(pp, kOfxParamPropDefault, 0) : "");
    const char *cs = pstr(pp, kOfxParamPropDefaultCoordinateSystem, 0);
    if (cs && !strcmp(cs, kOfxParamCoordinatesNormalised)) /* normalised default -> canonical */
      p->val[0] *= psize[0], p->val[1] *= psize[1];
  }
  for (int i = 0; i < cdesc->nclips; i++) {
    OfxImageClipHandle dc = cdesc->clips[i], c;
    OfxPropertySetHandle cp;
    clipDefine(g_inst, dc->name, &cp);
    clipGetHandle(g_inst, dc->name, &c, NULL);
    int is_src = !strcmp(dc->name, kOfxImageEffectSimpleSourceClipName);
    int is_depth = !strcmp(dc->name, "Depth");
    int is_out = !strcmp(dc->name, kOfxImageEffectOutputClipName);
    c->pattern = is_src ? o_source : is_depth ? o_depth : NULL;
    c->nc = is_depth ? o_depth_nc : o_nc;
    propSetInt(cp, kOfxImageClipPropConnected, 0, c->pattern != NULL || is_out);
    propSetString(cp, kOfxImageEffectPropPixelDepth, 0, o_bitdepth);
    propSetString(cp, kOfxImageEffectPropComponents, 0,
                  c->nc == 4 ? kOfxImageComponentRGBA : c->nc == 3 ? kOfxImageComponentRGB : kOfxImageComponentAlpha);
    propSetInt(cp, kOfxImageClipPropOptional, 0, pint(dc->props, kOfxImageClipPropOptional, 0, 0));
    double clip_range[2] = {o_start, o_start + o_frames - 1}; /* the frames the clip has images for */
    propSetDoubleN(cp, kOfxImageEffectPropFrameRange, 2, clip_range);
  }
  if (o_anim && load_anim(g_inst, o_anim) != 0) return 2;
  if ((st = action(kOfxActionCreateInstance, g_inst, NULL, NULL)) != kOfxStatOK) {
    fprintf(stderr, "testhost: CreateInstance failed (%d)\n", st);
    return 4;
  }
  OfxPropertySetHandle out = props_new();
  st = action(kOfxImageEffectActionGetClipPreferences, g_inst, props_new(), out);
  const char *oc = pstr(out, "OfxImageClipPropComponents_Output", 0);
  printf("clip preferences: status %d, output components %s\n", st, oc ? oc : "(default)");
  in = props_new();
  double rs[2] = {o_rs, o_rs};
  propSetDouble(in, kOfxPropTime, 0, o_start);
  propSetDoubleN(in, kOfxImageEffectPropRenderScale, 2, rs);
  out = props_new();
  st = action(kOfxImageEffectActionGetRegionOfDefinition, g_inst, in, out);
  double rod[4] = {0, 0, 0, 0};
  propGetDoubleN(out, kOfxImageEffectPropRegionOfDefinition, 4, rod);
  printf("region of definition: status %d, %g %g %g %g\n", st, rod[0], rod[1], rod[2], rod[3]);
  in = props_new();
  double range[2] = {o_start, o_start + o_frames - 1};
  propSetDoubleN(in, kOfxImageEffectPropFrameRange, 2, range);
  propSetDouble(in, kOfxImageEffectPropFrameStep, 0, 1.0);
  propSetInt(in, kOfxPropIsInteractive, 0, 0);
  propSetDoubleN(in, kOfxImageEffectPropRenderScale, 2, rs);
  if ((st = action(kOfxImageEffectActionBeginSequenceRender, g_inst, in, NULL)) != kOfxStatOK) {
    fprintf(stderr, "testhost: BeginSequenceRender failed (%d)\n", st);
    return 4;
  }
  if (o_threads > 1) {
    pthread_t th[64];
    Worker w[64];
    int n = o_threads > 64 ? 64 : o_threads;
    o_threads = n;
    pthread_barrier_init(&g_barrier, NULL, (unsigned)n);
    for (int i = 0; i < n; i++) {
      w[i].tid = i;
      pthread_create(&th[i], NULL, worker, &w[i]);
    }
    for (int i = 0; i < n; i++) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&g_barrier);
  } else if (o_order) {
    for (const char *p = o_order; *p;) { /* frames in the order given: a host scrubbing back or jumping */
      char *end;
      long f = strtol(p, &end, 10);
      if (end == p) {
        fprintf(stderr, "testhost: --order %s: expected frame numbers separated by commas\n", o_order);
        return 2;
      }
      render_frame((int)f);
      p = *end == ',' ? end + 1 : end;
    }
  } else {
    for (int f = o_start; f < o_start + o_frames; f++) {
      render_frame(f);
      if (f - o_start + 1 == o_kill_after) kill_bridge();
    }
  }
  action(kOfxImageEffectActionEndSequenceRender, g_inst, in, NULL);
  action(kOfxActionDestroyInstance, g_inst, NULL, NULL);
  action(kOfxActionUnload, NULL, NULL, NULL);
  printf("persistent message at end: %s\n", g_persistent[0] ? g_persistent : "(none)");
  printf("done: %d failure(s)\n", g_failures);
  return g_failures ? 1 : 0;
}
