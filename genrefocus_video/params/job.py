"""The refocus job: the single source of truth composed of every section.

Faces never re-declare parameters: the CLI, YAML configs, the OFX descriptor and Ray job specs
all read this tree through :mod:`genrefocus_video.params.schema`.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Optional

import yaml

from ..errors import ConfigError, InputError
from .backends import BackendParams
from .depth import DepthParams
from .executor import ExecutorParams
from .focus import FocusParams
from .io import InputParams, OutputParams
from .optics import ApertureParams, BlurParams, HighlightParams, RenderParams
from .schema import AUTO, build, to_dict, validate_tree, with_overrides

log = logging.getLogger(__name__)


@dataclass
class JobParams:
    """One refocus job for one shot."""

    input: InputParams = field(default_factory=InputParams)
    output: OutputParams = field(default_factory=OutputParams)
    depth: DepthParams = field(default_factory=DepthParams)
    focus: FocusParams = field(default_factory=FocusParams)
    blur: BlurParams = field(default_factory=BlurParams)
    aperture: ApertureParams = field(default_factory=ApertureParams)
    highlights: HighlightParams = field(default_factory=HighlightParams)
    render: RenderParams = field(default_factory=RenderParams)
    backends: BackendParams = field(default_factory=BackendParams)
    executor: ExecutorParams = field(default_factory=ExecutorParams)

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


def resolve_auto(job: JobParams, say: bool = True) -> JobParams:
    """The job with its "auto" settings decided, once per job before anything is planned, so that
    every stage, chunk warm-up, resume fingerprint, Ray worker, farm task and the report see one
    number: ``depth.smoothing`` auto -> DepthParams.smoothing_strength (logged when `say`)."""
    if job.depth.smoothing != AUTO:
        return job
    strength = job.depth.smoothing_strength
    if say:
        why = "a depth file is trusted" if job.depth.source == "file" else f"depth estimated by {job.depth.source}"
        log.info("depth smoothing auto: strength %g (%s)", strength, why)
    return replace(job, depth=replace(job.depth, smoothing=strength))


class _UniqueKeyLoader(yaml.SafeLoader):
    """safe_load that refuses a key given twice in one mapping: YAML forbids it, and PyYAML would
    keep the second silently (a second `focus:` section would drop the first without a word)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *defaults`: explicit keys override it
                continue
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            try:
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"key '{key}' given twice (first on line {seen[key] + 1})", key_node.start_mark)
                seen[key] = key_node.start_mark.line
            except TypeError:  # an unhashable key: the base class raises its own error
                break
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping, with one-line errors naming the file."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: config file not found")
    try:
        data = yaml.load(p.read_text(), Loader=_UniqueKeyLoader) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{p}:{where} is not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: expected a mapping of sections at the top level, got {type(data).__name__}")
    return data


def load_job(config: Optional[str | Path] = None, overrides: Optional[dict[str, Any]] = None,
             base: Optional[dict[str, Any]] = None) -> JobParams:
    """Build a validated job: defaults < `base` mapping < config file < dotted-path overrides (CLI)."""
    job = build(JobParams, base or {}, "job")
    if config is not None:
        job = with_overrides(job, _flatten(read_yaml(config), str(config)), str(config))
    if overrides:
        job = with_overrides(job, overrides, "command line")
    validate_tree(job)
    return job


def _flatten(data: dict[str, Any], source: str) -> dict[str, Any]:
    """Nested mapping -> dotted paths, after checking keys and values against the schema."""
    build(JobParams, data, source)  # raises a ConfigError naming the file and the key
    return _flatten_plain(data, "")


def _flatten_plain(data: dict[str, Any], prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(_flatten_plain(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out
