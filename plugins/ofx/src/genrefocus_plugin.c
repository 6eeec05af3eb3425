/*
 * genrefocus_plugin.c -- GenRefocus, an OpenFX image effect that refocuses a frame from its depth.
 *
 * One effect: Source (+ optional Depth, disparity in its first channel, larger = nearer) ->
 * Output rendered by the Python renderer (render_bokeh) through the bridge server, which the
 * plugin starts on demand. The parameters are not typed here: they are read at Load from
 * Contents/Resources/params.tsv, generated from the project's parameter schema at build time.
 *
 * This file: the entry points and action dispatch, Load (the host's suites, the bundle's
 * resources), the effect and clip descriptors, the instance lifecycle and the user-facing
 * messages. The other modules are listed in plugin.h.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame_tables.h"
#include "framebuf.h"
#include "frames.h"
#include "params.h"
#include "plugin.h"
#include "render.h"

#define PLUGIN_ID "org.genrefocus.GenRefocus"

#define EXPORT __attribute__((visibility("default")))

static OfxHost *g_host;
const OfxPropertySuiteV1 *P;
const OfxParameterSuiteV1 *PS;
const OfxImageEffectSuiteV1 *E;
static const OfxMemorySuiteV1 *M;
static const OfxMessageSuiteV2 *MSG; /* NULL: the host has no message suite (stderr only) */
static int g_msg_v2;                 /* the host's suite has persistent messages */
static char g_resources[PATH_MAX];
BridgeConfig g_bridge;

void say(const char *fmt, const char *a) { fprintf(stderr, "GenRefocus: "), fprintf(stderr, fmt, a), fputc('\n', stderr); }

void report_error(OfxImageEffectHandle effect, int *posted, const char *fmt, ...) {
  char text[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof(text), fmt, ap);
  va_end(ap);
  fprintf(stderr, "GenRefocus: %s\n", text);
  if (!MSG) return;
  if (g_msg_v2 && MSG->setPersistentMessage(effect, kOfxMessageError, "", "GenRefocus: %s", text) == kOfxStatOK) {
    if (posted) __atomic_store_n(posted, 1, __ATOMIC_RELAXED);
    return;
  }
  MSG->message(effect, kOfxMessageError, "", "GenRefocus: %s", text);
}

/* After a good render: take down the error an earlier frame left on the node. */
void clear_error(OfxImageEffectHandle effect, int *posted) {
  if (g_msg_v2 && __atomic_exchange_n(posted, 0, __ATOMIC_RELAXED)) MSG->clearPersistentMessage(effect);
}

/* ---------------------------------------------------------------- Load */

/* The bundle's Contents/Resources folder, from where this binary was loaded. */
static int locate_resources(void) {
  Dl_info info;
  if (!dladdr((void *)&locate_resources, &info) || !info.dli_fname) return -1;
  char so[PATH_MAX];
  if (!realpath(info.dli_fname, so)) snprintf(so, sizeof(so), "%s", info.dli_fname);
  /* .../Contents/Linux-x86-64/GenRefocus.ofx -> .../Contents/Resources */
  char *slash = strrchr(so, '/');
  if (!slash) return -1;
  *slash = 0;
  slash = strrchr(so, '/');
  if (!slash) return -1;
  *slash = 0;
  snprintf(g_resources, sizeof(g_resources), "%s/Resources", so);
  return 0;
}

static OfxStatus on_load(void) {
  if (!g_host) return kOfxStatErrMissingHostFeature;
  P = g_host->fetchSuite(g_host->host, kOfxPropertySuite, 1);
  PS = g_host->fetchSuite(g_host->host, kOfxParameterSuite, 1);
  E = g_host->fetchSuite(g_host->host, kOfxImageEffectSuite, 1);
  M = g_host->fetchSuite(g_host->host, kOfxMemorySuite, 1);
  MSG = g_host->fetchSuite(g_host->host, kOfxMessageSuite, 2);
  g_msg_v2 = MSG != NULL;
  if (!MSG) MSG = g_host->fetchSuite(g_host->host, kOfxMessageSuite, 1); /* V1: only `message` is valid */
  if (!P || !PS || !E) return kOfxStatErrMissingHostFeature;
  if (locate_resources() != 0 || params_load(g_resources) != 0 || frame_tables_load(g_resources) != 0) return kOfxStatFailed;
  bridge_config_load(&g_bridge, g_resources);
  return kOfxStatOK;
}

/* ---------------------------------------------------------------- describe */

static OfxStatus describe(OfxImageEffectHandle effect) {
  OfxPropertySetHandle props;
  if (E->getPropertySet(effect, &props) != kOfxStatOK) return kOfxStatErrBadHandle;
  P->propSetString(props, kOfxPropLabel, 0, "GenRefocus");
  P->propSetString(props, kOfxPropShortLabel, 0, "GenRefocus");
  P->propSetString(props, kOfxPropLongLabel, 0, "GenRefocus (refocus from depth)");
  P->propSetString(props, kOfxPropPluginDescription, 0,
                   "Change focus after capture: renders depth of field from a depth (disparity) clip with a "
                   "chosen focus plane, bokeh level K and aperture shape, via the genrefocus-video bridge.");
  P->propSetString(props, kOfxImageEffectPluginPropGrouping, 0, "Filter/Blur");
  P->propSetString(props, kOfxImageEffectPropSupportedContexts, 0, kOfxImageEffectContextFilter);
  P->propSetString(props, kOfxImageEffectPropSupportedContexts, 1, kOfxImageEffectContextGeneral);
  P->propSetString(props, kOfxImageEffectPropSupportedPixelDepths, 0, kOfxBitDepthFloat);
  P->propSetString(props, kOfxImageEffectPropSupportedPixelDepths, 1, kOfxBitDepthShort);
  P->propSetString(props, kOfxImageEffectPropSupportedPixelDepths, 2, kOfxBitDepthByte);
  P->propSetString(props, kOfxImageEffectPluginRenderThreadSafety, 0, kOfxImageEffectRenderFullySafe);
  P->propSetInt(props, kOfxImageEffectPluginPropHostFrameThreading, 0, 0);
  P->propSetInt(props, kOfxImageEffectPropSupportsTiles, 0, 0); /* bokeh needs the whole frame */
  P->propSetInt(props, kOfxImageEffectPropSupportsMultiResolution, 0, 1);
  P->propSetInt(props, kOfxImageEffectPropTemporalClipAccess, 0, 1); /* Source and Depth at t-W..t for smoothing (GetFramesNeeded) */
  P->propSetInt(props, kOfxImageEffectPropSupportsMultipleClipDepths, 0, 0);
  P->propSetInt(props, kOfxImageEffectPluginPropSingleInstance, 0, 0);
  return kOfxStatOK;
}

static OfxStatus describe_in_context(OfxImageEffectHandle effect, OfxPropertySetHandle inArgs) {
  char *context = NULL;
  P->propGetString(inArgs, kOfxImageEffectPropContext, 0, &context);
  if (!context || (strcmp(context, kOfxImageEffectContextFilter) && strcmp(context, kOfxImageEffectContextGeneral)))
    return kOfxStatErrUnsupported;
  OfxPropertySetHandle cp;
  if (E->clipDefine(effect, kOfxImageEffectSimpleSourceClipName, &cp) != kOfxStatOK) return kOfxStatFailed;
  P->propSetString(cp, kOfxImageEffectPropSupportedComponents, 0, kOfxImageComponentRGBA);
  P->propSetString(cp, kOfxImageEffectPropSupportedComponents, 1, kOfxImageComponentRGB);
  P->propSetInt(cp, kOfxImageEffectPropTemporalClipAccess, 0, 1); /* earlier frames: the smoothing's flow */
  P->propSetInt(cp, kOfxImageEffectPropSupportsTiles, 0, 0);
  if (E->clipDefine(effect, "Depth", &cp) != kOfxStatOK) return kOfxStatFailed;
  P->propSetString(cp, kOfxPropLabel, 0, "Depth (disparity)");
  P->propSetString(cp, kOfxImageEffectPropSupportedComponents, 0, kOfxImageComponentRGBA);
  P->propSetString(cp, kOfxImageEffectPropSupportedComponents, 1, kOfxImageComponentRGB);
  P->propSetString(cp, kOfxImageEffectPropSupportedComponents, 2, kOfxImageComponentAlpha);
  P->propSetInt(cp, kOfxImageClipPropOptional, 0, 1);
  P->propSetInt(cp, kOfxImageEffectPropTemporalClipAccess, 0, 1);
  P->propSetInt(cp, kOfxImageEffectPropSupportsTiles, 0, 0);
  if (E->clipDefine(effect, kOfxImageEffectOutputClipName, &cp) != kOfxStatOK) return kOfxStatFailed;
  P->propSetString(cp, kOfxImageEffectPropSupportedComponents, 0, kOfxImageComponentRGBA);
  P->propSetString(cp, kOfxImageEffectPropSupportedComponents, 1, kOfxImageComponentRGB);
  P->propSetInt(cp, kOfxImageEffectPropSupportsTiles, 0, 0);

  OfxParamSetHandle ps;
  if (E->getParamSet(effect, &ps) != kOfxStatOK) return kOfxStatFailed;
  params_define(ps);
  return kOfxStatOK;
}

/* ---------------------------------------------------------------- instance */

Instance *get_instance(OfxImageEffectHandle effect) {
  OfxPropertySetHandle props;
  void *p = NULL;
  if (E->getPropertySet(effect, &props) != kOfxStatOK) return NULL;
  P->propGetPointer(props, kOfxPropInstanceData, 0, &p);
  return (Instance *)p;
}

static OfxStatus create_instance(OfxImageEffectHandle effect) {
  Instance *inst = calloc(1, sizeof(Instance));
  if (!inst) return kOfxStatErrMemory;
  E->clipGetHandle(effect, kOfxImageEffectSimpleSourceClipName, &inst->src, NULL);
  E->clipGetHandle(effect, "Depth", &inst->depth, NULL);
  E->clipGetHandle(effect, kOfxImageEffectOutputClipName, &inst->out, NULL);
  OfxParamSetHandle ps;
  E->getParamSet(effect, &ps);
  params_handles(ps, inst);
  OfxPropertySetHandle props;
  E->getPropertySet(effect, &props);
  P->propSetPointer(props, kOfxPropInstanceData, 0, inst);
  return (inst->src && inst->out) ? kOfxStatOK : kOfxStatFailed;
}

static OfxStatus destroy_instance(OfxImageEffectHandle effect) {
  Instance *inst = get_instance(effect);
  OfxPropertySetHandle props;
  if (E->getPropertySet(effect, &props) == kOfxStatOK) P->propSetPointer(props, kOfxPropInstanceData, 0, NULL);
  free(inst);
  return kOfxStatOK;
}

/* Start the bridge before the first frame (model loading overlaps the host's own setup). A
 * failure here is reported but not fatal: each Render retries and reports its own error. */
static OfxStatus begin_sequence(void) {
  char err[512] = "";
  if (bridge_ping(&g_bridge, err, sizeof(err)) != 0) fprintf(stderr, "GenRefocus: %s\n", err);
  return kOfxStatOK;
}

/* ---------------------------------------------------------------- entry points */

static OfxStatus main_entry(const char *action, const void *handle, OfxPropertySetHandle inArgs,
                            OfxPropertySetHandle outArgs) {
  OfxImageEffectHandle effect = (OfxImageEffectHandle)handle;
  if (!strcmp(action, kOfxActionLoad)) return on_load();
  if (!P || !E || !PS) return kOfxStatErrFatal; /* every other action needs Load to have succeeded */
  if (!strcmp(action, kOfxActionUnload)) {
    framebuf_trim();
    return kOfxStatOK;
  }
  if (!strcmp(action, kOfxActionDescribe)) return describe(effect);
  if (!strcmp(action, kOfxImageEffectActionDescribeInContext)) return describe_in_context(effect, inArgs);
  if (!strcmp(action, kOfxActionCreateInstance)) return create_instance(effect);
  if (!strcmp(action, kOfxActionDestroyInstance)) return destroy_instance(effect);
  if (!strcmp(action, kOfxImageEffectActionGetClipPreferences)) return frames_clip_preferences(effect, outArgs);
  if (!strcmp(action, kOfxImageEffectActionGetRegionOfDefinition))
    return frames_region_of_definition(effect, inArgs, outArgs);
  if (!strcmp(action, kOfxImageEffectActionIsIdentity)) return frames_is_identity(effect, inArgs, outArgs);
  if (!strcmp(action, kOfxImageEffectActionBeginSequenceRender)) return begin_sequence();
  if (!strcmp(action, kOfxImageEffectActionEndSequenceRender)) {
    framebuf_trim();
    return kOfxStatOK;
  }
  if (!strcmp(action, kOfxImageEffectActionGetFramesNeeded)) return frames_needed(effect, inArgs, outArgs);
  if (!strcmp(action, kOfxImageEffectActionRender)) return render_action(effect, inArgs);
  return kOfxStatReplyDefault;
}

static void set_host(OfxHost *host) { g_host = host; }

static OfxPlugin g_plugin = {kOfxImageEffectPluginApi, kOfxImageEffectPluginApiVersion, PLUGIN_ID, 1, 0,
                             set_host, main_entry};

EXPORT int OfxGetNumberOfPlugins(void) { return 1; }

EXPORT OfxPlugin *OfxGetPlugin(int nth) { return nth == 0 ? &g_plugin : NULL; }

/* OFX 1.5 optional bootstrapper entry point: the host handed to every plugin in this binary. */
EXPORT OfxStatus OfxSetHost(const OfxHost *host) {
  g_host = (OfxHost *)host;
  return kOfxStatOK;
}
