"""The checks that tie a variational guide (a program in the language) to the model it
approximates: which statements a guide may hold, whether it covers every latent of the model
with a distribution of the same shape and support, and the model's data it may use.

Every problem is a located :class:`~ppl.errors.Diagnostic`: in the guide file for what the
guide says, in the model file for a latent the guide leaves out (that is where the latent is
declared; the hint says what to add to the guide).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpyro.distributions import constraints

from ppl.errors import Diagnostic, error
from ppl.frontend import ast
from ppl.ir.graph import Graph

# Constraint classes, taken from public constructors (NumPyro's classes are private).
_INTERVAL = type(constraints.interval(0.0, 1.0))
_GREATER = type(constraints.greater_than(0.0))
_LESS = type(constraints.less_than(0.0))
_INDEPENDENT = type(constraints.independent(constraints.real, 1))

# A family to suggest for a latent, by the kind of its support.
_SUGGESTED = {"real": "normal(NAME_loc, NAME_scale)", "positive": "lognormal(NAME_loc, NAME_scale)",
              "unit": "beta(NAME_a, NAME_b)", "simplex": "dirichlet(NAME_alpha)"}


def _base(constraint):
    """The element-wise constraint under ``independent(...)`` (a normal's ``real`` and a
    multivariate normal's ``real_vector`` describe the same support for a vector)."""
    while isinstance(constraint, _INDEPENDENT):
        constraint = constraint.base_constraint
    return constraint


def support_key(constraint) -> tuple:
    """A comparable description of a support: its kind and its bounds as arrays."""
    c = _base(constraint)
    if getattr(c, "is_discrete", False):
        return ("discrete", type(c).__name__)
    if isinstance(c, _INTERVAL):
        return ("interval", np.asarray(c.lower_bound), np.asarray(c.upper_bound))
    if isinstance(c, _GREATER):
        return ("greater", np.asarray(c.lower_bound))
    if isinstance(c, _LESS):
        return ("less", np.asarray(c.upper_bound))
    return (type(c).__name__.strip("_").lower(),)


def same_support(a, b) -> bool:
    """Whether two constraints describe the same set (bounds compared value by value)."""
    ka, kb = support_key(a), support_key(b)
    if ka[0] != kb[0] or len(ka) != len(kb):
        return False
    try:
        return all(np.allclose(x, y) if isinstance(x, np.ndarray) else x == y
                   for x, y in zip(ka[1:], kb[1:], strict=True))
    except (TypeError, ValueError):  # bounds that do not broadcast
        return False


def describe_support(constraint) -> str:
    """A support in words: ``the real line``, ``(0, inf)``, ``(0, 1)``, ``the simplex``."""
    key = support_key(constraint)

    def num(x) -> str:
        x = np.asarray(x)
        return f"{float(x):g}" if x.size == 1 else "the declared bounds"

    if key[0] == "interval":
        return f"({num(key[1])}, {num(key[2])})"
    if key[0] == "greater":
        return f"({num(key[1])}, inf)"
    if key[0] == "less":
        return f"(-inf, {num(key[1])})"
    if key[0] == "real":
        return "the real line"
    if key[0] == "discrete":
        return "a discrete set"
    return {"orderedvector": "ordered vectors", "positiveorderedvector":
            "positive ordered vectors", "sphere": "unit vectors", "simplex": "the simplex",
            "corrcholesky": "Cholesky factors of correlation matrices",
            "corrmatrix": "correlation matrices",
            "positivedefinite": "positive definite matrices",
            "lowercholesky": "Cholesky factors"}.get(key[0], f"the set {key[0]}")


def suggested_family(name: str, constraint) -> str:
    """A guide statement for ``name`` whose support matches ``constraint``."""
    key = support_key(constraint)
    kind = key[0]
    if kind == "greater" and np.allclose(key[1], 0):
        kind = "positive"
    if kind == "interval" and np.allclose(key[1], 0) and np.allclose(key[2], 1):
        kind = "unit"
    family = _SUGGESTED.get(kind)
    if family is None:
        return f"a distribution on {describe_support(constraint)}"
    return f"'{name} ~ {family.replace('NAME', name)}'"


def model_kinds(graph: Graph) -> dict[str, str]:
    """The kind of every named node of the model (data, latent, deterministic, ...)."""
    return {n.name: n.kind for n in graph.nodes if n.symbol is not None}


def _defined_name(statement) -> tuple[str, ast.Span] | None:
    if isinstance(statement, (ast.DataDecl, ast.ParamDecl, ast.Sample, ast.Define,
                              ast.FunctionDef)):
        return statement.name, statement.name_span
    return None


def statement_errors(program: ast.Program, model: Graph, latents: tuple[str, ...]
                     ) -> list[Diagnostic]:
    """What the guide's statements may not say, before it is checked: ``target +=``,
    ``generated`` statements, a distribution on the model's data or definitions, a
    ``param`` named like a quantity of the model, a redefinition of the model's data."""
    kinds = model_kinds(model)
    problems = []
    for st in program.statements:
        if isinstance(st, ast.TargetIncrement):
            problems.append(error(
                "a guide cannot add to the target: its density must be normalised", st.span,
                "give each latent a distribution with '~' instead"))
            continue
        if getattr(st, "generated", False):
            problems.append(error("a guide has no generated quantities", st.span,
                                  "put generated quantities in the model file"))
            continue
        named = _defined_name(st)
        if named is None:
            continue
        name, span = named
        kind = kinds.get(name)
        if isinstance(st, ast.Sample):
            problems += _sample_errors(st, kind, latents)
        elif isinstance(st, ast.ParamDecl) and kind is not None:
            what = "a latent" if name in latents else f"{_kind_words(kind)}"
            problems.append(error(
                f"'{name}' is {what} of the model, so it cannot be a variational parameter",
                span, f"name the variational parameter differently (e.g. '{name}_loc')"
                + (f" and give '{name}' a distribution with '~'" if name in latents else "")))
        elif isinstance(st, ast.DataDecl) and kind not in ("data", "observed"):
            problems.append(error(
                f"the model has no data '{name}'", span,
                "a guide may use the model's data without declaring it; remove this line"))
        elif isinstance(st, (ast.Define, ast.FunctionDef)) and kind is not None:
            problems.append(error(
                f"'{name}' is {_kind_words(kind)} of the model; the guide cannot define it "
                "again", span, f"give the guide's quantity another name than '{name}'"))
    return problems


def _kind_words(kind: str) -> str:
    return {"data": "data", "transformed_data": "a definition from data",
            "deterministic": "a definition", "observed": "observed data",
            "discrete": "a discrete latent", "latent": "a latent",
            "generated": "a generated quantity"}.get(kind, kind)


def _sample_errors(st: ast.Sample, kind: str | None, latents: tuple[str, ...]
                   ) -> list[Diagnostic]:
    name, span = st.name, st.name_span
    listing = ", ".join(latents)
    if kind in ("data", "observed", "transformed_data"):
        return [error(f"'{name}' is data of the model; a guide gives distributions to the "
                      "model's latents only", span,
                      f"remove this statement; the model's latents are: {listing}")]
    if kind == "deterministic":
        return [error(f"'{name}' is a definition of the model, not a latent; the guide "
                      "gives distributions to the latents it is computed from", span,
                      f"give the latents a distribution instead: {listing}")]
    if kind == "discrete":
        return [error(f"'{name}' is a discrete latent that the model sums out exactly; the "
                      "guide does not approximate it", span,
                      f"remove this statement: each draw of q gets a draw of '{name}' from "
                      "its conditional posterior")]
    if kind == "generated":
        return [error(f"'{name}' is a generated quantity of the model, not a latent", span,
                      f"remove this statement; the model's latents are: {listing}")]
    return []


def unknown_latent_error(name: str, span, latents: tuple[str, ...]) -> Diagnostic:
    """A continuous ``~`` statement in the guide for a name the model does not have."""
    import difflib

    close = difflib.get_close_matches(name, latents, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return error(f"the model has no latent '{name}'", span,
                 hint + f"the guide gives distributions to the model's latents: "
                        f"{', '.join(latents)} (a discrete '~' in the guide is an auxiliary "
                        "variable, summed out of q)")


def missing_latent_error(name: str, span, guide_name: str, constraint) -> Diagnostic:
    """A latent of the model that the guide gives no distribution (located in the model)."""
    return error(f"the guide {guide_name} gives no distribution to the latent '{name}'", span,
                 f"add a statement such as {suggested_family(name, constraint)} to "
                 f"{guide_name} ('{name}' lives on {describe_support(constraint)})")


def support_error(name: str, span, family: str, model_support, guide_support) -> Diagnostic:
    """A guide distribution whose support differs from the latent's in the model."""
    return error(
        f"'{name}' lives on {describe_support(model_support)} in the model, but {family} "
        f"in the guide has support {describe_support(guide_support)}", span,
        _support_hint(name, model_support))


def _support_hint(name: str, constraint) -> str:
    suggestion = suggested_family(name, constraint)
    if suggestion.startswith("'"):
        return (f"use a distribution on {describe_support(constraint)}, e.g. {suggestion}; "
                "bounds declared on a distribution with a CDF (or T[L, U]) truncate it to them")
    return (f"give '{name}' a distribution whose draws lie on {describe_support(constraint)}: "
            "a declared type does not restrict a distribution's draws (q must be normalised "
            "on the latent's support)")


def shape_error(name: str, span, model_shape: tuple, guide_shape: tuple) -> Diagnostic:
    """A guide distribution whose draws have another shape than the latent's."""
    return error(
        f"'{name}' is a {_type_words(model_shape)} in the model, but the guide's "
        f"distribution gives it the type {_type_words(guide_shape)}", span,
        f"give the distribution arguments of that size, or declare '{name}: "
        f"{_type_words(model_shape)} ~ ...' to broadcast scalar arguments")


def _type_words(shape: tuple) -> str:
    if not shape:
        return "real"
    if len(shape) == 1:
        return f"vector[{shape[0]}]"
    return f"real[{', '.join(str(d) for d in shape)}]"


def data_sizes(data: Mapping[str, object]) -> dict[str, int]:
    """The integer scalars among bound data: the sizes the guide is checked with."""
    sizes = {}
    for name, value in data.items():
        arr = np.asarray(value) if not callable(value) else None
        if arr is not None and arr.ndim == 0 and arr.dtype.kind in "iu":
            sizes[name] = int(arr)
    return sizes


__all__ = ["data_sizes", "describe_support", "missing_latent_error", "model_kinds",
           "same_support", "shape_error", "statement_errors", "suggested_family",
           "support_error", "support_key", "unknown_latent_error"]
