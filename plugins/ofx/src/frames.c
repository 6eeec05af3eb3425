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
  double src[2] = {w.first, t + w.after}, dep[2] = {w.n_depth ? w.first : t, t};
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

void frames_fetch(const Instance *inst, const Img *s, OfxTime t, const Window *w, Img *d, Img *hs,
                  int *nd, int *ns, int *after) {
  *nd = *after = 0;
  /* Newest first; Source and Depth at the same times (the bridge's flow reads the Source frames). */
  for (int i = 0; i < w->n_depth; i++) {
    if (img_open(inst->depth, t - i, &d[i]) != 0) break;
    if (i > 0 && img_open_like(inst->src, t - i, s, &hs[i]) != 0) {
      img_close(&d[i]);
      break;
    }
    (*nd)++;
  }
  *ns = w->n_depth ? *nd : w->n_src ? fetch_sources(inst, s, t, w, hs, after) : 0;
  if (w->n_depth > 0 && *nd == 0) say("%s", "the Depth clip is connected but gave no image for this frame: passing Source through");
}
