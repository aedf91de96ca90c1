"""The backend registry: which inference backends exist, by name.

The built-in backends (one module each in ``ppl/backends/``) and those that third-party packages
register under the entry-point group ``ppl.backends`` (each entry point loads a class whose
instances are backends, see :class:`ppl.backends.base.Backend`). ``ppl.available_backends()``
and the CLI's ``ppl backends`` list them; ``Model.sample(backend=...)`` finds one with
:func:`get_backend`.
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import entry_points

from ppl.backends.base import Backend
from ppl.errors import SamplingError, error

ENTRY_POINT_GROUP = "ppl.backends"


# The built-in backends: name -> (module, class). Each module is imported only when its
# backend is asked for, so that ``import ppl`` and a NUTS fit do not load BlackJAX, optax or
# Dask for the backends they do not use.
BUILTIN: dict[str, tuple[str, str]] = {
    "nuts": ("ppl.backends.nuts", "NUTS"),
    "hmc": ("ppl.backends.nuts", "HMC"),
    "advi": ("ppl.backends.advi", "ADVI"),
    "map": ("ppl.backends.map", "MAP"),
    "smc": ("ppl.backends.smc", "SMC"),
    "pathfinder": ("ppl.backends.pathfinder", "Pathfinder"),
    "gpss": ("ppl.backends.gpss", "GPSS"),
    "vi": ("ppl.backends.vi", "VI"),
    "consensus": ("ppl.backends.consensus", "Consensus"),
    "split_gibbs": ("ppl.backends.split_gibbs", "SplitGibbs"),
}


def builtin_backend(name: str) -> Backend:
    """The built-in backend called ``name`` (a key of :data:`BUILTIN`), its module imported
    now."""
    module, attribute = BUILTIN[name]
    return getattr(import_module(module), attribute)()


def builtin_backends() -> dict[str, Backend]:
    """The backends that come with ppl, by name (every backend module imported)."""
    return {name: builtin_backend(name) for name in BUILTIN}


def available_backends() -> dict[str, Backend]:
    """Built-in backends plus those registered through the ``ppl.backends`` entry points (a
    built-in name is never replaced)."""
    backends = builtin_backends()
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name not in backends:
            backends[ep.name] = ep.load()()
    return backends


def get_backend(name: str) -> Backend:
    """The backend called ``name``; a :class:`SamplingError` listing the available ones when
    there is none. A built-in one imports its own module only."""
    if name in BUILTIN:
        return builtin_backend(name)
    backends = available_backends()
    if name not in backends:
        raise SamplingError([error(f"unknown backend '{name}'",
                                   hint=f"available backends: {', '.join(sorted(backends))}")])
    return backends[name]
