"""The memory a run will need, estimated from the declared sizes before anything is compiled.

A size such as ``real[1000000000]`` passes the checker, and without an estimate the run then
exhausts the machine's memory: a ``RESOURCE_EXHAUSTED`` traceback from XLA, or the process is
killed, sometimes only after sampling has finished (a length-N deterministic is stored for
every draw: 16 GB for N = 10^6 and 2 x 1000 draws). The estimate counts

- **evaluating the log density**: every named quantity of the model (data, parameters,
  definitions, likelihood terms) held at once, ``EVALUATION_COPIES`` times (the value, its
  gradient and what reverse mode keeps for it), for every evaluation run side by side (the
  chains, or SMC's particles);
- **the stored draws**: chains x draws x the size of every recorded quantity (a parameter
  twice: its value and the sampler's unconstrained position; deterministics, discrete
  parameters and generated quantities once; the observed variables once more for each of
  posterior-predictive draws and pointwise log-likelihoods).

It is a lower bound (unnamed intermediate arrays are not counted). When it exceeds the memory
limit, deterministics are left out of the stored draws, largest first, until the run fits (with
a note saying so); if it still does not fit, the run is refused with a :class:`ModelError` at
the statement that takes the most. The limit is ``memory_limit`` (an argument of
:meth:`ppl.Model.sample` and :meth:`ppl.Model.compile`), else the environment variable
``PPL_MEMORY_LIMIT``, else ``DEFAULT_FRACTION`` of the machine's memory (its physical memory, or
the control group's limit when lower).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ppl.errors import ModelError, SamplingError, error
from ppl.source import NO_SPAN, Source, Span

ENVIRONMENT = "PPL_MEMORY_LIMIT"
DEFAULT_FRACTION = 0.5
# The value, the gradient and the residuals reverse-mode differentiation keeps.
EVALUATION_COPIES = 3

_UNITS = {"": 1, "b": 1, "k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9,
          "t": 1e12, "tb": 1e12, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d*)?(?:e[+-]?\d+)?)\s*([a-z]*)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Quantity:
    """A named quantity of the model: its graph kind (``data``, ``latent``,
    ``deterministic``, ...), its number of elements and the statement that declares it."""

    name: str
    kind: str
    size: int
    span: Span = NO_SPAN


@dataclass(frozen=True)
class RunShape:
    """What a run computes and keeps: ``chains`` x ``draws`` stored draws, ``parallel``
    evaluations side by side (default: one per chain), and whether posterior-predictive
    draws and pointwise log-likelihoods are stored too."""

    chains: int = 1
    draws: int = 0
    parallel: int | None = None
    predictive: bool = False
    log_likelihood: bool = False


@dataclass(frozen=True)
class Estimate:
    """Bytes: ``evaluation`` for evaluating the log density, ``stored`` per quantity for its
    draws."""

    evaluation: int
    stored: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return self.evaluation + sum(self.stored.values())


@dataclass(frozen=True)
class Plan:
    """The outcome of the check: deterministics left out of the stored draws, and the notes
    that say so."""

    left_out: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


_STORED_COPIES = {"latent": 2, "deterministic": 1, "discrete": 1, "generated": 1}


def estimate(quantities: Iterable[Quantity], run: RunShape, itemsize: int) -> Estimate:
    """The bytes a run of ``run``'s shape needs, with numbers of ``itemsize`` bytes."""
    quantities = list(quantities)
    parallel = run.parallel if run.parallel is not None else run.chains
    evaluation = parallel * EVALUATION_COPIES * itemsize * sum(q.size for q in quantities)
    per_draw = run.chains * run.draws * itemsize
    observed_copies = int(run.predictive) + int(run.log_likelihood)
    stored = {}
    for q in quantities:
        copies = _STORED_COPIES.get(q.kind, observed_copies if q.kind == "observed" else 0)
        if copies and per_draw:
            stored[q.name] = copies * per_draw * q.size
    return Estimate(evaluation, stored)


def quantities_of(graph) -> list[Quantity]:
    """The quantities of a graph IR (sizes concrete), each with its declaring statement."""
    out = []
    for node in graph.nodes:
        size = math.prod(int(d) for d in node.type.shape) if node.type.shape else 1
        out.append(Quantity(node.name, node.kind, size, _statement_span(node)))
    return out


def _statement_span(node) -> Span:
    if node.symbol is None:
        return node.factor.span if node.factor is not None else NO_SPAN
    sym = node.symbol
    for holder in (sym.sample, sym.define, sym.param_decl, sym.data_decl):
        if holder is not None:
            return holder.span
    return sym.span


def plan(quantities: Sequence[Quantity], run: RunShape, itemsize: int, limit: float,
         source: Source | None) -> Plan:
    """Check the run against ``limit`` bytes: the deterministics to leave out of the stored
    draws (largest first, until it fits) and the notes saying so; a :class:`ModelError` at
    the statement that takes the most when even without them it does not fit."""
    est = estimate(quantities, run, itemsize)
    if est.total <= limit:
        return Plan()
    total = est.total
    left_out = []
    for q in sorted((q for q in quantities if q.kind == "deterministic" and q.name in est.stored),
                    key=lambda q: -est.stored[q.name]):
        if total <= limit:
            break
        total -= est.stored[q.name]
        left_out.append(q)
    if total > limit:
        kept = [q for q in quantities if q not in left_out]
        raise too_big(kept, estimate(kept, run, itemsize), run, limit, source)
    notes = tuple(_left_out_note(q, est, run, limit) for q in left_out)
    return Plan(tuple(q.name for q in left_out), notes)


def _left_out_note(q: Quantity, est: Estimate, run: RunShape, limit: float) -> str:
    return (f"'{q.name}' was left out of the stored draws: its {q.size:,} values per draw take "
            f"{gigabytes(est.stored[q.name])} for {run.chains} x {run.draws} draws, and with "
            f"it the run would need about {gigabytes(est.total)}, more than the memory limit of "
            f"{gigabytes(limit)}; to keep it, raise the limit ({_raise_limit()}), take fewer "
            "draws, or compute it from the parameters' draws afterwards")


def too_big(quantities: Sequence[Quantity], est: Estimate, run: RunShape, limit: float,
            source: Source | None) -> ModelError:
    """The error for a run that needs more than ``limit`` bytes, at the quantity that takes
    the most."""
    share = {q.name: est.stored.get(q.name, 0) for q in quantities}
    per_element = est.evaluation / max(1, sum(q.size for q in quantities))
    for q in quantities:
        share[q.name] += int(per_element * q.size)
    worst = max(quantities, key=lambda q: share[q.name])
    parts = []
    if est.stored.get(worst.name):
        parts.append(f"{gigabytes(est.stored[worst.name])} for its {run.chains} x {run.draws} "
                     "stored draws")
    evaluation = share[worst.name] - est.stored.get(worst.name, 0)
    if evaluation:
        parts.append(f"{gigabytes(evaluation)} to evaluate the log density")
    return ModelError([error(
        f"this run would need about {gigabytes(est.total)} of memory, more than the memory "
        f"limit of {gigabytes(limit)}: '{worst.name}' has {worst.size:,} values and takes "
        f"{' and '.join(parts)}", worst.span,
        f"make '{worst.name}' smaller, or take fewer chains or draws; if the machine has the "
        f"memory, raise the limit ({_raise_limit()})")], source)


def _raise_limit() -> str:
    return f"memory_limit='64GB' in Python, or the environment variable {ENVIRONMENT}=64GB"


def gigabytes(n: float) -> str:
    """Bytes in words: ``16 GB``, ``1,600 GB``, ``0.25 GB``."""
    value = n / 1e9
    if value >= 100:
        return f"{value:,.0f} GB"
    return f"{value:.2g} GB"


def parse_limit(value: object) -> float:
    """A memory limit in bytes from a number of bytes or a text such as ``16GB``, ``1.5 GiB``,
    ``500MB`` (units are powers of 1000, ``KiB``/``MiB``/``GiB``/``TiB`` of 1024); ``"off"``
    or ``"none"`` is no limit."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value)
    text = str(value).strip().lower()
    if text in ("off", "none"):
        return math.inf
    match = _SIZE.match(text)
    if match and match.group(2) in _UNITS and float(match.group(1)) > 0:
        return float(match.group(1)) * _UNITS[match.group(2)]
    raise SamplingError([error(
        f"the memory limit must be a size such as '16GB', not {value!r}",
        hint=f"pass memory_limit='16GB' or set {ENVIRONMENT}=16GB (or 'off' for no limit)")])


def machine_memory() -> float | None:
    """Bytes of memory this process may use: the physical memory, or the control group's
    limit when lower (a container's); None when neither is known."""
    found = []
    try:
        found.append(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        pass
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(path).read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            found.append(int(text))
    return float(min(found)) if found else None


def memory_limit(given: object = None) -> float:
    """The limit in bytes: ``given``, else ``PPL_MEMORY_LIMIT``, else ``DEFAULT_FRACTION`` of
    :func:`machine_memory` (no limit when that is unknown)."""
    if given is not None:
        return parse_limit(given)
    if os.environ.get(ENVIRONMENT):
        return parse_limit(os.environ[ENVIRONMENT])
    machine = machine_memory()
    return DEFAULT_FRACTION * machine if machine else math.inf
