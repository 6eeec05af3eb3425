/*
 * host_params.c -- the test host's parameter sets and parameter suite (see host_params.h).
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host_params.h"
#include "host_props.h"

OfxStatus paramDefine(OfxParamSetHandle ps, const char *type, const char *name, OfxPropertySetHandle *out) {
  if (!ps || !type || !name) return kOfxStatErrBadHandle;
  for (int i = 0; i < ps->n; i++)
    if (!strcmp(ps->p[i]->name, name)) return kOfxStatErrExists;
  if (ps->n >= 256) return kOfxStatErrMemory;
  OfxParamHandle p = calloc(1, sizeof(*p));
  snprintf(p->name, sizeof(p->name), "%s", name);
  snprintf(p->type, sizeof(p->type), "%s", type);
  p->props = props_new();
  propSetString(p->props, kOfxParamPropType, 0, type);
  propSetString(p->props, kOfxPropName, 0, name);
  propSetString(p->props, kOfxPropType, 0, kOfxTypeParameter);
  ps->p[ps->n++] = p;
  if (out) *out = p->props;
  return kOfxStatOK;
}

OfxStatus paramGetHandle(OfxParamSetHandle ps, const char *name, OfxParamHandle *h, OfxPropertySetHandle *pp) {
  for (int i = 0; i < ps->n; i++)
    if (!strcmp(ps->p[i]->name, name)) {
      if (h) *h = ps->p[i];
      if (pp) *pp = ps->p[i]->props;
      return kOfxStatOK;
    }
  return kOfxStatErrUnknown;
}
static OfxStatus paramSetGetPropertySet(OfxParamSetHandle ps, OfxPropertySetHandle *out) {
  *out = ps->props;
  return kOfxStatOK;
}
static OfxStatus paramGetPropertySet(OfxParamHandle p, OfxPropertySetHandle *out) {
  *out = p->props;
  return kOfxStatOK;
}

/* Value at time: doubles interpolate linearly between keys, others hold the last key. */
static void param_value(OfxParamHandle p, OfxTime t, double out[2]) {
  int dims = dims_of(p->type);
  if (p->nkeys == 0) {
    out[0] = p->val[0], out[1] = p->val[1];
    return;
  }
  if (t <= p->ktime[0]) {
    out[0] = p->kval[0][0], out[1] = p->kval[0][1];
    return;
  }
  for (int k = 1; k < p->nkeys; k++)
    if (t < p->ktime[k]) {
      if (!is_double_type(p->type)) {
        out[0] = p->kval[k - 1][0], out[1] = p->kval[k - 1][1];
        return;
      }
      double a = (t - p->ktime[k - 1]) / (p->ktime[k] - p->ktime[k - 1]);
      for (int c = 0; c < dims; c++) out[c] = (1 - a) * p->kval[k - 1][c] + a * p->kval[k][c];
      return;
    }
  out[0] = p->kval[p->nkeys - 1][0], out[1] = p->kval[p->nkeys - 1][1];
}

static OfxStatus get_value_va(OfxParamHandle p, OfxTime t, va_list ap) {
  if (!p) return kOfxStatErrBadHandle;
  double v[2];
  param_value(p, t, v);
  if (is_double_type(p->type)) {
    for (int c = 0; c < dims_of(p->type); c++) *va_arg(ap, double *) = v[c];
  } else if (!strcmp(p->type, kOfxParamTypeInteger) || !strcmp(p->type, kOfxParamTypeChoice) ||
             !strcmp(p->type, kOfxParamTypeBoolean)) {
    *va_arg(ap, int *) = (int)llround(v[0]);
  } else if (!strcmp(p->type, kOfxParamTypeString)) {
    *va_arg(ap, char **) = p->text; /* owned by the host, as the spec says */
  } else {
    return kOfxStatErrUnsupported;
  }
  return kOfxStatOK;
}

static OfxStatus paramGetValue(OfxParamHandle p, ...) {
  va_list ap;
  va_start(ap, p);
  OfxStatus s = get_value_va(p, 0.0, ap);
  va_end(ap);
  return s;
}
static OfxStatus paramGetValueAtTime(OfxParamHandle p, OfxTime t, ...) {
  va_list ap;
  va_start(ap, t);
  OfxStatus s = get_value_va(p, t, ap);
  va_end(ap);
  return s;
}
static OfxStatus paramUnsupported(OfxParamHandle p, ...) { (void)p; return kOfxStatErrUnsupported; }
static OfxStatus paramDerivative(OfxParamHandle p, OfxTime t, ...) { (void)p, (void)t; return kOfxStatErrUnsupported; }
static OfxStatus paramIntegral(OfxParamHandle p, OfxTime a, OfxTime b, ...) { (void)p, (void)a, (void)b; return kOfxStatErrUnsupported; }
static OfxStatus paramSetValueAtTime(OfxParamHandle p, OfxTime t, ...) { (void)p, (void)t; return kOfxStatErrUnsupported; }
static OfxStatus paramGetNumKeys(OfxParamHandle p, unsigned int *n) { *n = (unsigned)p->nkeys; return kOfxStatOK; }
static OfxStatus paramGetKeyTime(OfxParamHandle p, unsigned int k, OfxTime *t) {
  if ((int)k >= p->nkeys) return kOfxStatErrBadIndex;
  *t = p->ktime[k];
  return kOfxStatOK;
}
static OfxStatus paramGetKeyIndex(OfxParamHandle p, OfxTime t, int dir, int *idx) {
  (void)dir;
  for (int k = 0; k < p->nkeys; k++) if (p->ktime[k] == t) { *idx = k; return kOfxStatOK; }
  return kOfxStatFailed;
}
static OfxStatus paramDeleteKey(OfxParamHandle p, OfxTime t) { (void)p, (void)t; return kOfxStatErrUnsupported; }
static OfxStatus paramDeleteAllKeys(OfxParamHandle p) { p->nkeys = 0; return kOfxStatOK; }
static OfxStatus paramCopy(OfxParamHandle a, OfxParamHandle b, OfxTime o, const OfxRangeD *r) {
  (void)a, (void)b, (void)o, (void)r;
  return kOfxStatErrUnsupported;
}
static OfxStatus paramEditBegin(OfxParamSetHandle ps, const char *name) { (void)ps, (void)name; return kOfxStatOK; }
static OfxStatus paramEditEnd(OfxParamSetHandle ps) { (void)ps; return kOfxStatOK; }

const OfxParameterSuiteV1 g_param_suite = {
    paramDefine,      paramGetHandle,   paramSetGetPropertySet, paramGetPropertySet, paramGetValue,
    paramGetValueAtTime, paramDerivative, paramIntegral,        paramUnsupported,    paramSetValueAtTime,
    paramGetNumKeys,  paramGetKeyTime,  paramGetKeyIndex,       paramDeleteKey,      paramDeleteAllKeys,
    paramCopy,        paramEditBegin,   paramEditEnd};
