"""`genrefocus-video probe INPUT [--json]`: print what a user needs to know about a clip (CLI face)."""
from __future__ import annotations

import argparse

from .probe import describe, probe, to_json


def _cmd_probe(args: argparse.Namespace) -> int:
    info = probe(args.input, transfer=args.input_transfer)
    print(to_json(info) if args.json else describe(info))
    return 0


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = subparsers.add_parser("probe", help="describe a clip, sequence or image",
                              description="Print size, frame rate, frames, codec, bit depth, chroma, alpha, colour "
                                          "tags, rotation, timecode, audio streams and camera metadata of INPUT.")
    p.add_argument("input", metavar="INPUT", help="video file, image sequence pattern/glob, or image")
    p.add_argument("--json", action="store_true", help="machine-readable JSON instead of text")
    p.add_argument("--input-transfer", default="auto", choices=("auto", "linear", "srgb", "bt709", "pq", "hlg"),
                   help="transfer to report as used for linearising (default: from the stream tags)")
    p.set_defaults(func=_cmd_probe)
