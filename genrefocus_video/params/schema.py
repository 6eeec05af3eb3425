"""The machinery behind the one parameter schema.

A job is a tree of dataclasses (sections) whose leaf fields carry metadata made by :func:`param`:
help text, CLI flag, choices, range, and whether the OFX plugin exposes it. Every face reads
this metadata — the CLI builds its flags from it, YAML configs and Ray job specs are validated
against it, the OFX descriptor is generated from it — so a parameter is declared exactly once.
"""
from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from typing import Any, Callable, Iterator, Optional, Union

from ..errors import ConfigError

_META_KEY = "genrefocus"


@dataclass(frozen=True)
class ParamSpec:
    """What every face needs to know about one leaf parameter."""

    help: str
    flag: Optional[str] = None  # CLI flag without dashes; default: the field name with dashes
    choices: Optional[tuple[str, ...]] = None
    min: Optional[float] = None
    max: Optional[float] = None
    ofx: bool = False  # exposed as an OFX plugin parameter
    label: Optional[str] = None  # human label (OFX, reports); default: from the name
    page: Optional[str] = None  # OFX page / group
    parse: Optional[Callable[[str], Any]] = None  # parser for CLI strings (e.g. "X,Y@F")
    soft_max: Optional[float] = None  # UI slider maximum (OFX display range)
    #: the leaf also takes the word "auto" (resolved per job, e.g. DepthParams.smoothing_strength);
    #: this number stands for it where a face holds numbers only (an OFX double slider)
    auto: Optional[float] = None


def param(default: Any = MISSING, help: str = "", *, default_factory: Any = MISSING, **spec: Any) -> Any:
    """Declare a leaf parameter: a dataclass field with a default and a :class:`ParamSpec`."""
    meta = {_META_KEY: ParamSpec(help=help, **spec)}
    if default_factory is not MISSING:
        return field(default_factory=default_factory, metadata=meta)
    return field(default=default, metadata=meta)


def spec_of(f: dataclasses.Field) -> Optional[ParamSpec]:
    """The :class:`ParamSpec` of a leaf field, or None for a nested section."""
    return f.metadata.get(_META_KEY)


@dataclass(frozen=True)
class Leaf:
    """A leaf parameter located in the tree: dotted path, field, resolved type and spec."""

    path: str
    field: dataclasses.Field
    type: Any
    spec: ParamSpec

    @property
    def default(self) -> Any:
        if self.field.default is not MISSING:
            return self.field.default
        if self.field.default_factory is not MISSING:  # type: ignore[misc]
            return self.field.default_factory()  # type: ignore[misc]
        return None

    @property
    def flag(self) -> str:
        return self.spec.flag or self.path.split(".")[-1].replace("_", "-")

    @property
    def base_type(self) -> Any:
        """The type without Optional[...] (and without the ``str`` of "auto" for an auto leaf)."""
        tp = _strip_optional(self.type)
        if self.spec.auto is not None and typing.get_origin(tp) in (Union, types.UnionType):
            tp = next(a for a in typing.get_args(tp) if a is not str)
        return tp

    @property
    def optional(self) -> bool:
        return _strip_optional(self.type) is not self.type


def _strip_optional(tp: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def iter_leaves(cls: type, prefix: str = "") -> Iterator[Leaf]:
    """Every leaf parameter of a section class, depth first, with dotted paths."""
    hints = typing.get_type_hints(cls)
    for f in fields(cls):
        path = f"{prefix}{f.name}"
        tp = hints[f.name]
        if is_dataclass(tp):
            yield from iter_leaves(tp, path + ".")
            continue
        spec = spec_of(f)
        if spec is None:
            raise TypeError(f"schema field {cls.__name__}.{f.name} is neither a section nor a param()")
        yield Leaf(path, f, tp, spec)


def all_keys(cls: type) -> list[str]:
    """All dotted keys, sections included (for suggestions)."""
    keys: list[str] = []
    hints = typing.get_type_hints(cls)
    for f in fields(cls):
        keys.append(f.name)
        if is_dataclass(hints[f.name]):
            keys.extend(f"{f.name}.{k}" for k in all_keys(hints[f.name]))
    return keys


def suggest(key: str, candidates: list[str]) -> str:
    """' (did you mean 'x'?)' for the nearest candidate, or ''."""
    match = difflib.get_close_matches(key, candidates, n=1, cutoff=0.5)
    if not match:
        # Also try the last component alone: 'blur.kk' vs 'k'.
        tails = {c.split(".")[-1]: c for c in candidates}
        m2 = difflib.get_close_matches(key.split(".")[-1], list(tails), n=1, cutoff=0.6)
        match = [tails[m2[0]]] if m2 else []
    return f" (did you mean '{match[0]}'?)" if match else ""


AUTO = "auto"


def is_auto(spec: ParamSpec, value: Any) -> bool:
    """True when `value` asks an auto leaf for its automatic value: the word "auto" (any case) or
    the leaf's number for it (the OFX face's sentinel)."""
    if spec.auto is None:
        return False
    if isinstance(value, str):
        word = value.strip().lower()
        try:
            return word == AUTO or float(word) == spec.auto
        except ValueError:
            return False
    return isinstance(value, (int, float)) and not isinstance(value, bool) and float(value) == spec.auto


def coerce(leaf: Leaf, value: Any, source: str) -> Any:
    """Convert and validate one value for a leaf; raise ConfigError naming the key and source."""
    where = f"{source}: '{leaf.path}'"
    if value is None:
        if leaf.optional:
            return None
        raise ConfigError(f"{where} must not be empty")
    tp = leaf.base_type
    if is_auto(leaf.spec, value):
        return AUTO
    try:
        if isinstance(value, str) and leaf.spec.parse is not None:
            value = leaf.spec.parse(value)
        elif tp is bool:
            if isinstance(value, str):
                low = value.strip().lower()
                if low not in ("true", "false", "yes", "no", "on", "off", "1", "0"):
                    raise ValueError(value)
                value = low in ("true", "yes", "on", "1")
            elif not isinstance(value, bool):
                raise ValueError(value)
        elif tp is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError(value)
            value = int(value)
        elif tp is float:
            if isinstance(value, bool):
                raise ValueError(value)
            value = float(value)
            if value != value or value in (float("inf"), float("-inf")):
                raise ValueError(value)
        elif tp is str:
            if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                raise ValueError(value)
            value = str(value)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        kind = getattr(tp, "__name__", str(tp)) + (f" or '{AUTO}'" if leaf.spec.auto is not None else "")
        detail = f": {exc}" if str(exc) and str(exc) != str(value) else ""
        raise ConfigError(f"{where} expects {kind}, got {value!r}{detail}") from None
    spec = leaf.spec
    if spec.choices is not None and value not in spec.choices:
        raise ConfigError(
            f"{where} must be one of {', '.join(spec.choices)}, got {value!r}"
            + suggest(str(value), list(spec.choices))
        )
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if spec.min is not None and value < spec.min:
            raise ConfigError(f"{where} must be >= {spec.min}, got {value}")
        if spec.max is not None and value > spec.max:
            raise ConfigError(f"{where} must be <= {spec.max}, got {value}")
    return value


def build(cls: type, data: dict[str, Any], source: str, prefix: str = "") -> Any:
    """Instantiate section `cls` from a nested mapping, rejecting unknown keys with a suggestion."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: '{prefix.rstrip('.') or '<root>'}' must be a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name: f for f in fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in names:
            full = f"{prefix}{key}"
            root_keys = [f"{prefix}{k}" for k in all_keys(cls)]
            raise ConfigError(f"{source}: unknown key '{full}'" + suggest(full, root_keys))
        f = names[key]
        tp = hints[key]
        if is_dataclass(tp):
            kwargs[key] = build(tp, value if value is not None else {}, source, f"{prefix}{key}.")
        else:
            leaf = Leaf(f"{prefix}{key}", f, tp, spec_of(f))  # type: ignore[arg-type]
            kwargs[key] = coerce(leaf, value, source)
    try:
        obj = cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"{source}: {prefix.rstrip('.') or 'job'}: {exc}") from None
    return obj


def to_dict(obj: Any) -> dict[str, Any]:
    """Nested plain dict of a section (for printing, YAML, JSON and Ray job specs)."""
    out: dict[str, Any] = {}
    for f in fields(obj):
        value = getattr(obj, f.name)
        out[f.name] = to_dict(value) if is_dataclass(value) else value
    return out


def get_path(obj: Any, path: str) -> Any:
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def with_overrides(obj: Any, overrides: dict[str, Any], source: str) -> Any:
    """A copy of `obj` with dotted-path overrides applied, validated like a config file."""
    nested = to_dict(obj)
    for path, value in overrides.items():
        node = nested
        parts = path.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return build(type(obj), nested, source)


def validate_tree(obj: Any) -> None:
    """Run every section's optional `validate()` (cross-field checks), parents after children."""
    for f in fields(obj):
        value = getattr(obj, f.name)
        if is_dataclass(value):
            validate_tree(value)
    check = getattr(obj, "validate", None)
    if callable(check):
        check()
