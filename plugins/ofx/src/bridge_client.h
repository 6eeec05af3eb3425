/*
 * bridge_client.h -- the plugin side of the GenRefocus bridge protocol (version 4).
 *
 * Mirrors genrefocus_video/ofx/protocol.py: 12-byte header (magic "GRFX", u16 version, u16 type,
 * u32 payload length, little endian) + JSON; the pixels travel in a memfd passed by SCM_RIGHTS.
 */
#ifndef GENREFOCUS_BRIDGE_CLIENT_H
#define GENREFOCUS_BRIDGE_CLIENT_H

#include <stddef.h>

#define GRFX_VERSION 4
#define GRFX_MSG_PING 1
#define GRFX_MSG_PONG 2
#define GRFX_MSG_RENDER 3
#define GRFX_MSG_RENDER_OK 4
#define GRFX_MSG_ERROR 5
#define GRFX_MAX_PAYLOAD (64 * 1024)

typedef struct {
  char python[1024];     /* interpreter to start the bridge with */
  char pythonpath[2048]; /* prepended to PYTHONPATH for the bridge ("" = none) */
} BridgeConfig;

/* Read Contents/Resources/bridge.conf (python=..., pythonpath=...) then apply env overrides. */
void bridge_config_load(BridgeConfig *cfg, const char *resources_dir);

/* Socket path: $GENREFOCUS_OFX_SOCKET, $XDG_RUNTIME_DIR/genrefocus/bridge.sock, /tmp/genrefocus-UID/... */
int bridge_socket_path(char *out, size_t n);

/*
 * Send one RENDER request (json payload, pixels in memfd `fd`) and wait for the reply,
 * starting or restarting the bridge when it is not running. Returns 0 on RENDER_OK, -1 on error
 * with a one-line reason in `err`.
 */
int bridge_render(const BridgeConfig *cfg, const char *json, int fd, char *err, size_t errn);

/* Start the bridge if needed and check that it answers (used at BeginSequenceRender). */
int bridge_ping(const BridgeConfig *cfg, char *err, size_t errn);

#endif
