"""What the checker produces: the model's named quantities (:class:`Symbol`) in dependency
order, its ``target +=`` factors and its warnings (:class:`CheckedModel`), and the questions
later stages ask about a statement (is this a discrete latent? a Markov chain?)."""

from __future__ import annotations

from dataclasses import dataclass

from ppl.errors import Diagnostic
from ppl.frontend import ast
from ppl.frontend.types import Type
from ppl.library.distributions import DISTRIBUTIONS
from ppl.source import Source, Span

# Discrete latents whose support is finite and small are summed out of the log-density.
FINITE_SUPPORTS = ("binary", "category")


@dataclass(frozen=True)
class Symbol:
    """A named quantity of the model.

    ``kind``: ``data`` (declared data, never sampled), ``observable`` (declared data that also has
    a distribution: observed when the data supplies it, simulated otherwise), ``latent`` (has a
    distribution or a ``param`` declaration, never data), ``defined`` (``name = expr``),
    ``generated`` (computed or drawn after sampling).
    """

    name: str
    kind: str
    type: Type
    span: Span
    data_decl: ast.DataDecl | None = None
    param_decl: ast.ParamDecl | None = None
    sample: ast.Sample | None = None
    define: ast.Define | None = None
    depends: frozenset[str] = frozenset()
    data_only: bool = False  # computable from the data alone (data, transformed data)
    # A member of a joint recursion (ppl/frontend/joint.py): the definitions of its group, in
    # evaluation order, computed together by one scan.
    joint: tuple[ast.Define, ...] = ()


@dataclass(frozen=True)
class CheckedModel:
    """A program that passed every check: its symbols in dependency order, its factors with
    the names each depends on, and the warnings of the checks and lints."""

    program: ast.Program
    source: Source
    symbols: dict[str, Symbol]  # in dependency order
    factors: tuple[tuple[ast.TargetIncrement, frozenset[str]], ...]
    warnings: tuple[Diagnostic, ...]
    functions: tuple[ast.FunctionDef, ...] = ()

    def declared_data(self) -> list[str]:
        return [s.name for s in self.symbols.values() if s.data_decl is not None]


def is_discrete_latent(sample: ast.Sample | None) -> bool:
    """Whether ``sample`` gives a (non-data) quantity a discrete distribution."""
    spec = DISTRIBUTIONS.get(sample.dist.func) if sample is not None else None
    return spec is not None and spec.discrete


def is_latent_recursion(entry: dict) -> bool:
    """``x[t] ~ normal(x[t - 1], s) for t in 2:T`` on a continuous parameter: each element's
    distribution uses earlier elements of the parameter itself (a latent time series). The
    whole vector is known when the density is evaluated, so it needs no scan there."""
    s = entry.get("sample")
    return ("data" not in entry and "define" not in entry and s is not None
            and s.comprehension is not None and not is_discrete_latent(s)
            and any(ast.self_references(a.value, s.name) for a in s.dist.args))


def is_markov_chain(entry: dict) -> bool:
    """``z[t] ~ categorical(... z[t - 1] ...) for t in 1:T``: a discrete latent whose
    distribution uses its own previous element (``entry`` maps a statement's role, such as
    ``"sample"`` or ``"data"``, to the statement)."""
    s = entry.get("sample")
    return ("data" not in entry and s is not None and s.comprehension is not None
            and is_discrete_latent(s)
            and any(ast.self_references(a.value, s.name) for a in s.dist.args))
