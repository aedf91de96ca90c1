"""Every constrained type of the language, and every kind of bound, against its definition.

For each entry of :data:`REFERENCES` (keyed by the checker's registry ``CONSTRAINED_TYPES``)
and :data:`BOUNDS` (the bound forms of the grammar), one model declares a flat parameter of
that type; it is compiled once and evaluated at a few random unconstrained points in one
jitted, vmapped call. Checked through the compiled model:

- the value satisfies the type's definition (a simplex sums to 1, a Cholesky factor of a
  correlation matrix has rows of unit length, ...);
- round trips: ``constrain(unconstrain(x)) == x`` for an independently built ``x`` and for the
  constrained random points, and ``unconstrain(constrain(u)) == u`` where the map is one to one;
- the parameter's log-density term (it has no prior, so the term is the transform's
  log-Jacobian) equals ``slogdet`` of ``jax.jacobian`` of the map from its unconstrained block
  to its free coordinates (the strict lower triangle of a correlation matrix or its Cholesky
  factor, the lower triangle of a covariance matrix or its factor, K - 1 coordinates of a
  simplex). ``unit_vector`` is not a bijection; its term is ``-|y|^2 / 2`` (docs/language.md),
  and sampling a von Mises-Fisher target with it gives draws with the known mean direction.

A type added to the registry without a reference fails
:func:`test_every_constrained_type_has_a_reference`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ppl
from ppl.frontend.types import CONSTRAINED_TYPES

RNG = np.random.default_rng(2024_06_22)
N_POINTS = 3
K = 3


def _strict_lower(m):
    rows, cols = np.tril_indices(m.shape[-1], -1)
    return m[..., rows, cols]


def _lower(m):
    rows, cols = np.tril_indices(m.shape[-1])
    return m[..., rows, cols]


def _positive_definite(m) -> bool:
    return bool(np.allclose(m, m.T) and np.all(np.linalg.eigvalsh(m) > 0))


def _corr(n):
    a = RNG.normal(size=(n, n))
    s = a @ a.T + n * np.eye(n)
    d = np.sqrt(np.diag(s))
    return s / d[:, None] / d[None, :]


def _spd(n):
    a = RNG.normal(size=(n, n))
    return a @ a.T + n * np.eye(n)


@dataclass(frozen=True)
class TypeReference:
    """``size``: K of ``type[K]``. ``member(x)``: the type's definition. ``free(x)``: the
    coordinates the log-Jacobian is taken over (trailing axes; a leading axis may be present).
    ``example``: a member built without the transform, for the round trip. ``bijective``:
    whether ``unconstrain(constrain(u)) == u``."""

    size: int
    member: Callable[[np.ndarray], bool]
    free: Callable[[np.ndarray], np.ndarray]
    example: np.ndarray
    bijective: bool = True


REFERENCES: dict[str, TypeReference] = {
    "simplex": TypeReference(
        4, lambda x: bool(np.all(x > 0) and np.isclose(x.sum(), 1.0)), lambda x: x[..., :-1],
        np.array([0.1, 0.2, 0.3, 0.4])),
    "ordered": TypeReference(
        K, lambda x: bool(np.all(np.diff(x) > 0)), lambda x: x, np.array([-1.0, 0.5, 2.0])),
    "positive_ordered": TypeReference(
        K, lambda x: bool(x[0] > 0 and np.all(np.diff(x) > 0)), lambda x: x,
        np.array([0.1, 1.0, 3.0])),
    "unit_vector": TypeReference(
        K, lambda x: bool(np.isclose(np.linalg.norm(x), 1.0)), lambda x: x,
        np.array([0.6, 0.0, 0.8]), bijective=False),
    "cholesky_factor_corr": TypeReference(
        K, lambda m: bool(np.allclose(m, np.tril(m)) and np.all(np.diag(m) > 0)
                          and np.allclose(np.linalg.norm(m, axis=1), 1.0)),
        _strict_lower, np.linalg.cholesky(_corr(K))),
    "cholesky_factor_cov": TypeReference(
        K, lambda m: bool(np.allclose(m, np.tril(m)) and np.all(np.diag(m) > 0)),
        _lower, np.linalg.cholesky(_spd(K))),
    "corr_matrix": TypeReference(
        K, lambda m: bool(_positive_definite(m) and np.allclose(np.diag(m), 1.0)),
        _strict_lower, _corr(K)),
    "cov_matrix": TypeReference(K, _positive_definite, _lower, _spd(K)),
}


@dataclass(frozen=True)
class BoundReference:
    """A bounded declaration (``decl`` after the name) and the set it defines, given the
    values of the other parameters (``lower``/``upper`` as functions of them)."""

    decl: str
    lower: Callable[[dict], np.ndarray | float]
    upper: Callable[[dict], np.ndarray | float]
    example: np.ndarray | float


LO, HI = np.array([-1.0, 0.0, 2.0]), np.array([1.0, 0.5, 10.0])

BOUNDS: dict[str, BoundReference] = {
    "lower": BoundReference("real > 1.5", lambda v: 1.5, lambda v: math.inf, 4.0),
    "lower_closed": BoundReference("real >= -2", lambda v: -2.0, lambda v: math.inf, 0.0),
    "upper": BoundReference("real < -2", lambda v: -math.inf, lambda v: -2.0, -3.0),
    "upper_closed": BoundReference("real <= 1", lambda v: -math.inf, lambda v: 1.0, 0.5),
    "interval": BoundReference("real in [-1, 3]", lambda v: -1.0, lambda v: 3.0, 2.5),
    "vector_interval": BoundReference("vector[3] in [lo, hi]", lambda v: LO, lambda v: HI,
                                      np.array([0.0, 0.25, 9.0])),
    "vector_lower": BoundReference("vector[3] > lo", lambda v: LO, lambda v: math.inf,
                                   np.array([0.0, 0.25, 9.0])),
    # bounds that depend on another parameter: the set of b_dependent moves with b_interval
    # (its example lies inside for the example b_interval = 2.5)
    "dependent": BoundReference("real in [b_interval, b_interval + 2]",
                                lambda v: v["b_interval"], lambda v: v["b_interval"] + 2.0,
                                3.0),
}


def _decl(kind: str, ref: TypeReference) -> str:
    return f"{kind}[{ref.size}]"


SOURCE = "data lo: vector[3]\ndata hi: vector[3]\n" + "".join(
    f"param t_{kind}: {_decl(kind, ref)}\n" for kind, ref in REFERENCES.items()) + "".join(
    f"param b_{name}: {ref.decl}\n" for name, ref in BOUNDS.items())
DATA = {"lo": LO, "hi": HI}


@cache
def evaluated():
    """The model with one flat parameter per type and bound, compiled once and evaluated at
    ``N_POINTS`` random unconstrained points in one jitted, vmapped call: each parameter's
    term, the constrained values, their Jacobian, and the round trip through unconstrain."""
    compiled = ppl.model(SOURCE).compile(DATA)

    def one(u):
        terms = {node.name: value for node, value in compiled.statement_terms(u)}
        jacobians, values = jax.jacfwd(lambda v: (compiled.constrain(v),) * 2, has_aux=True)(u)
        again = compiled.unconstrain(values)
        return terms, values, jacobians, again, compiled.constrain(again)

    points = jnp.asarray(RNG.uniform(-1.5, 1.5, size=(N_POINTS, compiled.dimension)))
    return (compiled, np.asarray(points)) + jax.jit(jax.vmap(one))(points)


@cache
def examples_round_trip() -> dict:
    """constrain(unconstrain(examples)): every type's and bound's example, built without the
    transforms, through the compiled model in one jitted call."""
    compiled = evaluated()[0]
    examples = {f"t_{kind}": ref.example for kind, ref in REFERENCES.items()}
    examples |= {f"b_{name}": ref.example for name, ref in BOUNDS.items()}
    return jax.jit(lambda v: compiled.constrain(compiled.unconstrain(v)))(
        {k: jnp.asarray(v, float) for k, v in examples.items()})


def _block_columns(compiled, name):
    b = next(b for b in compiled.blocks if b.name == name)
    return b, slice(b.offset, b.offset + b.size)


# ------------------------------------------------------------------ coverage of the registry

def test_every_constrained_type_has_a_reference():
    """A new constrained type must come with a reference here (and a stale one must go)."""
    assert sorted(CONSTRAINED_TYPES) == sorted(REFERENCES)


def test_every_constrained_type_compiles():
    compiled, *_ = evaluated()
    assert {f"t_{kind}" for kind in REFERENCES} <= set(compiled.latent_names)


# ------------------------------------------------------------------ the constrained types

@pytest.mark.parametrize("kind", list(REFERENCES))
def test_constrained_value_is_in_the_set(kind):
    _, _, _, values, *_ = evaluated()
    for k in range(N_POINTS):
        x = np.asarray(values[f"t_{kind}"][k])
        assert REFERENCES[kind].member(x), (kind, x)


@pytest.mark.parametrize("kind", list(REFERENCES))
def test_round_trip(kind):
    """constrain(unconstrain(x)) == x for the random points and for an independently built
    member; unconstrain(constrain(u)) == u where the map is one to one."""
    compiled, points, _, values, _, again, twice = evaluated()
    ref = REFERENCES[kind]
    name = f"t_{kind}"
    block, cols = _block_columns(compiled, name)
    np.testing.assert_allclose(np.asarray(twice[name]), np.asarray(values[name]), atol=1e-10)
    if ref.bijective:
        np.testing.assert_allclose(np.asarray(again)[:, cols], points[:, cols], atol=1e-9)
    np.testing.assert_allclose(np.asarray(examples_round_trip()[name]), ref.example,
                               atol=1e-10)


@pytest.mark.parametrize("kind", [k for k, r in REFERENCES.items() if r.bijective])
def test_log_jacobian_is_slogdet_of_the_jacobian(kind):
    """The flat parameter's term is log |det d free(x) / d u| over its own block."""
    compiled, _, terms, _, jacobians, *_ = evaluated()
    ref = REFERENCES[kind]
    name = f"t_{kind}"
    block, cols = _block_columns(compiled, name)
    for k in range(N_POINTS):
        jac = ref.free(np.moveaxis(np.asarray(jacobians[name][k]), -1, 0)[cols])
        sign, log_det = np.linalg.slogdet(jac.reshape(block.size, block.size))
        assert sign != 0
        np.testing.assert_allclose(float(terms[name][k]), log_det, rtol=1e-10, atol=1e-10)


def test_unit_vector_term_is_the_radial_density():
    """unit_vector[K]: x = y / |y| with -|y|^2 / 2 added to the log density (Stan's
    convention), so that the radius of y is a proper (chi) distribution."""
    compiled, points, terms, *_ = evaluated()
    _, cols = _block_columns(compiled, "t_unit_vector")
    expected = -0.5 * np.sum(points[:, cols] ** 2, axis=1)
    np.testing.assert_allclose(np.asarray(terms["t_unit_vector"]), expected, rtol=1e-12)


# ------------------------------------------------------------------ bounds

@pytest.mark.parametrize("name", list(BOUNDS))
def test_bounded_value_is_inside_its_bounds(name):
    _, _, _, values, *_ = evaluated()
    ref = BOUNDS[name]
    for k in range(N_POINTS):
        at = {n: np.asarray(v[k]) for n, v in values.items()}
        x = at[f"b_{name}"]
        assert np.all((x > ref.lower(at)) & (x < ref.upper(at))), (name, x)


@pytest.mark.parametrize("name", list(BOUNDS))
def test_bounded_log_jacobian_and_round_trip(name):
    """An element-wise transform: the term is sum log |dx_i / du_i| over the block (the
    Jacobian of the block is diagonal, also when the bounds move with another parameter)."""
    compiled, points, terms, values, jacobians, again, twice = evaluated()
    var = f"b_{name}"
    block, cols = _block_columns(compiled, var)
    np.testing.assert_allclose(np.asarray(again)[:, cols], points[:, cols], atol=1e-9)
    for k in range(N_POINTS):
        jac = np.asarray(jacobians[var][k]).reshape(block.size, -1)[:, cols]
        assert np.allclose(jac, np.diag(np.diag(jac)))
        log_det = np.linalg.slogdet(jac)[1]
        np.testing.assert_allclose(float(terms[var][k]), log_det, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(np.asarray(examples_round_trip()[var]), BOUNDS[name].example,
                               rtol=1e-12)


# ------------------------------------------------------------------ sampling on the sphere

# normal(0, 1) restricted to the sphere is constant there: the prior is uniform on the sphere
VMF = """
data mu: vector[3]
data kappa: real
x: unit_vector[3] ~ normal(0, 1)
target += kappa * dot(mu, x)
"""


def test_unit_vector_samples_a_von_mises_fisher_target():
    """The von Mises-Fisher density exp(kappa mu'x) on the sphere S^2: draws of length 1 whose
    mean is A(kappa) mu with A(kappa) = coth(kappa) - 1 / kappa (0.75 at kappa = 4). The sd of
    mu'x is 0.25 here, so 1000 draws put the mean within 0.05 of A with a wide margin."""
    mu = np.array([1.0, 2.0, 2.0]) / 3.0
    kappa = 4.0
    fit = ppl.model(VMF).sample({"mu": mu, "kappa": kappa}, chains=2, draws=500, warmup=500,
                                seed=1)
    draws = np.asarray(fit["posterior"]["x"]).reshape(-1, 3)
    np.testing.assert_allclose(np.linalg.norm(draws, axis=1), 1.0, atol=1e-12)
    resultant = draws.mean(axis=0)
    expected = 1 / math.tanh(kappa) - 1 / kappa
    assert abs(resultant @ mu - expected) < 0.05
    assert np.linalg.norm(resultant - expected * mu) < 0.08
