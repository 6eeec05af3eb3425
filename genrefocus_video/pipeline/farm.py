"""Farm job files: many shots in one YAML, each shot a full job validated against the one schema.

::

    defaults:            # any JobParams keys, applied to every shot
      blur: {k: 12}
      executor: {executor: ray, chunks: 8}
    shots:
      sh010:             # shot name -> JobParams keys (override the defaults)
        input: {path: plates/sh010.mov}
        output: {path: renders/sh010.mov}
        depth: {path: plates/sh010_depth.mkv}
        focus: {disparity: 0.35}

Relative paths are relative to the job file's folder. Every error names the file, the shot and
the key (``job.yaml: shot 'sh010': unknown key 'blur.kk' (did you mean 'blur.k'?)``).
"""
from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from typing import Any, Optional, Sequence

from ..errors import ConfigError, GenRefocusError, InputError
from ..params import JobParams, read_yaml
from ..params.schema import build, suggest, validate_tree, with_overrides

TOP_KEYS = ("defaults", "shots")
#: Dotted keys holding paths that are resolved relative to the job file.
PATH_KEYS = ("input.path", "output.path", "depth.path", "aperture.image", "output.before_after", "output.contact_sheet",
             "focus.export", "focus.plot", "depth.preview", "render.explain", "executor.work_dir",
             "focus.keyframes", "backends.flux_path", "backends.lora_dir", "depth.marigold_path",
             "depth.model", "depth.out")


@dataclass
class Shot:
    name: str
    job: JobParams


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _resolve_paths(data: dict[str, Any], root: str) -> None:
    for key in PATH_KEYS:
        section, _, leaf = key.partition(".")
        node = data.get(section)
        if isinstance(node, dict) and isinstance(node.get(leaf), str) and node[leaf]:
            value = node[leaf]
            if key == "focus.keyframes" and not os.path.splitext(value)[1].lower() in (".json", ".csv"):
                continue  # inline keyframes, not a file
            if not os.path.isabs(value):
                node[leaf] = os.path.normpath(os.path.join(root, value))


def load_farm(path: str, overrides: Optional[dict[str, Any]] = None,
              only: Optional[Sequence[str]] = None, check_inputs: bool = True) -> list[Shot]:
    """Parse and validate a farm job file into one validated JobParams per shot (in file order)."""
    data = read_yaml(path)
    root = os.path.dirname(os.path.abspath(path))
    for key in data:
        if key not in TOP_KEYS:
            raise ConfigError(f"{path}: unknown top-level key '{key}'{suggest(str(key), list(TOP_KEYS))}; "
                              f"expected 'defaults' and 'shots'")
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise ConfigError(f"{path}: 'defaults' must be a mapping of job settings, got {type(defaults).__name__}")
    build(JobParams, defaults, f"{path}: defaults")  # names a bad key in the defaults themselves
    shots = data.get("shots")
    if not shots:
        raise ConfigError(f"{path}: no shots; add a 'shots' mapping of shot name -> job settings")
    if isinstance(shots, list):  # also accept a list of {name: ..., ...}
        as_map: dict[str, Any] = {}
        for i, item in enumerate(shots):
            if not isinstance(item, dict) or "name" not in item:
                raise ConfigError(f"{path}: shot #{i + 1}: expected a mapping with a 'name' key")
            item = dict(item)
            as_map[str(item.pop("name"))] = item
        shots = as_map
    if not isinstance(shots, dict):
        raise ConfigError(f"{path}: 'shots' must be a mapping of shot name -> job settings")
    if only:
        missing = [s for s in only if s not in shots]
        if missing:
            raise ConfigError(f"{path}: no shot '{missing[0]}'{suggest(missing[0], [str(s) for s in shots])} "
                              f"(shots: {', '.join(map(str, shots))})")
    out: list[Shot] = []
    outputs: dict[str, str] = {}
    problems: list[GenRefocusError] = []
    for name, body in shots.items():
        name = str(name)
        if only and name not in only:
            continue
        try:  # every shot is checked, so one run of the command names every problem of the file
            job = _shot_job(path, name, body, defaults, root, overrides, check_inputs)
            if job.output.path in outputs:
                raise ConfigError(f"{path}: shot '{name}': 'output.path' {job.output.path} is also the output of "
                                  f"shot '{outputs[job.output.path]}'")
        except GenRefocusError as exc:
            problems.append(exc)
            continue
        outputs[job.output.path] = name
        out.append(Shot(name, job))
    if len(problems) == 1:
        raise problems[0]
    if problems:  # one line (farm log parsers), the first problem's kind and exit code
        first = problems[0]
        detail = "; ".join(str(p).replace(f"{path}: ", "", 1) for p in problems)
        raise type(first)(f"{path}: {len(problems)} shots cannot run: {detail}")
    return out


def _shot_job(path: str, name: str, body: Any, defaults: dict[str, Any], root: str,
              overrides: Optional[dict[str, Any]], check_inputs: bool) -> JobParams:
    """One shot's validated job: defaults merged with its settings, paths resolved, inputs found."""
    where = f"{path}: shot '{name}'"
    if body is None or not isinstance(body, dict):
        raise ConfigError(f"{where}: expected a mapping of job settings, got {type(body).__name__}")
    merged = _deep_merge(defaults, body)
    _resolve_paths(merged, root)
    job = build(JobParams, merged, where)
    if overrides:
        job = with_overrides(job, overrides, f"{where} (command line)")
    try:
        validate_tree(job)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    for key in ("input.path", "output.path"):
        section, leaf = key.split(".")
        if not getattr(getattr(job, section), leaf):
            raise ConfigError(f"{where}: missing key '{key}'")
    if check_inputs and not _input_exists(job.input.path):
        raise InputError(f"{where}: 'input.path' {job.input.path} not found")
    if check_inputs and job.depth.source == "file" and job.depth.path and not _input_exists(job.depth.path):
        raise InputError(f"{where}: 'depth.path' {job.depth.path} not found")
    return job


def _input_exists(path: str) -> bool:
    """A file, or an image-sequence pattern (%04d, ####) or glob with at least one frame: the
    reader's own listing (a private regex here had missed `####` sequences, which render reads)."""
    from ..io.paths import is_pattern
    from ..io.sequence import sequence_files

    return os.path.exists(path) or (is_pattern(path) and bool(sequence_files(path)))


def chunk_tasks(prefix: str, chunks: Sequence[Any], command: list[str], output: str,
                cwd: Optional[str] = None) -> list[dict[str, Any]]:
    """Farm tasks of one job: `command` + ``--chunk i`` per chunk, then `command` + ``--join``,
    which waits for them (``after``). The format of ``submit --tasks`` and ``render --print-tasks``."""
    names = [f"{prefix}.chunk{c.index:03d}" for c in chunks]
    extra = {"cwd": cwd} if cwd else {}
    tasks = [{"name": name, "chunk": c.index, "frames": [c.start, c.end],
              "command": command + ["--chunk", str(c.index)], "after": [], **extra}
             for c, name in zip(chunks, names)]
    tasks.append({"name": f"{prefix}.join", "output": output, "command": command + ["--join"], "after": names, **extra})
    return tasks
