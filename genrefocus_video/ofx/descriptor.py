"""The OFX plugin description, generated from the one parameter schema.

Every schema leaf with ``ofx=True`` becomes one OFX parameter: ``float`` → Double, ``int`` →
Integer, ``bool`` → Boolean, ``str`` → String (a path; empty = not given), a leaf with
``choices`` → Choice. Name = dotted path with ``_``
(``aperture.rotation_deg`` → ``aperture_rotation_deg``), label from the CLI flag, hint = help,
page = ``spec.page``, hard range = ``min``/``max``, slider range = ``soft_max`` where given.
A leaf that also takes "auto" (``spec.auto``, e.g. Depth Smoothing) is a Double whose range starts
at its sentinel number (-1 = auto, the default), which the schema reads back as "auto".
Optional leaves whose schema default is ``None`` ("not given") take their lower bound in the UI
(K = 0 means pass-through until the user raises it, see docs/ofx.md).

Two parameters are plugin-specific (they are viewer interactions, not job settings): the focus
point, a Double2D XY-absolute parameter the host draws as a handle, and a boolean that says
whether the focus disparity is sampled under that point or taken from ``focus_disparity``.

The C plugin cannot run Python while a host describes it, so the build writes this description
into the bundle's ``Contents/Resources/params.tsv`` (``python -m genrefocus_video.ofx.descriptor
--tsv PATH``); the test host dumps what the plugin described as JSON, which tests compare with
:func:`describe_params`.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
from dataclasses import dataclass
from typing import Any, Optional

from ..params import JobParams, Leaf, iter_leaves
from ..params.schema import AUTO

PLUGIN_ID = "org.genrefocus.GenRefocus"
PLUGIN_LABEL = "GenRefocus"
PLUGIN_GROUPING = "Filter/Blur"
PLUGIN_VERSION = (1, 0)

#: Plugin-specific parameter names (not schema leaves).
FOCUS_POINT = "focus_point"
FOCUS_FROM_POINT = "focus_from_point"

KINDS = ("double", "int", "choice", "boolean", "double2d", "string")


@dataclass(frozen=True)
class OfxParam:
    """One described OFX parameter."""

    name: str
    kind: str  # one of KINDS
    label: str
    hint: str
    page: str
    default: Any  # float | int | bool | choice string | (x, y) normalised for double2d
    min: Optional[float] = None
    max: Optional[float] = None
    display_min: Optional[float] = None
    display_max: Optional[float] = None
    choices: tuple[str, ...] = ()
    path: Optional[str] = None  # schema path; None for plugin-specific parameters

    def to_json(self) -> dict[str, Any]:
        out = {
            "name": self.name, "kind": self.kind, "label": self.label, "hint": self.hint,
            "page": self.page, "default": list(self.default) if self.kind == "double2d" else self.default,
            "min": self.min, "max": self.max, "display_min": self.display_min,
            "display_max": self.display_max, "choices": list(self.choices), "path": self.path,
        }
        return out


def ofx_name(path: str) -> str:
    return path.replace(".", "_")


def _label(leaf: Leaf) -> str:
    if leaf.spec.label:
        return leaf.spec.label
    words = leaf.flag.replace("_", "-").split("-")
    return " ".join(w.upper() if len(w) == 1 else w.capitalize() for w in words)


def _from_leaf(leaf: Leaf) -> OfxParam:
    spec = leaf.spec
    tp = leaf.base_type
    page = spec.page or "Controls"
    common = dict(name=ofx_name(leaf.path), label=_label(leaf), hint=spec.help, page=page, path=leaf.path)
    default = leaf.default
    if spec.choices:
        choice = default if default in spec.choices else spec.choices[0]
        return OfxParam(kind="choice", default=choice, choices=tuple(spec.choices), **common)
    if tp is bool:
        return OfxParam(kind="boolean", default=bool(default), **common)
    if tp is str:  # a folder or file path ("" = not given)
        return OfxParam(kind="string", default=default or "", **common)
    if tp in (int, float):
        lo, hi = spec.min, spec.max
        if spec.auto is not None:  # "auto" is the leaf's sentinel number, the slider's lower end
            lo = spec.auto if lo is None else min(lo, spec.auto)
            default = spec.auto if default == AUTO else default
        if default is None:  # "not given" in the schema: start at the lower bound (or 0)
            default = lo if lo is not None else 0
        dmin = lo if lo is not None else (0.0 if default >= 0 else default)
        dmax = spec.soft_max if spec.soft_max is not None else hi
        if dmax is None:
            dmax = max(1.0, 2.0 * abs(float(default)))
        kind = "int" if tp is int else "double"
        cast = int if kind == "int" else float
        return OfxParam(kind=kind, default=cast(default), min=None if lo is None else cast(lo),
                        max=None if hi is None else cast(hi), display_min=cast(dmin), display_max=cast(dmax),
                        **common)
    raise TypeError(f"schema leaf {leaf.path} has ofx=True but type {tp!r} has no OFX parameter kind")


def describe_params() -> list[OfxParam]:
    """All OFX parameters: the schema's ofx leaves in schema order, then the plugin-specific ones."""
    params = [_from_leaf(leaf) for leaf in iter_leaves(JobParams) if leaf.spec.ofx]
    params.append(OfxParam(
        name=FOCUS_POINT, kind="double2d", label="Focus Point", page="Focus", default=(0.5, 0.5),
        hint="pick the point to focus on in the viewer; the bridge picks the depth clip's disparity there "
             "as the CLI's --focus-point does (robust median over ~2 % of the frame width) when "
             "'Focus From Point' is on"))
    params.append(OfxParam(
        name=FOCUS_FROM_POINT, kind="boolean", label="Focus From Point", page="Focus", default=True,
        hint="on: focus disparity = depth under the focus point; off: use 'Focus Disparity'"))
    return params


def pages(params: Optional[list[OfxParam]] = None) -> list[str]:
    """Page names in first-use order."""
    seen: list[str] = []
    for p in params or describe_params():
        if p.page not in seen:
            seen.append(p.page)
    return seen


def by_name() -> dict[str, OfxParam]:
    return {p.name: p for p in describe_params()}


def _num(v: Optional[float]) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and not math.isfinite(v):
        raise ValueError(f"non-finite bound {v}")
    return repr(v) if isinstance(v, float) else str(int(v))


def _clean(text: str) -> str:
    return " ".join(str(text).replace("\t", " ").split())


def to_tsv(params: Optional[list[OfxParam]] = None) -> str:
    """The bundle resource the C plugin reads at Describe time.

    One parameter per line, 11 tab-separated fields (empty = not set):
    kind, name, label, page, hint, default, min, max, display_min, display_max, choices ("|"-joined).
    A boolean default is 0/1, a choice default its index, a double2d default "x,y" (normalised).
    """
    params = params or describe_params()
    lines = ["# genrefocus OFX parameters v1 (generated from genrefocus_video.params; do not edit)"]
    for p in params:
        if p.kind == "choice":
            default = str(p.choices.index(p.default))
        elif p.kind == "boolean":
            default = "1" if p.default else "0"
        elif p.kind == "double2d":
            default = f"{float(p.default[0])!r},{float(p.default[1])!r}"
        elif p.kind == "string":
            default = _clean(p.default)
        else:
            default = _num(p.default)
        if any("|" in c for c in p.choices):
            raise ValueError(f"choice of {p.name} contains '|'")
        fields = [p.kind, p.name, _clean(p.label), _clean(p.page), _clean(p.hint), default,
                  _num(p.min), _num(p.max), _num(p.display_min), _num(p.display_max), "|".join(p.choices)]
        lines.append("\t".join(fields))
    return "\n".join(lines) + "\n"


def warmup_thresholds(max_strength: float = 1.0) -> list[float]:
    """thr[W-1] = the smallest strength whose smoothing warm-up (depth.temporal.warmup_frames) is
    >= W, for W = 1 .. warmup_frames(max_strength): found by bisection on doubles over the
    Python function itself, so the plugin's W (the count of thresholds <= s) equals it for every s
    and the formula lives in one place."""
    from ..depth.temporal import warmup_frames

    top = warmup_frames(max_strength)
    out = []
    for w in range(1, top + 1):
        lo, hi = 0.0, max_strength  # warmup_frames(lo) < w <= warmup_frames(hi)
        while True:
            mid = (lo + hi) / 2
            if mid <= lo or mid >= hi:
                break
            if warmup_frames(mid) >= w:
                hi = mid
            else:
                lo = mid
        out.append(hi)
    return out


def to_warmup_tsv() -> str:
    """The bundle resource warmup.tsv: one line per W, 'W<TAB>smallest strength' (exact doubles)."""
    return "# W\tsmallest depth_smoothing with that warm-up (depth.temporal.warmup_frames)\n" + \
        "".join(f"{w}\t{thr!r}\n" for w, thr in enumerate(warmup_thresholds(), start=1))


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description="Write the OFX parameter description generated from the schema.")
    ap.add_argument("--tsv", help="write the bundle resource (params.tsv) here")
    ap.add_argument("--json", help="write the description as JSON here ('-' = stdout)")
    ap.add_argument("--warmup-tsv", help="write the smoothing warm-up table (warmup.tsv) here")
    ap.add_argument("--sources-tsv", help="write the frames each depth source reads (sources.tsv) here")
    args = ap.parse_args(argv)
    params = describe_params()
    if args.tsv:
        tmp = args.tsv + ".tmp"
        with open(tmp, "w") as fh:
            fh.write(to_tsv(params))
        os.replace(tmp, args.tsv)
    if args.warmup_tsv:
        tmp = args.warmup_tsv + ".tmp"
        with open(tmp, "w") as fh:
            fh.write(to_warmup_tsv())
        os.replace(tmp, args.warmup_tsv)
    if args.sources_tsv:
        from .estimate import to_sources_tsv

        tmp = args.sources_tsv + ".tmp"
        with open(tmp, "w") as fh:
            fh.write(to_sources_tsv())
        os.replace(tmp, args.sources_tsv)
    if args.json:
        text = json.dumps([p.to_json() for p in params], indent=1)
        if args.json == "-":
            sys.stdout.write(text + "\n")
        else:
            with open(args.json, "w") as fh:
                fh.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
