/*
 * host_props.h -- the test host's property sets (typed, growable, locked for render threads) and
 * its OfxPropertySuiteV1. Like a strict host, it refuses property names the standard does not
 * define (KNOWN_PROPS in host_props.c, from ofx_abi.h).
 */
#ifndef TESTHOST_PROPS_H
#define TESTHOST_PROPS_H

#include "../src/ofx_abi.h"

enum { PT_STR, PT_INT, PT_DBL, PT_PTR };

typedef struct Prop {
  char *name;
  int type, n;
  char **s;
  int *i;
  double *d;
  void **p;
  struct Prop *next;
} Prop;

struct OfxPropertySetStruct {
  Prop *head;
  void *owned; /* image memory freed on release */
};

extern const OfxPropertySuiteV1 g_prop_suite;

OfxPropertySetHandle props_new(void);
Prop *prop_find(OfxPropertySetHandle ps, const char *name); /* NULL when not set (caller holds no lock: setup only) */

OfxStatus propSetPointer(OfxPropertySetHandle ps, const char *name, int index, void *value);
OfxStatus propSetString(OfxPropertySetHandle ps, const char *name, int index, const char *value);
OfxStatus propSetDouble(OfxPropertySetHandle ps, const char *name, int index, double value);
OfxStatus propSetInt(OfxPropertySetHandle ps, const char *name, int index, int value);
OfxStatus propSetPointerN(OfxPropertySetHandle ps, const char *name, int n, void *const *v);
OfxStatus propSetStringN(OfxPropertySetHandle ps, const char *name, int n, const char *const *v);
OfxStatus propSetDoubleN(OfxPropertySetHandle ps, const char *name, int n, const double *v);
OfxStatus propSetIntN(OfxPropertySetHandle ps, const char *name, int n, const int *v);
OfxStatus propGetPointer(OfxPropertySetHandle ps, const char *name, int index, void **value);
OfxStatus propGetString(OfxPropertySetHandle ps, const char *name, int index, char **value);
OfxStatus propGetDouble(OfxPropertySetHandle ps, const char *name, int index, double *value);
OfxStatus propGetInt(OfxPropertySetHandle ps, const char *name, int index, int *value);
OfxStatus propGetPointerN(OfxPropertySetHandle ps, const char *name, int n, void **v);
OfxStatus propGetStringN(OfxPropertySetHandle ps, const char *name, int n, char **v);
OfxStatus propGetDoubleN(OfxPropertySetHandle ps, const char *name, int n, double *v);
OfxStatus propGetIntN(OfxPropertySetHandle ps, const char *name, int n, int *v);
OfxStatus propReset(OfxPropertySetHandle ps, const char *name);
OfxStatus propGetDimension(OfxPropertySetHandle ps, const char *name, int *count);

const char *pstr(OfxPropertySetHandle ps, const char *name, int idx);    /* a string, or NULL */
int pint(OfxPropertySetHandle ps, const char *name, int idx, int dflt); /* an int, or dflt */

#endif
