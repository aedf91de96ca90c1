"""The backend registry: which inference backends exist, by name.

The built-in backends (one module each in ``ppl/backends/``) and those that third-party packages
register under the entry-point group ``ppl.backends`` (each entry point loads a class whose
instances are backends, see :class:`ppl.backends.base.Backend`). ``ppl.available_backends()``
and the CLI's ``ppl backends`` list them; ``Model.sample(backend=...)`` finds one with
:func:`get_backend`.
"""

from __future__ import annotations

from importlib.metadata import entry_points

from ppl.backends.base import Backend
from ppl.errors import SamplingError, error

ENTRY_POINT_GROUP = "ppl.backends"


def builtin_backends() -> dict[str, Backend]:
    """The backends that come with ppl, by name."""
    # Imported when first asked for, so that ``import ppl`` does not load BlackJAX and the
    # backends' other libraries.
    from ppl.backends.advi import ADVI
    from ppl.backends.consensus import Consensus
    from ppl.backends.map import MAP
    from ppl.backends.nuts import HMC, NUTS
    from ppl.backends.pathfinder import Pathfinder
    from ppl.backends.smc import SMC
    from ppl.backends.split_gibbs import SplitGibbs

    return {b.name: b for b in (NUTS(), HMC(), ADVI(), MAP(), SMC(), Pathfinder(),
                                     Consensus(), SplitGibbs())}


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
    there is none."""
    backends = available_backends()
    if name not in backends:
        raise SamplingError([error(f"unknown backend '{name}'",
                                   hint=f"available backends: {', '.join(sorted(backends))}")])
    return backends[name]
