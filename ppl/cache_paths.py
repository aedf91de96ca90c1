"""Where ppl keeps what it computes once and reads back later (compiled programs, the parser's
tables). JAX-free, so that the parser can use it without starting JAX."""

from __future__ import annotations

import os
from pathlib import Path


def cache_folder() -> Path | None:
    """Where ppl keeps compiled programs: ``PPL_CACHE_DIR``, by default ``~/.cache/ppl/jax``;
    None when ``PPL_CACHE_DIR`` is set to an empty value (no cache)."""
    folder = os.environ.get("PPL_CACHE_DIR")
    if folder is None:
        return Path.home() / ".cache" / "ppl" / "jax"
    return Path(folder).expanduser() if folder else None


# The compiled programs ppl keeps in the same folder (ppl/codegen/stored.py), one file each.
PROGRAM_SUFFIX = ".ppl-compiled"
