"""Compiled programs shared by every binding of one model to data of the same shapes.

Data are arguments of the compiled programs, not constants baked into them: a program traced
with one data set is run unchanged on another of the same shapes (a second fit, a simulation
study, new covariates). What stays static, because shapes and loops depend on it, is the
integer scalar data (sizes such as ``N``, whose values are part of the program's key); every
other data value, transformed data included, is passed in when the program runs.

A :class:`ProgramCache` belongs to one :class:`~ppl.Model`; its programs are keyed by the
binding's :func:`data_signature` and by what the program computes, and built once.
:func:`release_programs_when_crowded` empties JAX's own caches before a process runs out of
memory maps.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


def is_traced(value: Any) -> bool:
    """Whether a data value is passed to programs as an argument: every array except integer
    scalars (sizes), which stay static."""
    if not isinstance(value, (jax.Array, np.ndarray)):
        return False  # user-defined functions live in the same mapping
    return not (jnp.issubdtype(value.dtype, jnp.integer) and jnp.ndim(value) == 0)


def traced_part(data: Mapping[str, Any]) -> dict[str, Any]:
    """The data values that programs take as arguments."""
    return {name: value for name, value in data.items() if is_traced(value)}


def data_signature(data: Mapping[str, Any]) -> tuple:
    """What a program depends on besides the model: the static values (integer scalars) and
    the shape and type of every traced value."""
    static = tuple(sorted((name, int(value)) for name, value in data.items()
                          if isinstance(value, (jax.Array, np.ndarray)) and not is_traced(value)))
    traced = tuple(sorted((name, tuple(value.shape), str(value.dtype))
                          for name, value in traced_part(data).items()))
    return static, traced


class ProgramCache:
    """One model's compiled programs, each built on first use (a Python dict of jitted
    functions: JAX keeps the compiled executables inside them)."""

    def __init__(self) -> None:
        self._programs: dict[Hashable, Callable] = {}

    def get(self, key: Hashable, build: Callable[[], Callable]) -> Callable:
        """The program stored under ``key``, built by ``build()`` the first time."""
        if key not in self._programs:
            self._programs[key] = build()
        return self._programs[key]

    def __len__(self) -> int:
        return len(self._programs)


# Linux's default vm.max_map_count; /proc/sys/vm/max_map_count gives the real one.
DEFAULT_MAX_MAP_COUNT = 65530
MAPS_FILE = "/proc/self/maps"
MAX_MAP_COUNT_FILE = "/proc/sys/vm/max_map_count"


def release_programs_when_crowded(fraction: float = 0.5, maps_file: str = MAPS_FILE,
                                  limit_file: str = MAX_MAP_COUNT_FILE) -> bool:
    """Empty JAX's caches of compiled programs when this process holds more than ``fraction``
    of the memory maps the kernel allows it; True when it did.

    JAX's caches keep every compiled program, and through its closures the model it came
    from, for the life of the process: about 450 memory maps per model fitted with NUTS
    (measured). At that rate the kernel's default limit (65,530) is reached after about 140
    fits; then LLVM cannot map the next program and aborts the process ("LLVM ERROR: Unable to
    allocate section memory", as a benchmark process fitting many models did). Emptying the
    caches (``jax.clear_caches``) only costs recompiling what is used again (from the
    persistent compilation cache where it has the program).

    Why the maps are counted here: the limit is Linux's per-process ``vm.max_map_count``, and
    neither JAX (``jax.live_arrays`` counts arrays, not executables; there is no public count
    of compiled executables or of the memory they map) nor psutil (whose ``memory_maps`` reads
    the same file on Linux, and is not available on macOS) says how close a process is to it,
    so ``/proc/self/maps`` (``maps_file``) is read. Where it does not exist (macOS,
    Windows: no such limit) nothing is done and False is returned; an unreadable
    ``limit_file`` means Linux's default limit."""
    try:
        with open(maps_file, "rb") as maps:
            used = sum(1 for _ in maps)
    except OSError:
        return False
    try:
        with open(limit_file) as limit:
            allowed = int(limit.read())
    except (OSError, ValueError):
        allowed = DEFAULT_MAX_MAP_COUNT
    if used <= fraction * allowed:
        return False
    jax.clear_caches()
    return True
