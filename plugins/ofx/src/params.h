/*
 * params.h -- the plugin's parameters, not typed here: read at Load from Contents/Resources/params.tsv,
 * which the build generates from the project's parameter schema (genrefocus_video.ofx.descriptor).
 */
#ifndef GENREFOCUS_PARAMS_H
#define GENREFOCUS_PARAMS_H

#include <stddef.h>

#include "plugin.h"

#define MAX_CHOICES 32

typedef struct {
  char kind[16], name[64], label[128], page[64], hint[512], def[64];
  char min[32], max[32], dmin[32], dmax[32];
  char choices_buf[1024];
  const char *choice[MAX_CHOICES];
  int nchoices;
} ParamDesc;

/* An instance's parameter values at one time, indexed like the table. */
typedef struct {
  double d[MAX_PARAMS][2];
  int i[MAX_PARAMS]; /* integer, choice, boolean; for a string: its offset in text */
  char text[4096];   /* string values (paths), NUL-separated */
  size_t ntext;
} Values;

extern ParamDesc g_params[MAX_PARAMS];
extern int g_nparams;

/* Read `resources`/params.tsv into the table; 0 on success, -1 (reason on stderr). */
int params_load(const char *resources);

/* Define every parameter, grouped and paged by the schema's page, in the effect's parameter set. */
void params_define(OfxParamSetHandle ps);

/* The parameter handles of a new instance (NULL for one the host did not define). */
void params_handles(OfxParamSetHandle ps, Instance *inst);

/* Every parameter's value at time t. */
void params_read(const Instance *inst, OfxTime t, Values *v);

double param_k(const Values *v);                 /* Blur K (px at full resolution; 0 without it) */
double param_smoothing(const Values *v);         /* Depth Smoothing (below 0: auto) */
const char *param_depth_source(const Values *v); /* "file", "motion", "model", ... */
int param_estimating(const Values *v);           /* depth estimated by the bridge (any source but file) */
int param_focus_from_point(const Values *v);
void param_focus_point(const Values *v, double *x, double *y); /* canonical coordinates */

/* The request's "params" object: every parameter but the focus point, by name, appended to json. */
void params_json(const Values *v, char *json, size_t cap, size_t *len);

#endif
