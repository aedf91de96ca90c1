"""The ``kit`` fixture: the conformance kit's folder, or a skip when it is absent."""

from __future__ import annotations

from pathlib import Path

import pytest
from conformance_kit import KIT


@pytest.fixture(scope="module")
def kit() -> Path:
    if not (KIT / "check.py").is_file():
        pytest.skip(f"conformance kit not found at {KIT} (set PPL_CONFORMANCE_DIR to its folder)")
    return KIT
