"""Static lint rules: likely modelling mistakes in a model that checks, found without data.

The rules:

- **declarations**: data declared but never used, and a parameter without a distribution (its
  prior is flat: uniform on a bounded set, improper otherwise).

- **constraint vs support**: a parameter declared with bounds or a constrained type that allows
  values outside the support of its prior (``sigma: real > -1 ~ lognormal(0, 1)``,
  ``p: real > 0 ~ beta(2, 2)``, ``x: ordered[K] ~ exponential(1)``). The sampler moves over
  the declared range, so it meets values where the prior's density is zero: a -inf or NaN
  log-density, rejected proposals and divergences. A declared range *narrower* than the support
  is a truncation and is fine; without bounds the prior's support is used, which is fine too.
- **unused definitions**: a definition computed from the data alone (transformed data) that no
  output of the model needs, and a user-defined function that is never called. Definitions
  that depend on parameters are outputs (they are reported in the results) and never flagged.

- **Jacobians** (``jacobian.py``): ``~`` on a non-linear function of parameters.

Each rule returns warnings with the position of the declaration and a hint saying what to do.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from ppl.errors import Diagnostic, warning
from ppl.frontend import ast, pretty
from ppl.frontend.jacobian import jacobian_warnings
from ppl.frontend.symbols import CheckedModel, Symbol
from ppl.library.distributions import DISTRIBUTIONS
from ppl.source import Span


def lint(checked: CheckedModel) -> tuple[Diagnostic, ...]:
    """Every lint warning for a checked model, in source order."""
    found = [*support_warnings(checked), *unused_definition_warnings(checked),
             *unused_function_warnings(checked), *jacobian_warnings(checked)]
    return tuple(sorted(found, key=lambda d: (d.span.line, d.span.column)))


def with_lint(checked: CheckedModel) -> CheckedModel:
    """``checked`` with the lint warnings appended to the checker's own."""
    return dataclasses.replace(checked, warnings=checked.warnings + lint(checked))


# ------------------------------------------------------------------------------ declarations

# Constrained types whose set is bounded: a flat density there is a proper (uniform) prior.
_COMPACT_TYPES = {"simplex", "unit_vector", "cholesky_factor_corr", "corr_matrix"}


def _bounded(decl: ast.ParamDecl | None) -> bool:
    """Whether a declared parameter lives on a bounded set (``in [0, 1]``, ``simplex[K]``)."""
    if decl is None:
        return False
    b = decl.bounds
    return decl.type.kind in _COMPACT_TYPES or (
        b is not None and b.lower is not None and b.upper is not None)


def declaration_warnings(symbols: Mapping[str, Symbol], deps: Mapping[str, frozenset[str]],
                         factor_deps: Sequence[frozenset[str]]) -> tuple[Diagnostic, ...]:
    """Data declared and never used (``deps``: the names each quantity's value needs), and
    parameters without a distribution (a flat prior), in the order of ``symbols``."""
    used = set().union(*deps.values(), *factor_deps) if deps else set()
    found = []
    for sym in symbols.values():
        if sym.kind == "data" and sym.name not in used:
            found.append(warning(f"data '{sym.name}' is declared but never used", sym.span,
                                 "remove the declaration or use it"))
        if sym.kind == "latent" and sym.sample is None and _bounded(sym.param_decl):
            found.append(warning(
                f"parameter '{sym.name}' has no distribution, so its prior is uniform on its "
                "bounded support", sym.span,
                f"give '{sym.name}' a prior distribution if uniform is not meant"))
        elif sym.kind == "latent" and sym.sample is None:
            found.append(warning(
                f"parameter '{sym.name}' has no distribution, so its prior is improper and "
                "flat on its support", sym.span,
                f"give it a prior, e.g. {sym.name} ~ normal(0, 10), if flat is not meant"))
    return tuple(found)


# ------------------------------------------------------------------------------ regions


@dataclass(frozen=True)
class Region:
    """Where each element of a value may lie: between ``lower`` and ``upper`` (whether an end is
    included does not matter here: one point has no probability), and, for values whose
    elements are tied together, the name of the set (``simplex``, ...)."""

    lower: float = -math.inf
    upper: float = math.inf
    structure: str | None = None

    def inside(self, other: Region) -> bool:
        """Whether every value of this region is also a value of ``other``."""
        return (other.lower <= self.lower and self.upper <= other.upper
                and other.structure in (None, self.structure))


# The values of each constrained type. The ends are those of the elements (a unit vector's
# elements lie in [-1, 1]); the structure says that a box of elements is not the same set.
TYPE_REGIONS: dict[str, Region] = {
    "simplex": Region(0, 1, "simplex"),
    "ordered": Region(),
    "positive_ordered": Region(0),
    "unit_vector": Region(-1, 1, "unit_vector"),
    "cholesky_factor_corr": Region(-1, 1, "cholesky_factor_corr"),
    "cholesky_factor_cov": Region(structure="cholesky_factor_cov"),
    "corr_matrix": Region(-1, 1, "corr_matrix"),
    "cov_matrix": Region(structure="cov_matrix"),
}

# The support of each kind of continuous distribution (``support`` in the registry); "interval"
# (uniform) depends on the arguments and is computed in prior_region().
SUPPORT_REGIONS: dict[str, Region] = {
    "real": Region(),
    "positive": Region(0),
    "unit_interval": Region(0, 1),
    "simplex": TYPE_REGIONS["simplex"],
    "corr_cholesky": TYPE_REGIONS["cholesky_factor_corr"],
    "corr_matrix": TYPE_REGIONS["corr_matrix"],
    "positive_definite": TYPE_REGIONS["cov_matrix"],
}

# The values of a declared type outside a structured support, in words: "values off the simplex".
_STRUCTURE_WORDS = {
    "simplex": "off the simplex", "unit_vector": "not of length 1",
    "cholesky_factor_corr": "that are not Cholesky factors of a correlation matrix",
    "cholesky_factor_cov": "that are not Cholesky factors of a covariance matrix",
    "corr_matrix": "that are not correlation matrices",
    "cov_matrix": "that are not covariance matrices",
}


def _number(value: float) -> str:
    return f"{value:g}"


def describe_region(region: Region) -> str:
    """A region in words: ``x > 0``, ``0 < x < 1``, ``the simplex``."""
    if region.structure == "simplex":
        return "the simplex"
    if region.structure == "cholesky_factor_corr":
        return "Cholesky factors of correlation matrices"
    if region.lower > -math.inf and region.upper < math.inf:
        return f"{_number(region.lower)} < x < {_number(region.upper)}"
    if region.lower > -math.inf:
        return f"x > {_number(region.lower)}"
    if region.upper < math.inf:
        return f"x < {_number(region.upper)}"
    return "all real values"


def outside(declared: Region, support: Region) -> str:
    """The declared values that the support lacks, in words (``values below 0 and above 1``)."""
    if support.structure is not None and declared.structure != support.structure:
        # the structure says it all: a box of elements is never a simplex
        return "values " + _STRUCTURE_WORDS.get(support.structure, "outside it")
    parts = []
    if declared.lower < support.lower:
        parts.append(f"below {_number(support.lower)}")
    if declared.upper > support.upper:
        parts.append(f"above {_number(support.upper)}")
    return "values " + " and ".join(parts)


# ------------------------------------------------------------------------------ constants


def constant(e: ast.Expr | None, symbols: dict[str, Symbol], seen: frozenset[str] = frozenset()
             ) -> float | None:
    """The value of an expression made of numbers, arithmetic and definitions of numbers
    (``lo = -1``), or None when it needs data or parameters."""
    if isinstance(e, ast.Number):
        return float(e.value)
    if isinstance(e, ast.Unary) and e.op == "-":
        value = constant(e.operand, symbols, seen)
        return None if value is None else -value
    if isinstance(e, ast.Binary) and e.op in _ARITHMETIC:
        left, right = constant(e.left, symbols, seen), constant(e.right, symbols, seen)
        if left is None or right is None:
            return None
        try:
            value = _ARITHMETIC[e.op](left, right)
        except (ArithmeticError, TypeError, ValueError):  # 0 / 0, (-8)^(1/3)
            return None
        return value if isinstance(value, float) and not math.isnan(value) else None
    if isinstance(e, ast.Name) and e.id not in seen:
        sym = symbols.get(e.id)
        d = sym.define if sym is not None and sym.kind == "defined" else None
        if d is not None and d.comprehension is None:
            return constant(d.expr, symbols, seen | {e.id})
    return None


_ARITHMETIC: dict[str, Callable[[float, float], float]] = {
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
    "/": lambda a, b: a / b, "^": lambda a, b: float(a ** b),
}


# ---------------------------------------------------------------- constraint vs support


def declared_region(sym: Symbol, symbols: dict[str, Symbol]
                    ) -> tuple[Region, ast.TypeSpec, ast.Bounds | None] | None:
    """The region a latent's declaration allows, with the type and bounds it came from; None
    without a declared constraint (the prior's support is then used) or with bounds that are
    not constants."""
    for holder in (sym.param_decl, sym.sample):
        spec = getattr(holder, "type", None) if holder is not None else None
        if spec is None:
            continue
        bounds = holder.bounds
        if spec.kind in TYPE_REGIONS:
            return TYPE_REGIONS[spec.kind], spec, bounds
        if bounds is None:
            continue
        ends = [constant(end, symbols) if end is not None else default
                for end, default in ((bounds.lower, -math.inf), (bounds.upper, math.inf))]
        if any(end is None for end in ends):
            return None
        return Region(ends[0], ends[1]), spec, bounds
    return None


def prior_region(call: ast.Call, symbols: dict[str, Symbol]) -> Region | None:
    """The support of the distribution of a ``~`` statement; None when it is not known without
    data (``uniform(a, b)`` with non-constant ends) or is not continuous."""
    spec = DISTRIBUTIONS.get(call.func)
    if spec is None or spec.discrete:
        return None
    if spec.support == "interval":
        args = _arguments(call, spec.params)
        ends = [constant(args.get(p), symbols) for p in spec.params]
        return None if None in ends else Region(ends[0], ends[1])
    return SUPPORT_REGIONS.get(spec.support)


def _arguments(call: ast.Call, params: tuple[str, ...]) -> dict[str, ast.Expr]:
    """Arguments by parameter name, positional or named."""
    out = {}
    for i, a in enumerate(call.args):
        name = a.name if a.name is not None else (params[i] if i < len(params) else None)
        if name is not None:
            out[name] = a.value
    return out


def suggested_declaration(spec: ast.TypeSpec, declared: Region, support: Region) -> str | None:
    """A declaration that fits the prior's support, keeping what the declared range narrows
    (``real > 0`` for ``real > -1 ~ lognormal``), or None when no simple one exists."""
    size = pretty.expr(spec.dims[0]) if spec.dims else "K"
    if support.structure == "simplex":
        return f"simplex[{size}]"
    if support.structure == "cholesky_factor_corr":
        return f"cholesky_factor_corr[{size}]"
    if spec.kind == "ordered" and support.lower >= 0 and support.upper == math.inf:
        return f"positive_ordered[{size}]"
    if spec.kind in TYPE_REGIONS:
        return None
    lower, upper = max(declared.lower, support.lower), min(declared.upper, support.upper)
    base = pretty.type_spec(spec)
    if lower > -math.inf and upper < math.inf:
        return f"{base} in [{_number(lower)}, {_number(upper)}]"
    if lower > -math.inf:
        return f"{base} > {_number(lower)}"
    return f"{base} < {_number(upper)}"


def support_warning(sym: Symbol, symbols: dict[str, Symbol]) -> Diagnostic | None:
    """The warning for one latent whose declared range is not inside its prior's support."""
    if sym.kind != "latent" or sym.sample is None:
        return None
    found = declared_region(sym, symbols)
    support = prior_region(sym.sample.dist, symbols)
    if found is None or support is None:
        return None
    declared, spec, bounds = found
    if declared.inside(support):
        return None
    # uniform's support comes from its arguments, so they are part of the message
    interval = DISTRIBUTIONS[sym.sample.dist.func].support == "interval"
    dist = pretty.expr(sym.sample.dist) if interval else sym.sample.dist.func
    written = pretty.type_spec(spec) + (pretty.bounds(bounds) if spec.kind not in TYPE_REGIONS
                                        else "")
    span = bounds.span if bounds is not None and spec.kind not in TYPE_REGIONS else spec.span
    message = (f"'{sym.name}' is declared `{written}`, which allows "
               f"{outside(declared, support)}, where its prior {dist} has zero density")
    fix = suggested_declaration(spec, declared, support)
    name = sym.sample.dist.func
    hint = (f"declare it `{sym.name}: {fix}` to match {name}'s support "
            f"({describe_region(support)}), or pick a prior defined on the whole declared range"
            if fix is not None else
            f"declare it with a type whose values lie in {name}'s support "
            f"({describe_region(support)}), or pick a prior defined on all of its values")
    return warning(message, span, hint)


def support_warnings(checked: CheckedModel) -> list[Diagnostic]:
    """Latents whose declared bounds or constrained type allow values outside their prior's
    support (bounds that are not constants are skipped)."""
    found = (support_warning(sym, checked.symbols) for sym in checked.symbols.values())
    return [d for d in found if d is not None]


# ------------------------------------------------------------------------------ unused names


def live_symbols(checked: CheckedModel) -> set[str]:
    """The outputs of the model (see below) and ``target +=`` terms, and every name they depend
    on, transitively."""
    symbols = checked.symbols
    # Everything but the data and the definitions of the data alone is an output (parameters,
    # observed and generated quantities, definitions reported in the results).
    todo = [s.name for s in symbols.values()
            if s.kind != "data" and not (s.kind == "defined" and s.data_only)]
    for _, deps in checked.factors:
        todo += deps
    live: set[str] = set()
    while todo:
        name = todo.pop()
        if name in live or name not in symbols:
            continue
        live.add(name)
        todo += symbols[name].depends
    return live


def _users(name: str, symbols: dict[str, Symbol]) -> list[str]:
    return [s.name for s in symbols.values() if name in s.depends and s.name != name]


def _quoted(names: list[str]) -> str:
    quoted = [f"'{n}'" for n in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def unused_definition_warnings(checked: CheckedModel) -> list[Diagnostic]:
    """Definitions of the data alone (transformed data) that no output of the model needs."""
    live = live_symbols(checked)
    out = []
    for sym in checked.symbols.values():
        if sym.kind != "defined" or not sym.data_only or sym.name in live:
            continue
        users = _users(sym.name, checked.symbols)
        if users:
            message = (f"'{sym.name}' is only used by {_quoted(users)}, which "
                       f"{'is' if len(users) == 1 else 'are'} never used")
        else:
            message = f"'{sym.name}' is defined but never used"
        out.append(warning(message, sym.define.name_span,
                           "remove the definition, or use it in the model"))
    return out


def _nodes(node) -> Iterator[object]:
    """Every AST node inside ``node`` (itself included), depth first."""
    if isinstance(node, tuple):
        for item in node:
            yield from _nodes(item)
    elif dataclasses.is_dataclass(node) and not isinstance(node, (Span, type)):
        yield node
        for f in dataclasses.fields(node):
            yield from _nodes(getattr(node, f.name))


def referenced_functions(node, names: set[str]) -> set[str]:
    """The user functions among ``names`` that ``node`` calls or passes (``ode_solve(f, ..)``)."""
    found = set()
    for n in _nodes(node):
        if isinstance(n, ast.Call) and n.func in names:
            found.add(n.func)
        elif isinstance(n, ast.Name) and n.id in names:
            found.add(n.id)
    return found


def unused_function_warnings(checked: CheckedModel) -> list[Diagnostic]:
    """User-defined functions that no statement calls, directly or through other functions."""
    functions = {f.name: f for f in checked.functions}
    if not functions:
        return []
    names = set(functions)
    statements = [st for st in checked.program.statements if not isinstance(st, ast.FunctionDef)]
    calls = {name: referenced_functions(f.body, names) - {name} for name, f in functions.items()}
    todo = list(referenced_functions(tuple(statements), names))
    live: set[str] = set()
    while todo:
        name = todo.pop()
        if name not in live:
            live.add(name)
            todo += calls[name]
    out = []
    for name, f in functions.items():
        if name in live:
            continue
        callers = sorted(c for c, called in calls.items() if name in called)
        message = (f"function '{name}' is only called by {_quoted(callers)}, which "
                   f"{'is' if len(callers) == 1 else 'are'} never called" if callers
                   else f"function '{name}' is defined but never called")
        out.append(warning(message, f.name_span, "remove the function, or call it"))
    return out


__all__ = ["lint", "with_lint", "Region", "describe_region"]
