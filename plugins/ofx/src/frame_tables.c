/*
 * frame_tables.c -- the warm-up and depth-source tables of frame_tables.h.
 */
#include "frame_tables.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#define MAX_WARMUP 1024
#define MAX_SOURCES 16

/* warmup.tsv lists for W = 1, 2, ... the smallest strength with warm-up >= W; W(s) = how many of
 * those are <= s. */
static double g_warmup_thr[MAX_WARMUP];
static int g_nwarmup;

static struct {
  char name[32];
  int before, after;
  double default_smoothing;
} g_sources[MAX_SOURCES];
static int g_nsources;

static FILE *open_table(const char *resources, const char *name) {
  char path[PATH_MAX + 32];
  snprintf(path, sizeof(path), "%s/%s", resources, name);
  FILE *f = fopen(path, "r");
  if (!f) fprintf(stderr, "GenRefocus: cannot read %s (rebuild the bundle with make -C plugins/ofx)\n", path);
  return f;
}

static int load_warmup(const char *resources) {
  FILE *f = open_table(resources, "warmup.tsv");
  if (!f) return -1;
  char line[256];
  g_nwarmup = 0;
  while (fgets(line, sizeof(line), f)) {
    if (line[0] == '#' || line[0] == '\n') continue;
    int w;
    double thr;
    if (sscanf(line, "%d\t%lf", &w, &thr) != 2 || w != g_nwarmup + 1 || g_nwarmup >= MAX_WARMUP ||
        (g_nwarmup > 0 && thr < g_warmup_thr[g_nwarmup - 1])) {
      fclose(f);
      fprintf(stderr, "GenRefocus: malformed warm-up table %s/warmup.tsv\n", resources);
      return -1;
    }
    g_warmup_thr[g_nwarmup++] = thr;
  }
  fclose(f);
  return 0;
}

static int load_sources(const char *resources) {
  FILE *f = open_table(resources, "sources.tsv");
  if (!f) return -1;
  char line[256];
  g_nsources = 0;
  while (fgets(line, sizeof(line), f)) {
    if (line[0] == '#' || line[0] == '\n') continue;
    if (g_nsources >= MAX_SOURCES ||
        sscanf(line, "%31[^\t]\t%d\t%d\t%lf", g_sources[g_nsources].name, &g_sources[g_nsources].before,
               &g_sources[g_nsources].after, &g_sources[g_nsources].default_smoothing) != 4 ||
        g_sources[g_nsources].before < 0 || g_sources[g_nsources].after < 0 ||
        g_sources[g_nsources].before > MAX_WARMUP || g_sources[g_nsources].after > MAX_WARMUP) {
      fclose(f);
      fprintf(stderr, "GenRefocus: malformed depth-source table %s/sources.tsv\n", resources);
      return -1;
    }
    g_nsources++;
  }
  fclose(f);
  return 0;
}

int frame_tables_load(const char *resources) { return load_warmup(resources) || load_sources(resources) ? -1 : 0; }

int smoothing_warmup(double s) {
  int w = 0;
  while (w < g_nwarmup && g_warmup_thr[w] <= s) w++;
  return w;
}

void source_reach(const char *name, int *before, int *after, double *default_smoothing) {
  *before = *after = 0;
  *default_smoothing = 0.0;
  for (int i = 0; name && i < g_nsources; i++)
    if (!strcmp(g_sources[i].name, name)) {
      *before = g_sources[i].before, *after = g_sources[i].after;
      *default_smoothing = g_sources[i].default_smoothing;
      return;
    }
}
