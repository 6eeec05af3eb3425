"""The one parameter schema for a refocus job (see :mod:`.schema` for the machinery)."""
from .job import JobParams, load_job, read_yaml
from .schema import Leaf, ParamSpec, iter_leaves, param, to_dict

__all__ = ["JobParams", "load_job", "read_yaml", "Leaf", "ParamSpec", "iter_leaves", "param", "to_dict"]
