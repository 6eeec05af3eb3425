/*
 * frames.h -- which frames a render reads, declared to the host and fetched from it: the frame
 * window (GetFramesNeeded, from the smoothing warm-up and the depth source's reach in
 * frame_tables), the actions that answer from the clips (frames needed, identity, region of
 * definition, clip preferences), and fetching the window's images for Render.
 */
#ifndef GENREFOCUS_FRAMES_H
#define GENREFOCUS_FRAMES_H

#include "image.h"
#include "params.h"
#include "plugin.h"

/* The frames a render at time t reads: Source over [first, t + after] (n_src frames) and, with a
 * Depth clip, Depth over the same (n_depth frames of them up to t, the `after` ones beyond).
 * Depth clip: first = t - W (W = the smoothing warm-up, 0 without smoothing), after = 1 with
 * smoothing (its look-ahead). Estimated depth: first = t - before - W and after = the source's
 * reach (sources.tsv), + 1 with smoothing. Never outside the read clip's frame range. n_src = 0: Source at t alone, nothing else (the identity). GetFramesNeeded
 * declares exactly this window and Render fetches exactly it. */
typedef struct {
  int n_src, n_depth, after;
  OfxTime first;
} Window;

void frame_window(const Instance *inst, const Values *v, OfxTime t, Window *w);

/* The window's images, newest first: depth d[0..*nd) at t, t-1, ..., then t+1 .. (with a Depth
 * clip), Source hs[1..*ns) at t-1, ..., then t+1 .. (*after of them follow t, on both sides). hs[0] is frame t's
 * `s`, fetched by the caller. A frame the host does not deliver ends that side of the window: the
 * bridge's smoothing / estimate starts there, as the CLI's does at a clip's ends. */
void frames_fetch(const Instance *inst, const Img *s, OfxTime t, const Window *w, Img *d, Img *hs,
                  int *nd, int *ns, int *after);

OfxStatus frames_needed(OfxImageEffectHandle effect, OfxPropertySetHandle inArgs, OfxPropertySetHandle outArgs);
OfxStatus frames_is_identity(OfxImageEffectHandle effect, OfxPropertySetHandle inArgs, OfxPropertySetHandle outArgs);
OfxStatus frames_region_of_definition(OfxImageEffectHandle effect, OfxPropertySetHandle inArgs,
                                      OfxPropertySetHandle outArgs);
OfxStatus frames_clip_preferences(OfxImageEffectHandle effect, OfxPropertySetHandle outArgs);

#endif
