"""Kept for existing imports: the in-process executor lives in :mod:`.executors.local`."""
from .executors.local import LocalExecutor, StageCache, run_stages

__all__ = ["LocalExecutor", "StageCache", "run_stages"]
