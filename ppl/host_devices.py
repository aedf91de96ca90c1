"""Chains on every core: how many CPU devices ppl asks JAX for, before JAX starts.

JAX gives the CPU a single device unless ``XLA_FLAGS`` holds
``--xla_force_host_platform_device_count=N`` when its CPU backend starts (at the first array
or compilation, not at ``import jax``). With one device, NUTS chains can only run vectorised
(all chains in lockstep, each waiting for the longest trajectory) or one after another;
with a device per chain they run side by side (benchmarks/chains.py: 4 chains of eight schools
on a 2-core machine took 0.33x the vectorised time). So ``import ppl`` (and the command line)
asks for ``max(cores, 4)`` host devices when it is early enough and the user has not chosen:

- ``XLA_FLAGS`` already names a host device count: the user's choice, kept;
- ``PPL_HOST_DEVICES=N`` asks for N (``1`` keeps JAX's single device);
- JAX's backends already started: too late; ppl's samplers then fall back to vectorised
  chains and say so once (:func:`too_late_note`).

This module must not import JAX: it runs before JAX starts.
"""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping

DEVICE_COUNT_FLAG = "--xla_force_host_platform_device_count"
# The default number of chains: with fewer cores than chains, a device per chain still beats
# vectorised chains (the devices share the cores; see the module docstring).
DEFAULT_CHAINS = 4


def cores() -> int:
    """The CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def wanted_host_devices(environ: MutableMapping[str, str] = os.environ) -> int:
    """How many host devices ppl asks for: ``PPL_HOST_DEVICES`` or ``max(cores, 4)``."""
    chosen = environ.get("PPL_HOST_DEVICES", "").strip()
    if chosen:
        try:
            return max(1, int(chosen))
        except ValueError:
            return 1  # not a number: keep JAX's default rather than fail at import
    return max(cores(), DEFAULT_CHAINS)


def jax_started() -> bool:
    """Whether JAX's backends have started (after which the device count is fixed)."""
    if "jax" not in sys.modules:
        return False
    try:
        from jax._src import xla_bridge  # JAX has no public way to ask this
    except ImportError:
        return True
    started = getattr(xla_bridge, "backends_are_initialized", None)
    return True if started is None else bool(started())


def request_host_devices(environ: MutableMapping[str, str] = os.environ) -> bool:
    """Ask for :func:`wanted_host_devices` CPU devices by adding the flag to ``XLA_FLAGS``, if
    the user has not chosen a count and JAX has not started; returns whether it asked."""
    if DEVICE_COUNT_FLAG in environ.get("XLA_FLAGS", "") or jax_started():
        return False
    count = wanted_host_devices(environ)
    if count <= 1:
        return False
    environ["XLA_FLAGS"] = f"{environ.get('XLA_FLAGS', '')} {DEVICE_COUNT_FLAG}={count}".strip()
    return True


def too_late_note(chains: int) -> str:
    """What the user hears when chains cannot run in parallel because JAX started with one
    CPU device before ppl could ask for more."""
    return (f"chains run vectorised on one CPU device, because JAX started before "
            "ppl could ask for a device per chain; import ppl before using JAX, or set "
            f"XLA_FLAGS={DEVICE_COUNT_FLAG}={max(chains, cores())} before starting Python, "
            "to run them in parallel")
