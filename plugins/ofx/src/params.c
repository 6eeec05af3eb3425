/*
 * params.c -- the parameters from the generated schema table: read params.tsv at Load, define them
 * for the host (one group and one page per schema page), read an instance's values at a time, and
 * write them into the bridge request.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_text.h"
#include "params.h"

ParamDesc g_params[MAX_PARAMS];
int g_nparams;
static int g_k = -1, g_smooth = -1, g_fp = -1, g_ffp = -1, g_src = -1;

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

int params_load(const char *resources) {
  char path[PATH_MAX + 32];
  snprintf(path, sizeof(path), "%s/params.tsv", resources);
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
  g_smooth = find_param("depth_smoothing");
  g_fp = find_param("focus_point");
  g_ffp = find_param("focus_from_point");
  g_src = find_param("depth_source");
  return g_nparams > 0 ? 0 : -1;
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

void params_define(OfxParamSetHandle ps) {
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
}

void params_handles(OfxParamSetHandle ps, Instance *inst) {
  for (int i = 0; i < g_nparams; i++)
    if (PS->paramGetHandle(ps, g_params[i].name, &inst->h[i], NULL) != kOfxStatOK) inst->h[i] = NULL;
}

void params_read(const Instance *inst, OfxTime t, Values *v) {
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

double param_k(const Values *v) { return g_k >= 0 ? v->d[g_k][0] : 0.0; }

double param_smoothing(const Values *v) { return g_smooth >= 0 ? v->d[g_smooth][0] : 0.0; }

/* The Depth Source choice's name ("file", "motion", "model", ...); "file" without that parameter. */
const char *param_depth_source(const Values *v) {
  if (g_src < 0 || v->i[g_src] < 0 || v->i[g_src] >= g_params[g_src].nchoices) return "file";
  return g_params[g_src].choice[v->i[g_src]];
}

/* Depth estimated by the bridge from Source (any source but "file", which is the Depth clip). */
int param_estimating(const Values *v) { return strcmp(param_depth_source(v), "file") != 0; }

int param_focus_from_point(const Values *v) { return g_ffp >= 0 ? v->i[g_ffp] != 0 : 0; }

void param_focus_point(const Values *v, double *x, double *y) {
  *x = g_fp >= 0 ? v->d[g_fp][0] : 0.0;
  *y = g_fp >= 0 ? v->d[g_fp][1] : 0.0;
}

void params_json(const Values *v, char *json, size_t cap, size_t *len) {
  int first = 1;
  for (int i = 0; i < g_nparams; i++) {
    const char *k = g_params[i].kind;
    if (!strcmp(k, "double2d")) continue; /* the focus point travels in its own field */
    if (!strcmp(k, "double"))
      append(json, cap, len, "%s\"%s\":%.17g", first ? "" : ",", g_params[i].name, v->d[i][0]);
    else if (!strcmp(k, "boolean"))
      append(json, cap, len, "%s\"%s\":%s", first ? "" : ",", g_params[i].name, v->i[i] ? "true" : "false");
    else if (!strcmp(k, "string")) {
      append(json, cap, len, "%s\"%s\":", first ? "" : ",", g_params[i].name);
      append_json_string(json, cap, len, v->text + v->i[i]);
    } else
      append(json, cap, len, "%s\"%s\":%d", first ? "" : ",", g_params[i].name, v->i[i]);
    first = 0;
  }
}
