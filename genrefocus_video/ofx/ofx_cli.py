"""`genrefocus-video ofx-serve`: run the OFX bridge (normally started by the plugin itself)."""
from __future__ import annotations

import argparse
from pathlib import Path


def _run(args: argparse.Namespace) -> int:
    from .server import serve  # lazy: `--help` stays fast

    return serve(Path(args.socket) if args.socket else None, idle_timeout=args.idle_timeout, daemon=args.daemon,
                 aperture_image=args.aperture_image)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "ofx-serve", help="serve renders to the OpenFX plugin over a Unix socket",
        description="Serve the GenRefocus OFX plugin: one process renders for every host render thread. "
                    "The plugin starts this on demand; run it by hand to keep models warm or to read its log.")
    p.add_argument("--socket", metavar="PATH",
                   help="socket path (default: $GENREFOCUS_OFX_SOCKET, $XDG_RUNTIME_DIR/genrefocus/bridge.sock "
                        "or /tmp/genrefocus-UID/bridge.sock); its folder must belong to you")
    p.add_argument("--idle-timeout", type=float, default=600.0, metavar="SECONDS",
                   help="exit after this long without requests (0 = never; default 600)")
    p.add_argument("--daemon", action="store_true", help="detach (double fork); log to bridge.log beside the socket")
    p.add_argument("--aperture-image", metavar="PATH",
                   help="grayscale aperture image used when the plugin's Aperture is 'image' (an OFX host has no "
                        "file parameter for it; start the bridge yourself with this flag)")
    p.set_defaults(func=_run)
