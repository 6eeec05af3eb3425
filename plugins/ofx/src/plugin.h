/*
 * plugin.h -- what the GenRefocus plugin's modules share: the host's suites (fetched at Load), the
 * parameter table read from the bundle, an instance's clips and parameter handles, and how a
 * failure is told to the user.
 *
 * Modules (each one job):
 *   genrefocus_plugin.c  entry points, Load, effect and clip descriptors, instance lifecycle, messages
 *   params.c             parameter descriptors from the generated schema table (params.tsv), values
 *   frames.c             the frame window a render reads (GetFramesNeeded) and the clip actions
 *   image.c              fetching host images and reading / writing their pixels
 *   framebuf.c           the pooled shared-memory buffers frames travel in
 *   render.c             the Render action: pixels out, the bridge round trip, pixels back
 *   bridge_client.c      the bridge protocol and process; frame_tables.c warm-up / reach tables
 */
#ifndef GENREFOCUS_PLUGIN_H
#define GENREFOCUS_PLUGIN_H

#include <stddef.h>

#include "bridge_client.h"
#include "ofx_abi.h"

#define MAX_PARAMS 64

typedef struct {
  OfxImageClipHandle src, depth, out;
  OfxParamHandle h[MAX_PARAMS];
  int error_posted; /* a persistent error message is on the host (atomic: render threads) */
} Instance;

/* Suites fetched at Load; every action but Load runs only when P, PS and E are set. */
extern const OfxPropertySuiteV1 *P;
extern const OfxParameterSuiteV1 *PS;
extern const OfxImageEffectSuiteV1 *E;
extern BridgeConfig g_bridge; /* the bridge's interpreter and path (Resources/bridge.conf) */

/* One line on stderr: "GenRefocus: " + fmt with one string argument. */
void say(const char *fmt, const char *a);

/* A render failure, told to the user: on stderr, and through the host's message suite (V2: a
 * persistent error on the node, cleared by the next good render; V1: a transient message). */
void report_error(OfxImageEffectHandle effect, int *posted, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* After a good render: take down the error an earlier frame left on the node. */
void clear_error(OfxImageEffectHandle effect, int *posted);

/* The instance data of an effect instance (NULL before CreateInstance / after DestroyInstance). */
Instance *get_instance(OfxImageEffectHandle effect);

#endif
