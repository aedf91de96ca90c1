"""Which quantities a fit records: the recording rule.

A fit's ``posterior`` group holds

- every **parameter** (a ``~`` statement on a quantity the data does not give), always;
- every other named quantity that is computed or drawn per draw (a deterministic ``NAME =
  expr`` that depends on parameters, a discrete latent drawn after sampling, a ``generated``
  quantity) when it has at most :data:`SMALL` elements: scalars, short vectors, small
  matrices;
- the larger ones only when named in ``var_names`` (``--var-names`` on the command line).

``var_names`` adjusts that default: a name adds the quantity, ``"~name"`` leaves it out (not
a parameter). Per-observation intermediates (``mu = a + b * x`` with one entry per data row)
are what the rule leaves out: stored at chains x draws x N they make ArviZ's plots refuse
the fit and the summary print N rows, and they can be recomputed from the parameters.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ppl.errors import SamplingError, error

# Elements of the largest quantity recorded without being asked for: eight schools' theta
# (8) and a 3 x 3 matrix are kept, a length-N mean of a regression is not.
SMALL = 10

# Kinds of graph nodes whose draws the rule decides about (parameters are always recorded).
DERIVED_KINDS = ("deterministic", "discrete", "generated")


@dataclass(frozen=True)
class Recording:
    """The outcome of the rule for one model and data: the derived quantities not recorded."""

    left_out: tuple[str, ...] = ()


def parse_var_names(text: str | None) -> tuple[str, ...] | None:
    """``--var-names a,b,~c`` as a tuple of names (None when not given)."""
    if text is None:
        return None
    return tuple(part.strip() for part in text.split(",") if part.strip())


def decide(graph, var_names: Iterable[str] | None = None) -> Recording:
    """The derived quantities of ``graph`` (sizes concrete) left out of the draws by default
    and after ``var_names``; a :class:`SamplingError` for a name that is not a recordable
    quantity of the model."""
    derived = {n.name: n for n in graph.of_kind(*DERIVED_KINDS)}
    params = {n.name for n in graph.of_kind("latent")}
    left_out = {name for name, node in derived.items() if _size(node) > SMALL}
    for entry in _validated(var_names, derived, params, graph):
        if entry.startswith("~"):
            left_out.add(entry[1:])
        else:
            left_out.discard(entry)
    return Recording(tuple(name for name in derived if name in left_out))


def _size(node) -> int:
    return math.prod(int(d) for d in node.type.shape) if node.type.shape else 1


def _validated(var_names, derived, params, graph) -> Sequence[str]:
    if var_names is None:
        return ()
    if isinstance(var_names, str):
        var_names = [var_names]
    entries = list(var_names)
    problems = []
    for entry in entries:
        if not isinstance(entry, str):
            problems.append(error(f"var_names holds {entry!r}, not a name",
                                  hint="give quantities' names, e.g. var_names=['mu']"))
            continue
        name = entry[1:] if entry.startswith("~") else entry
        if name in derived:
            continue
        if name in params:
            if entry.startswith("~"):
                problems.append(error(
                    f"var_names leaves out '{name}', a parameter: parameters are always "
                    "recorded", hint=f"remove '{entry}' from var_names; select it away when "
                    "plotting or summarising instead (var_names=['~" + name + "'] in ArviZ)"))
            continue  # naming a parameter is harmless: it is recorded anyway
        problems.append(_unknown(entry, name, derived, params, graph))
    if problems:
        raise SamplingError(problems, graph.source)
    return entries


def _unknown(entry, name, derived, params, graph):
    from ppl.data import closest_name

    node = next((n for n in graph.nodes if n.name == name), None)
    if node is not None:
        what = "data" if node.kind in ("data", "observed") else f"a {node.kind} quantity"
        return error(f"var_names names '{name}', which is {what}: it has no draws to record",
                     hint="name parameters, deterministics or generated quantities; data is "
                          "in the fit's observed_data and constant_data groups")
    candidates = sorted(derived) + sorted(params)
    near = closest_name(name, candidates)
    hint = (f"did you mean '{near}'?" if near
            else f"the recordable quantities are {', '.join(candidates) or 'none'}")
    return error(f"var_names names '{entry}', which is not a quantity of the model", hint=hint)
