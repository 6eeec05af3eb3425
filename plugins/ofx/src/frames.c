/* frames.c -- see frames.h. */
#include <string.h>

#include "frame_tables.h"
#include "frames.h"

static int depth_connected(const Instance *inst) {
  if (!inst->depth) return 0;
  OfxPropertySetHandle cp;
  int c = 0;
  if (E->clipGetPropertySet(inst->depth, &cp) != kOfxStatOK) return 0;
  P->propGetInt(cp, kOfxImageClipPropConnected, 0, &c);
  return c;
}


/* A clip's frame range (OfxImageEffectPropFrameRange); 0 when the host gives none. */
static int clip_range(OfxImageClipHandle clip, double range[2]) {
  OfxPropertySetHandle cp;
  return clip && E->clipGetPropertySet(clip, &cp) == kOfxStatOK &&
         P->propGetDoubleN(cp, kOfxImageEffectPropFrameRange, 2, range) == kOfxStatOK;
}

void frame_window(const Instance *inst, const Values *v, OfxTime t, Window *w) {
  memset(w, 0, sizeof(*w));
  w->first = t;
  int est = param_estimating(v);
  if (param_k(v) == 0.0 || (!est && !depth_connected(inst))) return;
  int before = 0, after = 0;
  double auto_s = 0.0, s = param_smoothing(v);
  source_reach(param_depth_source(v), &before, &after, &auto_s);
  if (!est) before = after = 0;
  if (s < 0) s = auto_s; /* "auto": the strength the bridge resolves for this source */
  /* smoothing looks one frame ahead (depth/temporal_ahead.py): frame t + 1 and, for an estimate,
   * what the source reads to estimate it */
  if (s > 0) after += 1;
  OfxTime lo = t - before - smoothing_warmup(s), hi = t + after;
  double range[2];
  if (clip_range(est ? inst->src : inst->depth, range)) {
    if (lo < range[0]) lo = range[0] < t ? range[0] : t;
    if (hi > range[1]) hi = range[1] > t ? range[1] : t;
  }
  w->first = lo;
  w->after = (int)(hi - t);
  w->n_src = (int)(hi - lo) + 1;
  w->n_depth = est ? 0 : (int)(t - lo) + 1;
}

/* The instance of an action's effect, the action's time (kOfxPropTime) and the parameters there. */
static Instance *instance_at(OfxImageEffectHandle effect, OfxPropertySetHandle inArgs, OfxTime *t, Values *v) {
  Instance *inst = get_instance(effect);
  if (!inst) return NULL;
  *t = 0;
  P->propGetDouble(inArgs, kOfxPropTime, 0, t);
  params_read(inst, *t, v);
  return inst;
}

/* kOfxImageEffectActionGetFramesNeeded: Source and Depth over frame_window (Source at t alone
 * when no depth is read; Depth at t, unread, when depth is estimated). */
OfxStatus frames_needed(OfxImageEffectHandle effect, OfxPropertySetHandle inArgs, OfxPropertySetHandle outArgs) {
  OfxTime t;
  Values v;
  Instance *inst = instance_at(effect, inArgs, &t, &v);
  if (!inst) return kOfxStatErrBadHandle;
  Window w;
  frame_window(inst, &v, t, &w);
  double src[2] = {w.first, t + w.after}, dep[2] = {w.n_depth ? w.first : t, w.n_depth ? t + w.after : t};
  P->propSetDoubleN(outArgs, "OfxImageClipPropFrameRange_Source", 2, src);
  P->propSetDoubleN(outArgs, "OfxImageClipPropFrameRange_Depth", 2, dep);
  return kOfxStatOK;
}

OfxStatus frames_is_identity(OfxImageEffectHandle effect, OfxPropertySetHandle inArgs, OfxPropertySetHandle outArgs) {
  OfxTime t;
  Values v;
  Instance *inst = instance_at(effect, inArgs, &t, &v);
  if (!inst) return kOfxStatErrBadHandle;
  if (param_k(&v) == 0.0 || (!param_estimating(&v) && !depth_connected(inst))) {
    P->propSetString(outArgs, kOfxPropName, 0, kOfxImageEffectSimpleSourceClipName);
    P->propSetDouble(outArgs, kOfxPropTime, 0, t);
    return kOfxStatOK;
  }
  return kOfxStatReplyDefault;
}

OfxStatus frames_region_of_definition(OfxImageEffectHandle effect, OfxPropertySetHandle inArgs,
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

OfxStatus frames_clip_preferences(OfxImageEffectHandle effect, OfxPropertySetHandle outArgs) {
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

/* Estimated depth's Source frames t-1 .. first into hs[1..], then t+1 .. t+after after them;
 * the count with t. */
static int fetch_sources(const Instance *inst, const Img *s, OfxTime t, const Window *w, Img *hs, int *after) {
  int n = 1;
  for (OfxTime u = t - 1; u >= w->first && img_open_like(inst->src, u, s, &hs[n]) == 0; u--) n++;
  *after = 0;
  for (int k = 1; k <= w->after && img_open_like(inst->src, t + k, s, &hs[n]) == 0; k++) n++, (*after)++;
  return n;
}

/* Depth (and Source, i > 0) at time u into d[i] / hs[i]; 0 when both came. */
static int fetch_pair(const Instance *inst, const Img *s, OfxTime u, int i, Img *d, Img *hs) {
  if (img_open(inst->depth, u, &d[i]) != 0) return -1;
  if (i > 0 && img_open_like(inst->src, u, s, &hs[i]) != 0) {
    img_close(&d[i]);
    return -1;
  }
  return 0;
}

void frames_fetch(const Instance *inst, const Img *s, OfxTime t, const Window *w, Img *d, Img *hs,
                  int *nd, int *ns, int *after) {
  *nd = *after = 0;
  /* Newest first, then the frames after t; Source and Depth at the same times (the bridge's flow
   * reads the Source frames). */
  for (int i = 0; i < w->n_depth && fetch_pair(inst, s, t - i, i, d, hs) == 0; i++) (*nd)++;
  if (*nd > 0)
    for (int k = 1; k <= w->after && fetch_pair(inst, s, t + k, *nd, d, hs) == 0; k++) (*nd)++, (*after)++;
  *ns = w->n_depth ? *nd : w->n_src ? fetch_sources(inst, s, t, w, hs, after) : 0;
  if (w->n_depth > 0 && *nd == 0) say("%s", "the Depth clip is connected but gave no image for this frame: passing Source through");
}
