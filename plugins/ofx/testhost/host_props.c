/*
 * host_props.c -- the test host's property sets and property suite (see host_props.h).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host_props.h"

static pthread_mutex_t g_prop_lock = PTHREAD_MUTEX_INITIALIZER;

OfxPropertySetHandle props_new(void) { return calloc(1, sizeof(struct OfxPropertySetStruct)); }

Prop *prop_find(OfxPropertySetHandle ps, const char *name) {
  for (Prop *p = ps->head; p; p = p->next)
    if (!strcmp(p->name, name)) return p;
  return NULL;
}

static void prop_grow(Prop *p, int n) {
  if (n <= p->n) return;
  p->s = realloc(p->s, n * sizeof(char *));
  p->i = realloc(p->i, n * sizeof(int));
  p->d = realloc(p->d, n * sizeof(double));
  p->p = realloc(p->p, n * sizeof(void *));
  for (int k = p->n; k < n; k++) p->s[k] = NULL, p->i[k] = 0, p->d[k] = 0, p->p[k] = NULL;
  p->n = n;
}

/* Property names a real host knows (the standard's, as declared in ofx_abi.h); any other is refused. */
static const char *const KNOWN_PROPS[] = {
    kOfxPropertySuite,
    kOfxPropType,
    kOfxPropName,
    kOfxPropLabel,
    kOfxPropShortLabel,
    kOfxPropLongLabel,
    kOfxPropTime,
    kOfxPropInstanceData,
    kOfxPropAPIVersion,
    kOfxPropVersion,
    kOfxPropVersionLabel,
    kOfxPropPluginDescription,
    kOfxPropIsInteractive,
    kOfxPluginPropFilePath,
    kOfxImageEffectPropContext,
    kOfxImageEffectPropSupportedContexts,
    kOfxImageEffectPropSupportedPixelDepths,
    kOfxImageEffectPropSupportedComponents,
    kOfxImageEffectPluginPropGrouping,
    kOfxImageEffectPluginPropHostFrameThreading,
    kOfxImageEffectPropSupportsMultiResolution,
    kOfxImageEffectPropSupportsTiles,
    kOfxImageEffectPropTemporalClipAccess,
    kOfxImageEffectPropSupportsMultipleClipDepths,
    kOfxImageEffectPluginPropSingleInstance,
    kOfxImageEffectPropRenderScale,
    kOfxImageEffectPropRenderWindow,
    kOfxImageEffectPropFieldToRender,
    kOfxImageEffectPropFrameRange,
    kOfxImageEffectPropFrameStep,
    kOfxImageEffectPropRegionOfDefinition,
    kOfxImageEffectPropProjectSize,
    kOfxImageEffectPropProjectOffset,
    kOfxImageEffectPropProjectExtent,
    kOfxImageEffectPropPixelDepth,
    kOfxImageEffectPropComponents,
    kOfxImageEffectPropPreMultiplication,
    kOfxImageEffectHostPropIsBackground,
    kOfxImageClipPropOptional,
    kOfxImageClipPropIsMask,
    kOfxImageClipPropConnected,
    kOfxImageClipPropFieldExtraction,
    kOfxImagePropData,
    kOfxImagePropBounds,
    kOfxImagePropRegionOfDefinition,
    kOfxImagePropRowBytes,
    kOfxImagePropPixelAspectRatio,
    kOfxImagePropUniqueIdentifier,
    kOfxImagePropField,
    kOfxParamPropType,
    kOfxParamPropScriptName,
    kOfxParamPropHint,
    kOfxParamPropDefault,
    kOfxParamPropMin,
    kOfxParamPropMax,
    kOfxParamPropDisplayMin,
    kOfxParamPropDisplayMax,
    kOfxParamPropIncrement,
    kOfxParamPropDigits,
    kOfxParamPropAnimates,
    kOfxParamPropChoiceOption,
    kOfxParamPropParent,
    kOfxParamPropPageChild,
    kOfxParamPropDoubleType,
    kOfxParamPropDefaultCoordinateSystem,
    kOfxParamPropStringMode,
    kOfxImageEffectPluginRenderThreadSafety,
    kOfxImageEffectFrameVarying,
};

/* Per-clip names of the clip-preferences / RoI / frames-needed actions: prefix + clip name. */
static const char *const CLIP_PROP_PREFIXES[] = {
    "OfxImageClipPropComponents_", "OfxImageClipPropDepth_", "OfxImageClipPropPAR_",
    "OfxImageClipPropRoI_", "OfxImageClipPropFrameRange_",
};

static int prop_name_known(const char *name) {
  for (size_t k = 0; k < sizeof CLIP_PROP_PREFIXES / sizeof *CLIP_PROP_PREFIXES; k++)
    if (!strncmp(CLIP_PROP_PREFIXES[k], name, strlen(CLIP_PROP_PREFIXES[k]))) return 1;
  for (size_t k = 0; k < sizeof KNOWN_PROPS / sizeof *KNOWN_PROPS; k++)
    if (!strcmp(KNOWN_PROPS[k], name)) return 1;
  return 0;
}

/* Find or create; a property keeps the type it was created with. */
static Prop *prop_get_or_add(OfxPropertySetHandle ps, const char *name, int type) {
  Prop *p = prop_find(ps, name);
  if (p) return p->type == type ? p : NULL;
  p = calloc(1, sizeof(Prop));
  p->name = strdup(name);
  p->type = type;
  p->next = ps->head;
  ps->head = p;
  return p;
}

#define SETTER(fn, T, tp, field, conv)                                                        \
  OfxStatus fn(OfxPropertySetHandle ps, const char *name, int index, T value) {        \
    if (!ps || index < 0) return kOfxStatErrBadHandle;                                        \
    pthread_mutex_lock(&g_prop_lock);                                                         \
    if (!prop_name_known(name)) {                                                             \
      fprintf(stderr, "testhost: unknown property %s (a real host refuses it)\n", name);     \
      return kOfxStatErrUnknown;                                                              \
    }                                                                                         \
    Prop *p = prop_get_or_add(ps, name, tp);                                                  \
    if (!p) {                                                                                 \
      pthread_mutex_unlock(&g_prop_lock);                                                     \
      fprintf(stderr, "testhost: property %s set with the wrong type\n", name);               \
      return kOfxStatErrValue;                                                                \
    }                                                                                         \
    prop_grow(p, index + 1);                                                                  \
    conv;                                                                                     \
    pthread_mutex_unlock(&g_prop_lock);                                                       \
    return kOfxStatOK;                                                                        \
  }
SETTER(propSetPointer, void *, PT_PTR, p, p->p[index] = value)
SETTER(propSetString, const char *, PT_STR, s, (free(p->s[index]), p->s[index] = strdup(value ? value : "")))
SETTER(propSetDouble, double, PT_DBL, d, p->d[index] = value)
SETTER(propSetInt, int, PT_INT, i, p->i[index] = value)

OfxStatus propSetPointerN(OfxPropertySetHandle ps, const char *name, int n, void *const *v) {
  for (int k = 0; k < n; k++) if (propSetPointer(ps, name, k, v[k])) return kOfxStatErrValue;
  return kOfxStatOK;
}
OfxStatus propSetStringN(OfxPropertySetHandle ps, const char *name, int n, const char *const *v) {
  for (int k = 0; k < n; k++) if (propSetString(ps, name, k, v[k])) return kOfxStatErrValue;
  return kOfxStatOK;
}
OfxStatus propSetDoubleN(OfxPropertySetHandle ps, const char *name, int n, const double *v) {
  for (int k = 0; k < n; k++) if (propSetDouble(ps, name, k, v[k])) return kOfxStatErrValue;
  return kOfxStatOK;
}
OfxStatus propSetIntN(OfxPropertySetHandle ps, const char *name, int n, const int *v) {
  for (int k = 0; k < n; k++) if (propSetInt(ps, name, k, v[k])) return kOfxStatErrValue;
  return kOfxStatOK;
}

#define GETTER(fn, T, tp, field)                                                          \
  OfxStatus fn(OfxPropertySetHandle ps, const char *name, int index, T *value) {   \
    if (!ps) return kOfxStatErrBadHandle;                                                 \
    pthread_mutex_lock(&g_prop_lock);                                                     \
    Prop *p = prop_find(ps, name);                                                        \
    OfxStatus st = !p ? kOfxStatErrUnknown                                                \
                   : p->type != tp ? kOfxStatErrValue                                     \
                   : (index < 0 || index >= p->n) ? kOfxStatErrBadIndex                   \
                                                   : kOfxStatOK;                          \
    if (st == kOfxStatOK) *value = p->field[index];                                       \
    pthread_mutex_unlock(&g_prop_lock);                                                   \
    return st;                                                                            \
  }
GETTER(propGetPointer, void *, PT_PTR, p)
GETTER(propGetString, char *, PT_STR, s)
GETTER(propGetDouble, double, PT_DBL, d)
GETTER(propGetInt, int, PT_INT, i)

OfxStatus propGetPointerN(OfxPropertySetHandle ps, const char *name, int n, void **v) {
  for (int k = 0; k < n; k++) { OfxStatus s = propGetPointer(ps, name, k, &v[k]); if (s) return s; }
  return kOfxStatOK;
}
OfxStatus propGetStringN(OfxPropertySetHandle ps, const char *name, int n, char **v) {
  for (int k = 0; k < n; k++) { OfxStatus s = propGetString(ps, name, k, &v[k]); if (s) return s; }
  return kOfxStatOK;
}
OfxStatus propGetDoubleN(OfxPropertySetHandle ps, const char *name, int n, double *v) {
  for (int k = 0; k < n; k++) { OfxStatus s = propGetDouble(ps, name, k, &v[k]); if (s) return s; }
  return kOfxStatOK;
}
OfxStatus propGetIntN(OfxPropertySetHandle ps, const char *name, int n, int *v) {
  for (int k = 0; k < n; k++) { OfxStatus s = propGetInt(ps, name, k, &v[k]); if (s) return s; }
  return kOfxStatOK;
}
OfxStatus propReset(OfxPropertySetHandle ps, const char *name) {
  (void)ps, (void)name;
  return kOfxStatOK;
}
OfxStatus propGetDimension(OfxPropertySetHandle ps, const char *name, int *count) {
  pthread_mutex_lock(&g_prop_lock);
  Prop *p = prop_find(ps, name);
  if (p) *count = p->n;
  pthread_mutex_unlock(&g_prop_lock);
  return p ? kOfxStatOK : kOfxStatErrUnknown;
}

const OfxPropertySuiteV1 g_prop_suite = {
    propSetPointer,  propSetString,  propSetDouble,  propSetInt,  propSetPointerN,  propSetStringN,
    propSetDoubleN,  propSetIntN,    propGetPointer, propGetString, propGetDouble,  propGetInt,
    propGetPointerN, propGetStringN, propGetDoubleN, propGetIntN, propReset,        propGetDimension};

const char *pstr(OfxPropertySetHandle ps, const char *name, int idx) {
  char *s = NULL;
  return propGetString(ps, name, idx, &s) == kOfxStatOK ? s : NULL;
}
int pint(OfxPropertySetHandle ps, const char *name, int idx, int dflt) {
  int v = dflt;
  propGetInt(ps, name, idx, &v);
  return v;
}
