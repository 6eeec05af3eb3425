/*
 * genrefocus_plugin.c -- GenRefocus, an OpenFX image effect that refocuses a frame from its depth.
 *
 * One effect: Source (+ optional Depth, disparity in its first channel, larger = nearer) ->
 * Output rendered by the Python renderer (render_bokeh) through the bridge server, which the
 * plugin starts on demand. The parameters are not typed here: they are read at Load from
 * Contents/Resources/params.tsv, generated from the project's parameter schema at build time.
 *
 * Conventions handled here: OFX images are stored bottom row first (y up); the renderer and the
 * aperture shapes use rows top to bottom (y down), so rows are flipped on the way in and out.
 * The blur radius K is in pixels at full resolution, so it is scaled by the render scale.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bridge_client.h"
#include "frame_tables.h"
#include "ofx_abi.h"

#define PLUGIN_ID "org.genrefocus.GenRefocus"
#define MAX_PARAMS 64
#define MAX_CHOICES 32

#define EXPORT __attribute__((visibility("default")))

typedef struct {
  char kind[16], name[64], label[128], page[64], hint[512], def[64];
  char min[32], max[32], dmin[32], dmax[32];
  char choices_buf[1024];
  const char *choice[MAX_CHOICES];
  int nchoices;
} ParamDesc;

typedef struct {
  OfxImageClipHandle src, depth, out;
  OfxParamHandle h[MAX_PARAMS];
  int error_posted; /* a persistent error message is on the host (atomic: render threads) */
} Instance;

typedef struct {
  double d[MAX_PARAMS][2];
  int i[MAX_PARAMS]; /* integer, choice, boolean; for a string: its offset in text */
  char text[4096];   /* string values (paths), NUL-separated */
  size_t ntext;
} Values;

static OfxHost *g_host;
static const OfxPropertySuiteV1 *P;
static const OfxParameterSuiteV1 *PS;
static const OfxImageEffectSuiteV1 *E;
static const OfxMemorySuiteV1 *M;
static const OfxMessageSuiteV2 *MSG; /* NULL: the host has no message suite (stderr only) */
static int g_msg_v2;                 /* the host's suite has persistent messages */
static ParamDesc g_params[MAX_PARAMS];
static int g_nparams;
static char g_resources[PATH_MAX];
static BridgeConfig g_bridge;
static int g_k = -1, g_fd = -1, g_smooth = -1, g_fp = -1, g_ffp = -1, g_src = -1;
static unsigned long g_request_id;

static void say(const char *fmt, const char *a) { fprintf(stderr, "GenRefocus: "), fprintf(stderr, fmt, a), fputc('\n', stderr); }

/* A render failure, told to the user: on stderr, and through the host's message suite so a GUI host
 * shows the reason (V2: a persistent error on the node, cleared by the next good render; V1: a
 * transient error message) instead of a bare "render failed". */
static void report_error(OfxImageEffectHandle effect, int *posted, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void report_error(OfxImageEffectHandle effect, int *posted, const char *fmt, ...) {
  char text[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof(text), fmt, ap);
  va_end(ap);
  fprintf(stderr, "GenRefocus: %s\n", text);
  if (!MSG) return;
  if (g_msg_v2 && MSG->setPersistentMessage(effect, kOfxMessageError, "", "GenRefocus: %s", text) == kOfxStatOK) {
    if (posted) __atomic_store_n(posted, 1, __ATOMIC_RELAXED);
    return;
  }
  MSG->message(effect, kOfxMessageError, "", "GenRefocus: %s", text);
}

/* After a good render: take down the error an earlier frame left on the node. */
static void clear_error(OfxImageEffectHandle effect, int *posted) {
  if (g_msg_v2 && __atomic_exchange_n(posted, 0, __ATOMIC_RELAXED)) MSG->clearPersistentMessage(effect);
}

/* ---------------------------------------------------------------- resources: params.tsv */

static int find_param(const char *name) {
  for (int i = 0; i < g_nparams; i++)
    if (!strcmp(g_params[i].name, name)) return i;
  return -1;
}

/* Split on tabs keeping empty fields. */
static int split_tabs(char *line, char **f, int max) {
  int n = 0;
  f[n++] = line;
  for (char *p = line; *p && n < max; p++)
    if (*p == '\t') {
      *p = 0;
      f[n++] = p + 1;
    }
  return n;
}

static int locate_resources(void) {
  Dl_info info;
  if (!dladdr((void *)&locate_resources, &info) || !info.dli_fname) return -1;
  char so[PATH_MAX];
  if (!realpath(info.dli_fname, so)) snprintf(so, sizeof(so), "%s", info.dli_fname);
  /* .../Contents/Linux-x86-64/GenRefocus.ofx -> .../Contents/Resources */
  char *slash = strrchr(so, '/');
  if (!slash) return -1;
  *slash = 0;
  slash = strrchr(so, '/');
  if (!slash) return -1;
  *slash = 0;
  snprintf(g_resources, sizeof(g_resources), "%s/Resources", so);
  return 0;
}

static int load_params(void) {
  char path[PATH_MAX + 32];
  snprintf(path, sizeof(path), "%s/params.tsv", g_resources);
  FILE *f = fopen(path, "r");
  if (!f) {
    say("cannot read %s (rebuild the bundle with make -C plugins/ofx)", path);
    return -1;
  }
  char line[4096];
  g_nparams = 0;
  while (fgets(line, sizeof(line), f)) {
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
    if (!n || line[0] == '#') continue;
    char *fld[12];
    if (split_tabs(line, fld, 12) != 11 || g_nparams >= MAX_PARAMS) {
      fclose(f);
      say("malformed parameter description in %s", path);
      return -1;
    }
    ParamDesc *d = &g_params[g_nparams];
    memset(d, 0, sizeof(*d));
    snprintf(d->kind, sizeof(d->kind), "%s", fld[0]);
    snprintf(d->name, sizeof(d->name), "%s", fld[1]);
    snprintf(d->label, sizeof(d->label), "%s", fld[2]);
    snprintf(d->page, sizeof(d->page), "%s", fld[3]);
    snprintf(d->hint, sizeof(d->hint), "%s", fld[4]);
    snprintf(d->def, sizeof(d->def), "%s", fld[5]);
    snprintf(d->min, sizeof(d->min), "%s", fld[6]);
    snprintf(d->max, sizeof(d->max), "%s", fld[7]);
    snprintf(d->dmin, sizeof(d->dmin), "%s", fld[8]);
    snprintf(d->dmax, sizeof(d->dmax), "%s", fld[9]);
    snprintf(d->choices_buf, sizeof(d->choices_buf), "%s", fld[10]);
    if (d->choices_buf[0]) {
      char *p = d->choices_buf;
      d->choice[d->nchoices++] = p;
      for (; *p && d->nchoices < MAX_CHOICES; p++)
        if (*p == '|') {
          *p = 0;
          d->choice[d->nchoices++] = p + 1;
        }
    }
    g_nparams++;
  }
  fclose(f);
  g_k = find_param("blur_k");
  g_fd = find_param("focus_disparity");
  g_smooth = find_param("depth_smoothing");
  g_fp = find_param("focus_point");
  g_ffp = find_param("focus_from_point");
  g_src = find_param("depth_source");
  return g_nparams > 0 ? 0 : -1;
}

/* ---------------------------------------------------------------- describe */

static OfxStatus on_load(void) {
  if (!g_host) return kOfxStatErrMissingHostFeature;
  P = g_host->fetchSuite(g_host->host, kOfxPropertySuite, 1);
  PS = g_host->fetchSuite(g_host->host, kOfxParameterSuite, 1);
  E = g_host->fetchSuite(g_host->host, kOfxImageEffectSuite, 1);
  M = g_host->fetchSuite(g_host->host, kOfxMemorySuite, 1);
  MSG = g_host->fetchSuite(g_host->host, kOfxMessageSuite, 2);
  g_msg_v2 = MSG != NULL;
  if (!MSG) MSG = g_host->fetchSuite(g_host->host, kOfxMessageSuite, 1); /* V1: only `message` is valid */
  if (!P || !PS || !E) return kOfxStatErrMissingHostFeature;
  if (locate_resources() != 0 || load_params() != 0 || frame_tables_load(g_resources) != 0) return kOfxStatFailed;
  bridge_config_load(&g_bridge, g_resources);
  return kOfxStatOK;
}

static OfxStatus describe(OfxImageEffectHandle effect) {
  OfxPropertySetHandle props;
  if (E->getPropertySet(effect, &props) != kOfxStatOK) return kOfxStatErrBadHandle;
  P->propSetString(props, kOfxPropLabel, 0, "GenRefocus");
  P->propSetString(props, kOfxPropShortLabel, 0, "GenRefocus");
  P->propSetString(props, kOfxPropLongLabel, 0, "GenRefocus (refocus from depth)");
  P->propSetString(props, kOfxPropPluginDescription, 0,
                   "Change focus after capture: renders depth of field from a depth (disparity) clip with a "
                   "chosen focus plane, bokeh level K and aperture shape, via the genrefocus-video bridge.");
  P->propSetString(props, kOfxImageEffectPluginPropGrouping, 0, "Filter/Blur");
  P->propSetString(props, kOfxImageEffectPropSupportedContexts, 0, kOfxImageEffectContextFilter);
  P->propSetString(props, kOfxImageEffectPropSupportedContexts, 1, kOfxImageEffectContextGeneral);
  P->propSetString(props, kOfxImageEffectPropSupportedPixelDepths, 0, kOfxBitDepthFloat);
  P->propSetString(props, kOfxImageEffectPropSupportedPixelDepths, 1, kOfxBitDepthShort);
  P->propSetString(props, kOfxImageEffectPropSupportedPixelDepths, 2, kOfxBitDepthByte);
  P->propSetString(props, kOfxImageEffectPluginRenderThreadSafety, 0, kOfxImageEffectRenderFullySafe);
  P->propSetInt(props, kOfxImageEffectPluginPropHostFrameThreading, 0, 0);
  P->propSetInt(props, kOfxImageEffectPropSupportsTiles, 0, 0); /* bokeh needs the whole frame */
  P->propSetInt(props, kOfxImageEffectPropSupportsMultiResolution, 0, 1);
  P->propSetInt(props, kOfxImageEffectPropTemporalClipAccess, 0, 1); /* Source and Depth at t-W..t for smoothing (GetFramesNeeded) */
  P->propSetInt(props, kOfxImageEffectPropSupportsMultipleClipDepths, 0, 0);
  P->propSetInt(props, kOfxImageEffectPluginPropSingleInstance, 0, 0);
  return kOfxStatOK;
}

static double num_or(const char *s, double dflt) { return (s && *s) ? strtod(s, NULL) : dflt; }

static void define_param(OfxParamSetHandle ps, const ParamDesc *d) {
  OfxPropertySetHandle pp = NULL;
  int kind = !strcmp(d->kind, "double") ? 1 : !strcmp(d->kind, "int") ? 2 : !strcmp(d->kind, "choice") ? 3
             : !strcmp(d->kind, "boolean") ? 4 : !strcmp(d->kind, "double2d") ? 5 : !strcmp(d->kind, "string") ? 6 : 0;
  static const char *const types[] = {NULL, kOfxParamTypeDouble, kOfxParamTypeInteger, kOfxParamTypeChoice,
                                      kOfxParamTypeBoolean, kOfxParamTypeDouble2D, kOfxParamTypeString};
  const char *type = types[kind];
  if (!type || PS->paramDefine(ps, type, d->name, &pp) != kOfxStatOK || !pp) {
    say("host refused parameter %s", d->name);
    return;
  }
  char group[96];
  snprintf(group, sizeof(group), "group_%s", d->page);
  P->propSetString(pp, kOfxPropLabel, 0, d->label);
  P->propSetString(pp, kOfxParamPropHint, 0, d->hint);
  P->propSetString(pp, kOfxParamPropScriptName, 0, d->name);
  P->propSetString(pp, kOfxParamPropParent, 0, group);
  P->propSetInt(pp, kOfxParamPropAnimates, 0, kind != 6); /* a path holds for the whole clip */
  if (kind == 6) { /* a folder path (the depth model); empty = not given */
    P->propSetString(pp, kOfxParamPropStringMode, 0, kOfxParamStringIsDirectoryPath);
    P->propSetString(pp, kOfxParamPropDefault, 0, d->def);
  } else if (kind == 1) {
    P->propSetDouble(pp, kOfxParamPropDefault, 0, num_or(d->def, 0));
    if (d->min[0]) P->propSetDouble(pp, kOfxParamPropMin, 0, num_or(d->min, 0));
    if (d->max[0]) P->propSetDouble(pp, kOfxParamPropMax, 0, num_or(d->max, 0));
    if (d->dmin[0]) P->propSetDouble(pp, kOfxParamPropDisplayMin, 0, num_or(d->dmin, 0));
    if (d->dmax[0]) P->propSetDouble(pp, kOfxParamPropDisplayMax, 0, num_or(d->dmax, 0));
    P->propSetString(pp, kOfxParamPropDoubleType, 0,
                     strstr(d->name, "rotation") ? kOfxParamDoubleTypeAngle : kOfxParamDoubleTypePlain);
  } else if (kind == 2) {
    P->propSetInt(pp, kOfxParamPropDefault, 0, (int)num_or(d->def, 0));
    if (d->min[0]) P->propSetInt(pp, kOfxParamPropMin, 0, (int)num_or(d->min, 0));
    if (d->max[0]) P->propSetInt(pp, kOfxParamPropMax, 0, (int)num_or(d->max, 0));
    if (d->dmin[0]) P->propSetInt(pp, kOfxParamPropDisplayMin, 0, (int)num_or(d->dmin, 0));
    if (d->dmax[0]) P->propSetInt(pp, kOfxParamPropDisplayMax, 0, (int)num_or(d->dmax, 0));
  } else if (kind == 3) {
    for (int c = 0; c < d->nchoices; c++) P->propSetString(pp, kOfxParamPropChoiceOption, c, d->choice[c]);
    P->propSetInt(pp, kOfxParamPropDefault, 0, (int)num_or(d->def, 0));
  } else if (kind == 4) {
    P->propSetInt(pp, kOfxParamPropDefault, 0, (int)num_or(d->def, 0));
  } else { /* Double2D XY absolute, default given in normalised coordinates (OFX >= 1.2) */
    double x = 0.5, y = 0.5;
    sscanf(d->def, "%lf,%lf", &x, &y);
    P->propSetString(pp, kOfxParamPropDoubleType, 0, kOfxParamDoubleTypeXYAbsolute);
    P->propSetString(pp, kOfxParamPropDefaultCoordinateSystem, 0, kOfxParamCoordinatesNormalised);
    P->propSetDouble(pp, kOfxParamPropDefault, 0, x);
    P->propSetDouble(pp, kOfxParamPropDefault, 1, y);
  }
}

static OfxStatus describe_in_context(OfxImageEffectHandle effect, OfxPropertySetHandle inArgs) {
  char *context = NULL;
  P->propGetString(inArgs, kOfxImageEffectPropContext, 0, &context);
  if (!context || (strcmp(context, kOfxImageEffectContextFilter) && strcmp(context, kOfxImageEffectContextGeneral)))
    return kOfxStatErrUnsupported;
  OfxPropertySetHandle cp;
  if (E->clipDefine(effect, kOfxImageEffectSimpleSourceClipName, &cp) != kOfxStatOK) return kOfxStatFailed;
  P->propSetString(cp, kOfxImageEffectPropSupportedComponents, 0, kOfxImageComponentRGBA);
  P->propSetString(cp, kOfxImageEffectPropSupportedComponents, 1, kOfxImageComponentRGB);
  P->propSetInt(cp, kOfxImageEffectPropTemporalClipAccess, 0, 1); /* earlier frames: the smoothing's flow */
  P->propSetInt(cp, kOfxImageEffectPropSupportsTiles, 0, 0);
  if (E->clipDefine(effect, "Depth", &cp) != kOfxStatOK) return kOfxStatFailed;
  P->propSetString(cp, kOfxPropLabel, 0, "Depth (disparity)");
  P->propSetString(cp, kOfxImageEffectPropSupportedComponents, 0, kOfxImageComponentRGBA);
  P->propSetString(cp, kOfxImageEffectPropSupportedComponents, 1, kOfxImageComponentRGB);
  P->propSetString(cp, kOfxImageEffectPropSupportedComponents, 2, kOfxImageComponentAlpha);
  P->propSetInt(cp, kOfxImageClipPropOptional, 0, 1);
  P->propSetInt(cp, kOfxImageEffectPropTemporalClipAccess, 0, 1);
  P->propSetInt(cp, kOfxImageEffectPropSupportsTiles, 0, 0);
  if (E->clipDefine(effect, kOfxImageEffectOutputClipName, &cp) != kOfxStatOK) return kOfxStatFailed;
  P->propSetString(cp, kOfxImageEffectPropSupportedComponents, 0, kOfxImageComponentRGBA);
  P->propSetString(cp, kOfxImageEffectPropSupportedComponents, 1, kOfxImageComponentRGB);
  P->propSetInt(cp, kOfxImageEffectPropSupportsTiles, 0, 0);

  OfxParamSetHandle ps;
  if (E->getParamSet(effect, &ps) != kOfxStatOK) return kOfxStatFailed;
  /* One group and one page per schema page, in first-use order. */
  const char *pages[MAX_PARAMS];
  int npages = 0;
  for (int i = 0; i < g_nparams; i++) {
    int seen = 0;
    for (int j = 0; j < npages; j++) seen |= !strcmp(pages[j], g_params[i].page);
    if (!seen) pages[npages++] = g_params[i].page;
  }
  for (int j = 0; j < npages; j++) {
    OfxPropertySetHandle gp;
    char name[96];
    snprintf(name, sizeof(name), "group_%s", pages[j]);
    if (PS->paramDefine(ps, kOfxParamTypeGroup, name, &gp) == kOfxStatOK && gp)
      P->propSetString(gp, kOfxPropLabel, 0, pages[j]);
  }
  for (int i = 0; i < g_nparams; i++) define_param(ps, &g_params[i]);
  for (int j = 0; j < npages; j++) {
    OfxPropertySetHandle pg;
    char name[96];
    snprintf(name, sizeof(name), "page_%s", pages[j]);
    if (PS->paramDefine(ps, kOfxParamTypePage, name, &pg) != kOfxStatOK || !pg) continue;
    P->propSetString(pg, kOfxPropLabel, 0, pages[j]);
    int c = 0;
    for (int i = 0; i < g_nparams; i++)
      if (!strcmp(g_params[i].page, pages[j])) P->propSetString(pg, kOfxParamPropPageChild, c++, g_params[i].name);
  }
  return kOfxStatOK;
}

/* ---------------------------------------------------------------- instance */

static Instance *get_instance(OfxImageEffectHandle effect) {
  OfxPropertySetHandle props;
  void *p = NULL;
  if (E->getPropertySet(effect, &props) != kOfxStatOK) return NULL;
  P->propGetPointer(props, kOfxPropInstanceData, 0, &p);
  return (Instance *)p;
}

static OfxStatus create_instance(OfxImageEffectHandle effect) {
  Instance *inst = calloc(1, sizeof(Instance));
  if (!inst) return kOfxStatErrMemory;
  E->clipGetHandle(effect, kOfxImageEffectSimpleSourceClipName, &inst->src, NULL);
  E->clipGetHandle(effect, "Depth", &inst->depth, NULL);
  E->clipGetHandle(effect, kOfxImageEffectOutputClipName, &inst->out, NULL);
  OfxParamSetHandle ps;
  E->getParamSet(effect, &ps);
  for (int i = 0; i < g_nparams; i++)
    if (PS->paramGetHandle(ps, g_params[i].name, &inst->h[i], NULL) != kOfxStatOK) inst->h[i] = NULL;
  OfxPropertySetHandle props;
  E->getPropertySet(effect, &props);
  P->propSetPointer(props, kOfxPropInstanceData, 0, inst);
  return (inst->src && inst->out) ? kOfxStatOK : kOfxStatFailed;
}

static OfxStatus destroy_instance(OfxImageEffectHandle effect) {
  Instance *inst = get_instance(effect);
  OfxPropertySetHandle props;
  if (E->getPropertySet(effect, &props) == kOfxStatOK) P->propSetPointer(props, kOfxPropInstanceData, 0, NULL);
  free(inst);
  return kOfxStatOK;
}

static void read_values(const Instance *inst, OfxTime t, Values *v) {
  memset(v, 0, sizeof(*v));
  for (int i = 0; i < g_nparams; i++) {
    if (!inst->h[i]) continue;
    const char *k = g_params[i].kind;
    if (!strcmp(k, "double")) PS->paramGetValueAtTime(inst->h[i], t, &v->d[i][0]);
    else if (!strcmp(k, "double2d")) PS->paramGetValueAtTime(inst->h[i], t, &v->d[i][0], &v->d[i][1]);
    else if (!strcmp(k, "string")) {
      char *str = NULL;
      PS->paramGetValueAtTime(inst->h[i], t, &str);
      size_t n = str ? strlen(str) : 0;
      if (n >= sizeof(v->text) - v->ntext) n = 0; /* cannot happen with one path param; empty = not given */
      memcpy(v->text + v->ntext, str ? str : "", n);
      v->text[v->ntext + n] = 0;
      v->i[i] = (int)v->ntext;
      v->ntext += n + 1;
    } else PS->paramGetValueAtTime(inst->h[i], t, &v->i[i]);
  }
}

static int depth_connected(const Instance *inst) {
  if (!inst->depth) return 0;
  OfxPropertySetHandle cp;
  int c = 0;
  if (E->clipGetPropertySet(inst->depth, &cp) != kOfxStatOK) return 0;
  P->propGetInt(cp, kOfxImageClipPropConnected, 0, &c);
  return c;
}

static double k_value(const Values *v) { return g_k >= 0 ? v->d[g_k][0] : 0.0; }

/* The Depth Source choice's name ("file", "motion", "model", ...); "file" without that parameter. */
static const char *depth_source(const Values *v) {
  if (g_src < 0 || v->i[g_src] < 0 || v->i[g_src] >= g_params[g_src].nchoices) return "file";
  return g_params[g_src].choice[v->i[g_src]];
}

/* Depth estimated by the bridge from Source (any source but "file", which is the Depth clip). */
static int estimating(const Values *v) { return strcmp(depth_source(v), "file") != 0; }

/* A clip's frame range (OfxImageEffectPropFrameRange); 0 when the host gives none. */
static int clip_range(OfxImageClipHandle clip, double range[2]) {
  OfxPropertySetHandle cp;
  return clip && E->clipGetPropertySet(clip, &cp) == kOfxStatOK &&
         P->propGetDoubleN(cp, kOfxImageEffectPropFrameRange, 2, range) == kOfxStatOK;
}

/* The frames a render at time t reads: Source over [first, t + after] (n_src frames) and, with a
 * Depth clip, Depth over [first, t] (n_depth frames, then n_src = n_depth and after = 0).
 * Depth clip: first = t - W (W = the smoothing warm-up, 0 without smoothing). Estimated depth:
 * first = t - before - W and after = the source's reach (sources.tsv). Never outside the read
 * clip's frame range. n_src = 0: Source at t alone, nothing else (the identity). GetFramesNeeded
 * declares exactly this window and Render fetches exactly it. */
typedef struct {
  int n_src, n_depth, after;
  OfxTime first;
} Window;

static void frame_window(const Instance *inst, const Values *v, OfxTime t, Window *w) {
  memset(w, 0, sizeof(*w));
  w->first = t;
  int est = estimating(v);
  if (k_value(v) == 0.0 || (!est && !depth_connected(inst))) return;
  int before = 0, after = 0;
  double auto_s = 0.0, s = g_smooth >= 0 ? v->d[g_smooth][0] : 0.0;
  source_reach(depth_source(v), &before, &after, &auto_s);
  if (!est) before = after = 0;
  if (s < 0) s = auto_s; /* "auto": the strength the bridge resolves for this source */
  OfxTime lo = t - before - smoothing_warmup(s), hi = t + after;
  double range[2];
  if (clip_range(est ? inst->src : inst->depth, range)) {
    if (lo < range[0]) lo = range[0] < t ? range[0] : t;
    if (hi > range[1]) hi = range[1] > t ? range[1] : t;
  }
  w->first = lo;
  w->after = (int)(hi - t);
  w->n_src = (int)(hi - lo) + 1;
  w->n_depth = est ? 0 : w->n_src;
}

/* The instance of an action's effect, the action's time (kOfxPropTime) and the parameters there. */
static Instance *instance_at(OfxImageEffectHandle effect, OfxPropertySetHandle inArgs, OfxTime *t, Values *v) {
  Instance *inst = get_instance(effect);
  if (!inst) return NULL;
  *t = 0;
  P->propGetDouble(inArgs, kOfxPropTime, 0, t);
  read_values(inst, *t, v);
  return inst;
}

/* kOfxImageEffectActionGetFramesNeeded: Source and Depth over frame_window (Source at t alone
 * when no depth is read; Depth at t, unread, when depth is estimated). */
static OfxStatus frames_needed(OfxImageEffectHandle effect, OfxPropertySetHandle inArgs, OfxPropertySetHandle outArgs) {
  OfxTime t;
  Values v;
  Instance *inst = instance_at(effect, inArgs, &t, &v);
  if (!inst) return kOfxStatErrBadHandle;
  Window w;
  frame_window(inst, &v, t, &w);
  double src[2] = {w.first, t + w.after}, dep[2] = {w.n_depth ? w.first : t, t};
  P->propSetDoubleN(outArgs, "OfxImageClipPropFrameRange_Source", 2, src);
  P->propSetDoubleN(outArgs, "OfxImageClipPropFrameRange_Depth", 2, dep);
  return kOfxStatOK;
}

static OfxStatus is_identity(OfxImageEffectHandle effect, OfxPropertySetHandle inArgs, OfxPropertySetHandle outArgs) {
  OfxTime t;
  Values v;
  Instance *inst = instance_at(effect, inArgs, &t, &v);
  if (!inst) return kOfxStatErrBadHandle;
  if (k_value(&v) == 0.0 || (!estimating(&v) && !depth_connected(inst))) {
    P->propSetString(outArgs, kOfxPropName, 0, kOfxImageEffectSimpleSourceClipName);
    P->propSetDouble(outArgs, kOfxPropTime, 0, t);
    return kOfxStatOK;
  }
  return kOfxStatReplyDefault;
}

static OfxStatus region_of_definition(OfxImageEffectHandle effect, OfxPropertySetHandle inArgs,
                                      OfxPropertySetHandle outArgs) {
  Instance *inst = get_instance(effect);
  if (!inst) return kOfxStatErrBadHandle;
  OfxTime t = 0;
  P->propGetDouble(inArgs, kOfxPropTime, 0, &t);
  OfxRectD rod;
  if (E->clipGetRegionOfDefinition(inst->src, t, &rod) != kOfxStatOK) return kOfxStatReplyDefault;
  P->propSetDoubleN(outArgs, kOfxImageEffectPropRegionOfDefinition, 4, &rod.x1);
  return kOfxStatOK;
}

static OfxStatus clip_preferences(OfxImageEffectHandle effect, OfxPropertySetHandle outArgs) {
  Instance *inst = get_instance(effect);
  if (!inst) return kOfxStatErrBadHandle;
  OfxPropertySetHandle cp;
  char *comp = NULL;
  if (E->clipGetPropertySet(inst->src, &cp) == kOfxStatOK &&
      P->propGetString(cp, kOfxImageEffectPropComponents, 0, &comp) == kOfxStatOK && comp &&
      (!strcmp(comp, kOfxImageComponentRGBA) || !strcmp(comp, kOfxImageComponentRGB)))
    P->propSetString(outArgs, "OfxImageClipPropComponents_Output", 0, comp);
  P->propSetInt(outArgs, kOfxImageEffectFrameVarying, 0, 1);
  return kOfxStatOK;
}

/* ---------------------------------------------------------------- pixels */

typedef struct {
  OfxPropertySetHandle h;
  unsigned char *data;
  OfxRectI b;
  int row_bytes, nc, bytes; /* components, bytes per component */
} Img;

static int img_open(OfxImageClipHandle clip, OfxTime t, Img *im) {
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

static void img_close(Img *im) {
  if (im->h) E->clipReleaseImage(im->h);
  im->h = NULL;
}

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

/* Output = Source inside the render window (identity; used when there is nothing to render). */
static void copy_through(const Img *s, Img *o, OfxRectI win) {
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

static void append(char *buf, size_t n, size_t *len, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Shared-memory frame buffers, pooled: a fresh memfd per frame would pay a page fault (and
 * zeroing) per 4 KiB in both processes. Buffers are reused across frames and threads, and
 * released at EndSequenceRender / Unload. */
#define POOL_MAX 32
typedef struct {
  int fd, in_use;
  float *ptr;
  size_t size;
} FrameBuf;
static FrameBuf g_pool[POOL_MAX];
static pthread_mutex_t g_pool_lock = PTHREAD_MUTEX_INITIALIZER;

static void buf_drop(FrameBuf *b) {
  if (b->ptr) munmap(b->ptr, b->size);
  if (b->fd > 0) close(b->fd);
  memset(b, 0, sizeof(*b));
}

/* Every field of a pool entry is read and written under g_pool_lock, except by the thread that
 * holds it (in_use = 1), and only that thread replaces its mapping. (The first version reset a
 * picked entry with buf_drop outside the lock, which cleared in_use for a moment: another render
 * thread could pick the same buffer and two frames shared one mapping; found by ThreadSanitizer,
 * tests/test_ofx_host.py with GENREFOCUS_OFX_SANITIZE=thread.) */
static FrameBuf *buf_acquire(size_t total) {
  pthread_mutex_lock(&g_pool_lock);
  FrameBuf *pick = NULL;
  for (int i = 0; i < POOL_MAX && !pick; i++) /* a free buffer that fits without being wasteful */
    if (!g_pool[i].in_use && g_pool[i].fd > 0 && g_pool[i].size >= total && g_pool[i].size <= 2 * total)
      pick = &g_pool[i];
  for (int i = 0; i < POOL_MAX && !pick; i++)
    if (!g_pool[i].in_use) pick = &g_pool[i];
  FrameBuf old = {0};
  int fits = 0;
  if (pick) {
    pick->in_use = 1;
    fits = pick->fd > 0 && pick->size >= total && pick->size <= 2 * total;
    if (!fits) { /* take its old mapping out: it is replaced below, outside the lock */
      old = *pick;
      pick->fd = 0, pick->ptr = NULL, pick->size = 0;
    }
  }
  pthread_mutex_unlock(&g_pool_lock);
  if (!pick) return NULL;
  if (fits) return pick;
  buf_drop(&old);
  int fd = memfd_create("genrefocus-frame", MFD_CLOEXEC);
  void *p = MAP_FAILED;
  if (fd >= 0 && ftruncate(fd, (off_t)total) == 0)
    p = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
  pthread_mutex_lock(&g_pool_lock);
  if (p == MAP_FAILED) {
    if (fd >= 0) close(fd);
    pick->in_use = 0;
    pick = NULL;
  } else {
    pick->fd = fd, pick->ptr = p, pick->size = total;
  }
  pthread_mutex_unlock(&g_pool_lock);
  return pick;
}

static void buf_release(FrameBuf *b) {
  pthread_mutex_lock(&g_pool_lock);
  b->in_use = 0;
  pthread_mutex_unlock(&g_pool_lock);
}

static void pool_trim(void) {
  pthread_mutex_lock(&g_pool_lock);
  for (int i = 0; i < POOL_MAX; i++)
    if (!g_pool[i].in_use) buf_drop(&g_pool[i]);
  pthread_mutex_unlock(&g_pool_lock);
}

static void append(char *buf, size_t n, size_t *len, const char *fmt, ...) {
  if (*len >= n) return;
  va_list ap;
  va_start(ap, fmt);
  int w = vsnprintf(buf + *len, n - *len, fmt, ap);
  va_end(ap);
  if (w > 0) *len += (size_t)w;
}

/* A JSON string literal (quotes, backslashes and control characters escaped). */
static void append_json_string(char *buf, size_t n, size_t *len, const char *text) {
  append(buf, n, len, "\"");
  for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
    if (*c == '"' || *c == '\\') append(buf, n, len, "\\%c", *c);
    else if (*c < 0x20) append(buf, n, len, "\\u%04x", *c);
    else append(buf, n, len, "%c", *c);
  }
  append(buf, n, len, "\"");
}

/* Source at `time` into *im when it is RGB(A) with the bounds of frame t's `s`; else *im is empty. */
static int open_like(OfxImageClipHandle clip, OfxTime time, const Img *s, Img *im) {
  if (img_open(clip, time, im) != 0) return -1;
  if (im->b.x1 != s->b.x1 || im->b.y1 != s->b.y1 || im->b.x2 != s->b.x2 || im->b.y2 != s->b.y2 || im->nc == 1) {
    img_close(im);
    memset(im, 0, sizeof(*im));
    return -1;
  }
  return 0;
}

/* Estimated depth's window: Source t-1 .. first into hs[1..], then t+1 .. t+after after them (hs[0]
 * is frame t, fetched by the caller). A frame the host does not deliver ends that side of the window
 * (the bridge's estimate starts later / reads ahead less, as the CLI's does at a clip's ends).
 * Returns the count with t; *after = how many of them follow t. */
static int fetch_sources(const Instance *inst, const Img *s, OfxTime t, const Window *w, Img *hs, int *after) {
  int n = 1;
  for (OfxTime u = t - 1; u >= w->first && open_like(inst->src, u, s, &hs[n]) == 0; u--) n++;
  *after = 0;
  for (int k = 1; k <= w->after && open_like(inst->src, t + k, s, &hs[n]) == 0; k++) n++, (*after)++;
  return n;
}

static OfxStatus render(OfxImageEffectHandle effect, OfxPropertySetHandle inArgs) {
  Instance *inst = get_instance(effect);
  if (!inst) return kOfxStatErrBadHandle;
  OfxTime t = 0;
  double rs[2] = {1.0, 1.0};
  OfxRectI win;
  P->propGetDouble(inArgs, kOfxPropTime, 0, &t);
  P->propGetDoubleN(inArgs, kOfxImageEffectPropRenderScale, 2, rs);
  if (P->propGetIntN(inArgs, kOfxImageEffectPropRenderWindow, 4, &win.x1) != kOfxStatOK) return kOfxStatFailed;
  Values v;
  read_values(inst, t, &v);

  Img s, o, *d = NULL, *hs = NULL; /* depth t, t-1, ...; hs[i]: Source at t-i (hs[0] unused: s) */
  if (img_open(inst->src, t, &s) != 0) {
    report_error(effect, &inst->error_posted, "frame %g: cannot fetch the Source image (or its pixel format is unsupported)", t);
    return kOfxStatFailed;
  }
  if (img_open(inst->out, t, &o) != 0 || o.nc == 1) {
    img_close(&s);
    report_error(effect, &inst->error_posted, "frame %g: cannot fetch the Output image (or its pixel format is unsupported)", t);
    return kOfxStatFailed;
  }
  if (s.nc == 1) {
    img_close(&s);
    img_close(&o);
    report_error(effect, &inst->error_posted, "frame %g: Source must be RGB or RGBA", t);
    return kOfxStatFailed;
  }
  OfxStatus status = kOfxStatOK;
  int W = s.b.x2 - s.b.x1, H = s.b.y2 - s.b.y1;
  if (win.x1 < o.b.x1) win.x1 = o.b.x1;
  if (win.y1 < o.b.y1) win.y1 = o.b.y1;
  if (win.x2 > o.b.x2) win.x2 = o.b.x2;
  if (win.y2 > o.b.y2) win.y2 = o.b.y2;

  int nd = 0, ns = 0, after = 0; /* fetched: depth frames, source frames (with t), of them after t */
  Window fw;
  frame_window(inst, &v, t, &fw);
  if (fw.n_src > 0) {
    d = calloc((size_t)fw.n_src, sizeof(Img));
    hs = calloc((size_t)fw.n_src, sizeof(Img));
    if (!d || !hs) fw.n_src = fw.n_depth = 0;
  }
  /* Newest first; Source and Depth at the same times (the bridge's flow reads the Source frames).
   * A window cut short by a missing frame starts later: the bridge's smoothing starts there. */
  for (int i = 0; i < fw.n_depth; i++) {
    if (img_open(inst->depth, t - i, &d[i]) != 0) break;
    if (i > 0 && open_like(inst->src, t - i, &s, &hs[i]) != 0) {
      img_close(&d[i]);
      break;
    }
    nd++;
  }
  ns = fw.n_depth ? nd : fw.n_src ? fetch_sources(inst, &s, t, &fw, hs, &after) : 0;
  if (fw.n_depth > 0 && nd == 0) say("%s", "the Depth clip is connected but gave no image for this frame: passing Source through");
  if (ns == 0) {
    clear_error(effect, &inst->error_posted);
    copy_through(&s, &o, win);
    free(d);
    free(hs);
    img_close(&s);
    img_close(&o);
    return kOfxStatOK;
  }

  /* Alpha travels (and is defocused by the bridge with the colour) when Source is RGBA and says it
   * is not opaque; premultiplied RGB is sent and returned premultiplied, as the host delivers it. */
  int has_alpha = 0, premult = 0;
  if (s.nc == 4) {
    char *pm = NULL;
    if (P->propGetString(s.h, kOfxImageEffectPropPreMultiplication, 0, &pm) == kOfxStatOK && pm) {
      has_alpha = strcmp(pm, kOfxImageOpaque) != 0;
      premult = strcmp(pm, kOfxImagePreMultiplied) == 0;
    }
  }
  FrameBuf *fb = NULL;
  size_t px = (size_t)W * H;
  size_t total = px * 3 * 4 * ((size_t)ns + 1) + px * 4 * (size_t)nd + (has_alpha ? px * 4 * 2 : 0);
  fb = buf_acquire(total);
  if (!fb) {
    report_error(effect, &inst->error_posted, "frame %g: cannot allocate shared memory: %s", t, strerror(errno));
    status = kOfxStatErrMemory;
    goto done;
  }
  float *buf = fb->ptr;
  int mfd = fb->fd;
  /* Source RGB, rows top to bottom. */
  float *src = buf, *dep = buf + px * 3 * (size_t)ns, *out = dep + px * (size_t)nd;
  float *src_a = has_alpha ? out + px * 3 : NULL, *out_a = has_alpha ? out + px * 4 : NULL;
  for (int r = 0; r < H; r++) {
    int y = s.b.y2 - 1 - r;
    for (int x = 0; x < W; x++) {
      for (int c = 0; c < 3; c++) src[((size_t)r * W + x) * 3 + c] = img_get(&s, s.b.x1 + x, y, c);
      if (has_alpha) src_a[(size_t)r * W + x] = img_get(&s, s.b.x1 + x, y, 3);
    }
  }
  /* Earlier Source frames t-1, ..., then later ones t+1, ...: RGB after frame t's, same rows. */
  for (int i = 1; i < ns; i++)
    for (int r = 0; r < H; r++) {
      int y = s.b.y2 - 1 - r;
      for (int x = 0; x < W; x++)
        for (int c = 0; c < 3; c++)
          src[(size_t)i * px * 3 + ((size_t)r * W + x) * 3 + c] = img_get(&hs[i], s.b.x1 + x, y, c);
    }
  /* Depth frames: first channel, sampled at the source pixel (nearest, clamped to the depth bounds). */
  for (int i = 0; i < nd; i++)
    for (int r = 0; r < H; r++) {
      int y = clampi(s.b.y2 - 1 - r, d[i].b.y1, d[i].b.y2 - 1);
      for (int x = 0; x < W; x++) {
        int xx = clampi(s.b.x1 + x, d[i].b.x1, d[i].b.x2 - 1);
        dep[(size_t)i * px + (size_t)r * W + x] = img_get(&d[i], xx, y, 0);
      }
    }
  {
    /* Focus point: canonical coordinates -> pixel column / top-down row of the buffer. */
    double fx = g_fp >= 0 ? v.d[g_fp][0] : 0.0, fy = g_fp >= 0 ? v.d[g_fp][1] : 0.0;
    double par = 1.0;
    if (P->propGetDouble(s.h, kOfxImagePropPixelAspectRatio, 0, &par) != kOfxStatOK || !(par > 0)) par = 1.0;
    double col = fx * rs[0] / par - s.b.x1; /* canonical x is in square pixels */
    double row = (double)(s.b.y2 - 1) - floor(fy * rs[1]) + 0.5;
    int from_point = g_ffp >= 0 ? v.i[g_ffp] != 0 : 0;
    size_t cap = 8192, len = 0;
    char *json = malloc(cap);
    if (!json) {
      report_error(effect, &inst->error_posted, "frame %g: out of memory", t);
      status = kOfxStatErrMemory;
      goto done;
    }
    unsigned long id = __atomic_add_fetch(&g_request_id, 1, __ATOMIC_RELAXED);
    append(json, cap, &len,
           "{\"id\":%lu,\"width\":%d,\"height\":%d,\"depth_frames\":%d,\"source_frames\":%d,\"frames_after\":%d,"
           "\"render_scale\":%.17g,\"time\":%.17g,"
           "\"pixel_aspect\":%.17g,\"alpha\":%s,\"premultiplied\":%s,"
           "\"focus_point\":[%.17g,%.17g],\"focus_from_point\":%s,\"params\":{",
           id, W, H, nd, ns, after, rs[0], t, par, has_alpha ? "true" : "false", premult ? "true" : "false", col, row,
           from_point ? "true" : "false");
    int first = 1;
    for (int i = 0; i < g_nparams; i++) {
      const char *k = g_params[i].kind;
      if (!strcmp(k, "double2d")) continue;
      if (!strcmp(k, "double"))
        append(json, cap, &len, "%s\"%s\":%.17g", first ? "" : ",", g_params[i].name, v.d[i][0]);
      else if (!strcmp(k, "boolean"))
        append(json, cap, &len, "%s\"%s\":%s", first ? "" : ",", g_params[i].name, v.i[i] ? "true" : "false");
      else if (!strcmp(k, "string")) {
        append(json, cap, &len, "%s\"%s\":", first ? "" : ",", g_params[i].name);
        append_json_string(json, cap, &len, v.text + v.i[i]);
      }
      else
        append(json, cap, &len, "%s\"%s\":%d", first ? "" : ",", g_params[i].name, v.i[i]);
      first = 0;
    }
    append(json, cap, &len, "}}");
    char err[512] = "";
    int rc = len < cap ? bridge_render(&g_bridge, json, mfd, err, sizeof(err)) : -1;
    free(json);
    if (rc != 0) {
      report_error(effect, &inst->error_posted, "frame %g: bridge failed: %s", t, err[0] ? err : "request too large");
      status = kOfxStatFailed;
      goto done;
    }
  }
  /* Output: render window, rows flipped back; alpha from the bridge when it was sent, else from
   * Source (1 where Source has none). */
  for (int y = win.y1; y < win.y2; y++)
    for (int x = win.x1; x < win.x2; x++) {
      int inside = x >= s.b.x1 && x < s.b.x2 && y >= s.b.y1 && y < s.b.y2;
      size_t idx = inside ? ((size_t)(s.b.y2 - 1 - y) * W + (size_t)(x - s.b.x1)) * 3 : 0;
      for (int c = 0; c < o.nc; c++) {
        float val = 0.0f;
        if (inside)
          val = c < 3 ? out[idx + c] : has_alpha ? out_a[idx / 3] : (s.nc == 4 ? img_get(&s, x, y, 3) : 1.0f);
        img_set(&o, x, y, c, val);
      }
    }
  clear_error(effect, &inst->error_posted);
done:
  if (fb) buf_release(fb);
  for (int i = 0; i < nd; i++) img_close(&d[i]);
  for (int i = 1; i < ns; i++) img_close(&hs[i]);
  free(d);
  free(hs);
  img_close(&s);
  img_close(&o);
  return status;
}

/* Start the bridge before the first frame (model loading overlaps the host's own setup). A
 * failure here is reported but not fatal: each Render retries and reports its own error. */
static OfxStatus begin_sequence(void) {
  char err[512] = "";
  if (bridge_ping(&g_bridge, err, sizeof(err)) != 0) fprintf(stderr, "GenRefocus: %s\n", err);
  return kOfxStatOK;
}

/* ---------------------------------------------------------------- entry points */

static OfxStatus main_entry(const char *action, const void *handle, OfxPropertySetHandle inArgs,
                            OfxPropertySetHandle outArgs) {
  OfxImageEffectHandle effect = (OfxImageEffectHandle)handle;
  if (!strcmp(action, kOfxActionLoad)) return on_load();
  if (!P || !E || !PS) return kOfxStatErrFatal; /* every other action needs Load to have succeeded */
  if (!strcmp(action, kOfxActionUnload)) {
    pool_trim();
    return kOfxStatOK;
  }
  if (!strcmp(action, kOfxActionDescribe)) return describe(effect);
  if (!strcmp(action, kOfxImageEffectActionDescribeInContext)) return describe_in_context(effect, inArgs);
  if (!strcmp(action, kOfxActionCreateInstance)) return create_instance(effect);
  if (!strcmp(action, kOfxActionDestroyInstance)) return destroy_instance(effect);
  if (!strcmp(action, kOfxImageEffectActionGetClipPreferences)) return clip_preferences(effect, outArgs);
  if (!strcmp(action, kOfxImageEffectActionGetRegionOfDefinition))
    return region_of_definition(effect, inArgs, outArgs);
  if (!strcmp(action, kOfxImageEffectActionIsIdentity)) return is_identity(effect, inArgs, outArgs);
  if (!strcmp(action, kOfxImageEffectActionBeginSequenceRender)) return begin_sequence();
  if (!strcmp(action, kOfxImageEffectActionEndSequenceRender)) {
    pool_trim();
    return kOfxStatOK;
  }
  if (!strcmp(action, kOfxImageEffectActionGetFramesNeeded)) return frames_needed(effect, inArgs, outArgs);
  if (!strcmp(action, kOfxImageEffectActionRender)) return render(effect, inArgs);
  return kOfxStatReplyDefault;
}

static void set_host(OfxHost *host) { g_host = host; }

static OfxPlugin g_plugin = {kOfxImageEffectPluginApi, kOfxImageEffectPluginApiVersion, PLUGIN_ID, 1, 0,
                             set_host, main_entry};

EXPORT int OfxGetNumberOfPlugins(void) { return 1; }

EXPORT OfxPlugin *OfxGetPlugin(int nth) { return nth == 0 ? &g_plugin : NULL; }

/* OFX 1.5 optional bootstrapper entry point: the host handed to every plugin in this binary. */
EXPORT OfxStatus OfxSetHost(const OfxHost *host) {
  g_host = (OfxHost *)host;
  return kOfxStatOK;
}
