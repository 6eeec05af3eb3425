"""The one parameter schema for a refocus job (see :mod:`.schema` for the machinery)."""
from .job import JobParams, load_job, read_yaml, resolve_auto
from .schema import Leaf, ParamSpec, iter_leaves, param, to_dict

__all__ = ["JobParams", "load_job", "read_yaml", "resolve_auto", "Leaf", "ParamSpec", "iter_leaves", "param", "to_dict"]
