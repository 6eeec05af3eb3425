/*
 * host_params.h -- the test host's parameters: defined by the plugin through OfxParameterSuiteV1,
 * animated by the --anim file (keys: doubles interpolate linearly, integers / choices / booleans
 * hold, a string holds one value for the whole clip).
 */
#ifndef TESTHOST_PARAMS_H
#define TESTHOST_PARAMS_H

#include <string.h>

#include "../src/ofx_abi.h"

#define MAX_KEYS 256
struct OfxParamStruct {
  char name[128], type[64];
  OfxPropertySetHandle props;
  double val[2];
  char text[1024]; /* a String parameter's value (not animated: an --anim line sets it) */
  int nkeys;
  double ktime[MAX_KEYS], kval[MAX_KEYS][2];
};

struct OfxParamSetStruct {
  OfxParamHandle p[256];
  int n;
  OfxPropertySetHandle props;
};

static inline int is_double_type(const char *t) { return !strcmp(t, kOfxParamTypeDouble) || !strcmp(t, kOfxParamTypeDouble2D); }
static inline int dims_of(const char *t) { return !strcmp(t, kOfxParamTypeDouble2D) ? 2 : 1; }

extern const OfxParameterSuiteV1 g_param_suite;

OfxStatus paramDefine(OfxParamSetHandle ps, const char *type, const char *name, OfxPropertySetHandle *out);
OfxStatus paramGetHandle(OfxParamSetHandle ps, const char *name, OfxParamHandle *h, OfxPropertySetHandle *pp);

#endif
