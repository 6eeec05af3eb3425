"""Shared test fixtures: environment for Ray, and access to ../shared/lfbench ground truth."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("GENREFOCUS_SHARED", REPO.parent / "shared"))
LFBENCH = SHARED / "lfbench"
DATA = SHARED / "data"

os.environ.setdefault("RAY_AUTH_MODE", "disabled")


def _require(path: Path, what: str) -> Path:
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{what} missing at {path}: CI must have ../shared beside the clone")
        pytest.skip(f"{what} not found at {path} (a user's clone without ../shared)")
    return path


@pytest.fixture(scope="session")
def lfbench():
    """The lfbench package from ../shared (read-only; outputs go to temp dirs)."""
    _require(LFBENCH / "lfbench", "../shared/lfbench")
    if str(LFBENCH) not in sys.path:
        sys.path.insert(0, str(LFBENCH))
    import lfbench  # noqa: F401

    return lfbench


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data: small real clips and RGB-D frames."""
    return _require(DATA, "../shared/data")
