"""The discrete-latent pass: where a discrete parameter may be used.

A discrete latent ``z`` (``z[n] ~ categorical(w) for n in 1:N``) is summed out of the log
density element by element (a vectorised log-sum-exp, or the forward algorithm for a Markov
chain), so element n of ``z`` -- and of every definition computed from it -- may reach only
element n of the statements that use it, over the same range 1:N. A scalar ``z`` (a change
point) may be used anywhere. One discrete parameter may not depend on another, and only
scalars and one-dimensional arrays are summed out. This pass adds no information to the
checked model; it only reports the uses that code generation could not sum out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ppl.errors import Diagnostic, error
from ppl.frontend import ast, pretty
from ppl.frontend.names import statement_parts
from ppl.frontend.shapes import fold_int
from ppl.frontend.symbols import Symbol, is_discrete_latent
from ppl.frontend.types import dims_equal


def discrete_use_errors(symbols: Mapping[str, Symbol],
                        factors: Sequence[ast.TargetIncrement],
                        factor_deps: Sequence[frozenset[str]],
                        values: Mapping[str, int]) -> list[Diagnostic]:
    """The errors for uses of discrete latents that cannot be summed out (``values``: the
    known integer scalars of the data, to compare ranges with sizes)."""
    errors: list[Diagnostic] = []
    for z in symbols.values():
        if z.kind != "latent" or not is_discrete_latent(z.sample) or z.type is None \
                or z.type.is_error:
            continue
        if z.type.rank > 1:
            errors.append(error(
                f"the discrete parameter '{z.name}' has {z.type.rank} dimensions; only scalars "
                "and one-dimensional arrays are summed out", z.span,
                f"index it by one range: {z.name}[n] ~ ... for n in 1:N"))
            continue
        reach = {z.name}
        for s in symbols.values():
            if s.kind == "defined" and s.depends & reach:
                reach.add(s.name)
        for s in symbols.values():
            if s.name == z.name or not s.depends & reach or s.kind == "generated":
                continue
            if s.kind == "latent" and is_discrete_latent(s.sample):
                errors.append(error(
                    f"the discrete parameter '{s.name}' depends on the discrete parameter "
                    f"'{z.name}'; discrete parameters are summed out one at a time, so one "
                    "cannot depend on another", s.span,
                    f"supply '{s.name}' or '{z.name}' as data, or combine them into one "
                    "categorical"))
            elif z.type.rank == 1:
                errors += misaligned_uses(z, reach, s.define or s.sample,
                                          [st for st in (s.param_decl, s.sample, s.define) if st],
                                          values)
        if z.type.rank == 1:
            for f, deps in zip(factors, factor_deps):
                if deps & reach:
                    errors += misaligned_uses(z, reach, f, [], values)
    return errors


def misaligned_uses(z: Symbol, reach: set[str], st, statements: list,
                    values: Mapping[str, int]) -> list[Diagnostic]:
    """Every use of ``reach`` in ``statements`` (``st``'s range decides the element) that is
    not ``name[n]`` for the range variable n of a range 1:size of ``z``."""
    c = getattr(st, "comprehension", None)
    size = z.type.shape[0]
    if c is not None and fold_int(c.lo, values) == 1:
        hi = fold_int(c.hi, values)
        if dims_equal(hi if hi is not None else pretty.expr(c.hi), size) is False:
            c = None
    elif c is not None:
        c = None
    if c is not None and c.inner is not None:
        c = None  # summed out over one index only: not inside a grid of several
    parts = statement_parts(dict(enumerate(statements))) if statements else \
        [(st.expr, frozenset())]
    errors = []
    for node, _ in parts:
        for use, aligned in ast.element_uses(node, reach, c.var if c else None):
            if aligned:
                continue
            name = use.base.id if isinstance(use, ast.Index) else use.id
            via = "" if name == z.name else f" (computed from the discrete parameter '{z.name}')"
            errors.append(error(
                f"'{name}'{via} is summed out element by element, so it can be used only as "
                f"{name}[n] in a statement over the same range n in 1:{size}", use.span,
                f"write the statement element-wise, using {name}[n]: `... for n in 1:{size}` "
                f"(a `generated` quantity may use '{name}' freely)"))
    return errors
