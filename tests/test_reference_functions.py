"""Every function of the registry against numpy/scipy or a closed form, through the language.

Each entry of :data:`REFERENCES` (keyed by registry name) gives an independent reference
implementation and argument tuples. Two models are generated from the table:

- a *value* model, in which every case is ``r = f(args)`` on data: the compiler computes it
  (parser, checker, evaluator, registry implementation), and the result is compared with the
  reference, and its shape and int/real kind with the type the checker gave it;
- a *gradient* model, in which the arguments are parameters and ``target += sum(w .* f(args))``:
  ``jax.grad`` of the compiled log density is compared with central finite differences of the
  reference at interior points, and at the edges of the domains (``log1m`` at 0, ``sqrt`` at 0,
  ``logit`` near 0 and 1, ``log_mix`` at a weight of 0, ...) with the right answer written out,
  where JAX's own rule could give NaN.

A registry entry without a reference fails :func:`test_every_function_has_a_reference`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import cache

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg
from model_text import declaration
from scipy import special, stats

import ppl
from ppl.library.functions import FUNCTIONS

RNG = np.random.default_rng(2024_06_21)
E = math.e


@dataclass(frozen=True)
class Edge:
    """The gradient of ``sum(f(args))`` at an edge of the domain, written out (None: not
    defined there, not checked), with the reason it is the right answer."""

    args: tuple
    grads: tuple
    why: str


@dataclass(frozen=True)
class Reference:
    """``reference(*args)``: an independent implementation. ``cases``: argument tuples whose
    values are checked (edges, int arguments, extreme values). ``smooth``: interior points of
    real arguments, where the value is checked and the gradient compared with finite
    differences. ``edges``: gradients at the edges of the domain, values checked too.
    ``symmetric``: the argument is a symmetric matrix, perturbed symmetrically
    (a Cholesky factor is only defined on symmetric matrices). ``sizes``: the positions of the
    arguments that are sizes (ints known from the data: data in the gradient model too, with no
    gradient)."""

    reference: Callable
    cases: tuple[tuple, ...]
    smooth: tuple[tuple, ...] = ()
    edges: tuple[Edge, ...] = ()
    symmetric: bool = False
    rtol: float = 1e-12
    sizes: tuple[int, ...] = ()


def _eigenvectors(m):
    """numpy's eigenvectors with ppl's sign: each column's largest entry positive."""
    vectors = np.linalg.eigh(np.asarray(m, float))[1]
    largest = vectors[np.argmax(np.abs(vectors), axis=0), np.arange(vectors.shape[1])]
    return vectors * np.where(largest < 0, -1.0, 1.0)


def _segment(x, i, n):
    """x[i:i + n - 1] (1-based), NaN where that leaves x."""
    x = np.asarray(x)
    if i < 1 or i - 1 + n > len(x):
        return np.full(n, np.nan)
    return x[i - 1:i - 1 + n]


def _log_mix(theta, a, b):
    """log(theta e^a + (1 - theta) e^b), with the larger exponent taken out; NaN for a weight
    outside [0, 1] (Stan rejects it), even where the formula would give a number."""
    theta, a, b = (np.asarray(v, float) for v in (theta, a, b))
    m = np.maximum(a, b)
    mix = m + np.log(theta * np.exp(a - m) + (1 - theta) * np.exp(b - m))
    return np.where((theta >= 0) & (theta <= 1), mix, np.nan)


def _exp_quad(x, alpha, rho):
    x = np.asarray(x, float)
    d = x[:, None] - x[None, :]
    return alpha**2 * np.exp(-d**2 / (2 * rho**2))


def _matern32(x, alpha, rho):
    x = np.asarray(x, float)
    d = np.abs(x[:, None] - x[None, :])
    return alpha**2 * (1 + math.sqrt(3) * d / rho) * np.exp(-math.sqrt(3) * d / rho)


def _column_major(m):
    """Stan's to_vector: column 1 first, then column 2, ... (docs/functions.md)."""
    m = np.asarray(m)
    return np.concatenate([m[:, j] for j in range(m.shape[1])])


def _softmax(x):
    x = np.asarray(x, float)
    z = np.exp(x - x.max())
    return z / z.sum()


def _spd(n):
    a = RNG.normal(size=(n, n))
    return a @ a.T + n * np.eye(n)


_M23 = [[1.0, -2.0, 3.0], [4.0, 5.5, -6.0]]
_SPD = _spd(3)
_L = np.linalg.cholesky(_spd(3))
_M33 = RNG.normal(size=(3, 3))


def _stan_round(x):
    """C++ std::round: halfway cases away from zero, on the exact decimal value of each double
    (floor(|x| + 0.5) would round 0.49999999999999994 up)."""
    def one(v):
        return float(Decimal(v).quantize(Decimal(1), rounding=ROUND_HALF_UP))

    return np.vectorize(one, otypes=[float])(np.asarray(x, float))


def _log1m_exp(x):
    """log(1 - e^x): log(-expm1(x)) near 0, log1p(-e^x) far below it (Maechler 2012)."""
    x = np.asarray(x, float)
    with np.errstate(divide="ignore"):
        return np.where(x > -math.log(2), np.log(-np.expm1(x)), np.log1p(-np.exp(x)))


def _lchoose(n, k):
    """log(n! / (k! (n - k)!)): exact (math.comb) for integers, else -log(n + 1) - log B(n - k
    + 1, k + 1) with scipy's betaln (gamma functions of large n would cancel)."""
    n, k = np.broadcast_arrays(np.asarray(n, float), np.asarray(k, float))

    def one(a, b):
        if a == int(a) and b == int(b):
            return math.log(math.comb(int(a), int(b)))
        return -math.log1p(a) - special.betaln(a - b + 1, b + 1)

    return np.vectorize(one, otypes=[float])(n, k)


_A33 = RNG.normal(size=(3, 3)) + 3 * np.eye(3)  # well away from singular
_B32 = RNG.normal(size=(3, 2))

_X = ([-1.3, 0.2, 0.7],)  # an interior point for the functions of one real vector
_U = ([0.15, 0.5, 0.85],)  # the same inside (0, 1)

REFERENCES: dict[str, Reference] = {
    "exp": Reference(np.exp, (([-700.0, -1.0, 0.0, 1e-8, 2.5, 700.0],), ([1, 2],)), (_X,)),
    "log": Reference(np.log, (([1e-300, 0.5, 1.0, 3e10],), (0.0,)), (([0.3, 2.0, 50.0],),),
                     edges=(Edge((1e-300,), (1e300,), "1 / x, finite however small x > 0"),)),
    "log1p": Reference(np.log1p, (([-1 + 1e-10, -0.5, 1e-12, 3.0],), (-1.0,)), (([-0.5, 3.0],),),
                       edges=(Edge((-1 + 1e-10,), (1 / (1 + (-1 + 1e-10)),), "1 / (1 + x)"),)),
    "expm1": Reference(np.expm1, (([-40.0, -1e-12, 1e-12, 2.0],),), (_X,)),
    "log1m": Reference(
        lambda x: np.log1p(-np.asarray(x, float)),
        (([0.0, 1e-12, 0.5, 1 - 1e-10, -3.0],), (1.0,)), (_X,),
        edges=(Edge((0.0,), (-1.0,), "-1 / (1 - x) is -1 at x = 0"),
               Edge((1 - 1e-10,), (-1 / (1 - (1 - 1e-10)),), "-1 / (1 - x), finite below 1"))),
    "sqrt": Reference(np.sqrt, (([0.0, 1e-300, 2.0, 1e10],),), (([0.3, 2.0, 50.0],),),
                      edges=(Edge((0.0,), (math.inf,), "the one-sided derivative at 0 is "
                                  "+inf (not NaN): a step there is rejected, not poisoned"),)),
    "square": Reference(np.square, (([-3.0, 0.0, 1.5],), ([-3, 2],)), (_X,)),
    "abs": Reference(np.abs, (([-2.5, 0.0, 3.0],), ([-3, 4],)), (_X,)),
    "inv_logit": Reference(
        special.expit, (([-800.0, -40.0, 0.0, 1e-10, 40.0, 800.0],),), (_X,),
        edges=(Edge((800.0,), (0.0,), "inv_logit' = p (1 - p) -> 0, not NaN"),
               Edge((-800.0,), (0.0,), "inv_logit' = p (1 - p) -> 0, not NaN"))),
    "logit": Reference(
        special.logit, (([1e-300, 1e-12, 0.3, 1 - 1e-12],),), (_U,),
        edges=(Edge((1e-12,), (1 / (1e-12 * (1 - 1e-12)),), "1 / (x (1 - x)), finite"),
               Edge((1 - 1e-12,), (1 / ((1 - 1e-12) * (1 - (1 - 1e-12))),),
                    "1 / (x (1 - x)), finite")),
        rtol=1e-10),
    "log_inv_logit": Reference(
        special.log_expit, (([-800.0, -40.0, 0.0, 40.0, 800.0],),), (_X,),
        edges=(Edge((-800.0,), (1.0,), "d/dx log inv_logit(x) = 1 - inv_logit(x) -> 1"),
               Edge((800.0,), (0.0,), "1 - inv_logit(x) -> 0"))),
    "log1m_inv_logit": Reference(
        lambda x: special.log_expit(-np.asarray(x, float)),
        (([-800.0, -40.0, 0.0, 40.0, 800.0],),), (_X,),
        edges=(Edge((800.0,), (-1.0,), "d/dx log(1 - inv_logit(x)) = -inv_logit(x) -> -1"),
               Edge((-800.0,), (0.0,), "-inv_logit(x) -> 0"))),
    "lgamma": Reference(special.gammaln, (([1e-10, 0.5, 1.0, 2.0, 10.5, 1e5, -2.5],),),
                        (([0.3, 2.0, 50.0],),),
                        edges=(Edge((1e-10,), (special.digamma(1e-10),), "digamma(x)"),),
                        rtol=1e-10),
    "Phi": Reference(special.ndtr, (([-37.0, -5.0, 0.0, 1.5, 8.0],),), (_X,),
                     edges=(Edge((-30.0,), (stats.norm.pdf(-30.0),),
                                 "the normal density, tiny but not 0 or NaN"),),
                     rtol=1e-10),
    "tanh": Reference(np.tanh, (([-30.0, -1.0, 0.0, 0.3, 30.0],),), (_X,)),
    "sin": Reference(np.sin, (([-10.0, 0.0, 1.0, 1e3],),), (_X,)),
    "cos": Reference(np.cos, (([-10.0, 0.0, 1.0, 1e3],),), (_X,)),
    "log_sum_exp": Reference(
        special.logsumexp, (([1.0, 2.0, 3.0],), ([1000.0, 1000.0],)), (_X, (_M23,)),
        edges=(Edge(([1000.0, 1000.0],), ([0.5, 0.5],),
                    "the gradient is softmax(x), computed without overflow"),)),
    "sum": Reference(np.sum, (([1.5, 2.0, -3.0],), ([1, 2, 3],)), (_X, (_M23,))),
    "mean": Reference(np.mean, (([1.0, 2.0, 4.0],), ([1, 2],)), (_X, (_M23,))),
    "sd": Reference(lambda x: np.std(x, ddof=1), (([1.0, 2.0, 4.0],),), (_X, (_M23,))),
    "variance": Reference(lambda x: np.var(x, ddof=1), (([1.0, 2.0, 4.0],),),
                          (_X, (_M23,), ([2.0, 2.0, 2.0],))),
    "softmax": Reference(_softmax, (([1000.0, 0.0, -1000.0],),), (_X,)),
    "log_softmax": Reference(
        lambda x: np.asarray(x) - special.logsumexp(x), (([1000.0, 0.0, -1000.0],),), (_X,),
        edges=(Edge(([1000.0, 0.0],), ([-1.0, 1.0],),
                    "d/dx_i sum_j (x_j - lse(x)) = 1 - n softmax(x)_i, without overflow"),)),
    "cumulative_sum": Reference(np.cumsum, (([1, 2, 3],),), (_X,)),
    "reverse": Reference(lambda x: np.asarray(x)[::-1], (([1, 2],),), (_X,)),
    "dot": Reference(np.dot, (), (([1.0, 2.0, 3.0], [4.0, -5.0, 6.0]),)),
    "log_mix": Reference(
        _log_mix, ((0.5, -800.0, -801.0), (0.0, 1.0, 2.0), (1.0, 1.0, 2.0), (1.5, 1.0, 2.0)),
        ((0.3, -1.0, 2.0), ([0.2, 0.9], [-1.0, 5.0], [2.0, 3.0])),
        edges=(Edge((0.0, 1.0, 2.0), (1 / E - 1, 0.0, 1.0),
                    "d/dtheta = (e^a - e^b) / (theta e^a + (1 - theta) e^b): e^-1 - 1 at 0"),
               Edge((1.0, 1.0, 2.0), (1 - E, 1.0, 0.0), "(e^a - e^b) / e^a = 1 - e at 1"))),
    "transpose": Reference(np.transpose, (([[1, 2], [3, 4]],),), ((_M23,),)),
    "to_vector": Reference(_column_major, (([[1, 2], [3, 4]],),), ((_M23,),)),
    "cholesky": Reference(np.linalg.cholesky, (), ((_SPD,),), symmetric=True, rtol=1e-10),
    "gp_exp_quad_cov": Reference(_exp_quad, (), (([0.0, 0.5, 2.0, 2.0], 1.5, 0.7),)),
    "gp_matern32_cov": Reference(_matern32, (), (([0.0, 0.5, 2.0, 2.0], 1.5, 0.7),)),
    "add_diag": Reference(
        lambda m, d: np.asarray(m) + np.diag(np.broadcast_to(d, (len(m),))), (),
        ((_M33, 2.0), (_M33, [1.0, 2.0, 3.0]))),
    "mdivide_left_tri_low": Reference(
        lambda lower, b: scipy.linalg.solve_triangular(np.tril(lower), b, lower=True), (),
        ((_L, [1.0, -2.0, 0.5]), (_L, RNG.normal(size=(3, 2)))), rtol=1e-10),
    "append_row": Reference(
        lambda a, b: np.concatenate([np.asarray(a), np.asarray(b)], axis=0), (),
        (([1.0, 2.0], [3.0]), ([[1.0, 2.0]], [[3.0, 4.0], [5.0, 6.0]]))),
    "append_col": Reference(
        lambda a, b: np.concatenate([np.asarray(a), np.asarray(b)], axis=1), (),
        (([[1.0], [2.0]], [[3.0, 4.0], [5.0, 6.0]]),)),
    "diag_matrix": Reference(lambda v: np.diag(np.asarray(v)), (), (([1.0, 2.0, 3.0],),)),
    "pow": Reference(
        lambda x, y: np.power(np.asarray(x, float), y),
        (([2.0, 0.0, 0.0, 1.5, 4.0], [3.0, 2.0, 0.0, -1.0, 0.5]), (2, -1), ([1, 2, 3], 2)),
        (([1.5, 4.0], [-1.0, 0.5]), ([0.5, 2.0], 3.0)),
        edges=(Edge((0.0, 2.0), (0.0, 0.0), "2x = 0; and 0^y = 0 for all y > 0"),
               Edge((0.0, 0.0), (0.0, None), "x^0 = 1 for every x, so d/dx = 0 (d/dy has "
                                              "no value: 0^y jumps from 1 to 0)"),
               Edge((2.0, 0.0), (0.0, math.log(2.0)), "d/dy 2^y = 2^y log 2"),
               Edge((0.0, 0.5), (math.inf, 0.0), "0.5 / sqrt(x) -> +inf; 0^y = 0 for y > 0"))),
    # Constants: no argument, so nothing to differentiate.
    "pi": Reference(lambda: math.pi, ((),)),
    "e": Reference(lambda: math.e, ((),)),
    "sqrt2": Reference(lambda: math.sqrt(2), ((),)),
    "not_a_number": Reference(lambda: math.nan, ((),)),
    "positive_infinity": Reference(lambda: math.inf, ((),)),
    "negative_infinity": Reference(lambda: -math.inf, ((),)),
    "machine_precision": Reference(lambda: np.finfo(np.float64).eps, ((),)),
    "log10": Reference(np.log10, (([1e-300, 0.5, 1.0, 1e10],), ([1, 100],)),
                       (([0.3, 2.0, 50.0],),)),
    "log2": Reference(np.log2, (([1e-300, 0.5, 1.0, 1024.0],), ([1, 8],)), (([0.3, 2.0, 50.0],),)),
    "exp2": Reference(np.exp2, (([-1000.0, -1.0, 0.0, 10.0],), ([3, -1],)), (_X,)),
    "floor": Reference(np.floor, (([-2.5, -0.5, 0.0, 0.5, 2.0, 1e15 + 0.5],), ([3, -2],)), (_X,)),
    "ceil": Reference(np.ceil, (([-2.5, -0.5, 0.0, 0.5, 2.0],), ([3, -2],)), (_X,)),
    "round": Reference(_stan_round, (([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.49999999999999994,
                                        -0.7, 0.0],), ([3, -2],)), (_X,)),
    "trunc": Reference(np.trunc, (([-2.7, -0.5, 0.0, 0.5, 2.7],), ([3, -2],)), (_X,)),
    "erf": Reference(special.erf, (([-30.0, -1.0, 0.0, 1e-10, 0.5, 6.0],),), (_X,),
                     rtol=1e-10),
    "erfc": Reference(special.erfc, (([-6.0, 0.0, 0.5, 5.0, 26.0],),), (_X,), rtol=1e-10),
    "inv_Phi": Reference(special.ndtri, (([1e-300, 1e-10, 0.025, 0.5, 0.975, 1 - 1e-10],),
                                         (0.0,), (1.0,)), (_U,),
                         edges=(Edge((1e-10,), (1 / stats.norm.pdf(special.ndtri(1e-10)),),
                                     "1 / phi(inv_Phi(p)): large, finite"),),
                         rtol=1e-9),
    "log1p_exp": Reference(lambda x: np.logaddexp(0.0, x),
                           (([-800.0, -40.0, 0.0, 40.0, 800.0],),), (_X,),
                           edges=(Edge((800.0,), (1.0,), "inv_logit(x) -> 1, not NaN"),
                                  Edge((-800.0,), (0.0,), "inv_logit(x) -> 0"))),
    "log1m_exp": Reference(_log1m_exp, (([-800.0, -40.0, -1.0, -1e-10],), (0.0,)),
                           (([-2.0, -0.5, -1e-3],),),
                           edges=(Edge((-800.0,), (0.0,), "-e^x / (1 - e^x) -> 0"),),
                           rtol=1e-10),
    "digamma": Reference(special.digamma, (([1e-10, 0.5, 1.0, 10.5, 1e5, -2.5],),),
                         (([0.3, 2.0, 50.0],),), rtol=1e-10),
    "inv": Reference(lambda x: 1.0 / np.asarray(x, float), (([-2.0, 0.5, 1e-300],), ([2, 4],)),
                     (_X,)),
    "inv_sqrt": Reference(lambda x: 1.0 / np.sqrt(np.asarray(x, float)),
                          (([0.25, 2.0, 1e-300, 1e300],), ([4],)), (([0.3, 2.0, 50.0],),)),
    "inv_square": Reference(lambda x: 1.0 / np.square(np.asarray(x, float)),
                            (([-2.0, 0.5, 1e-100],), ([2, 4],)), (_X,)),
    "fabs": Reference(lambda x: np.abs(np.asarray(x, float)), (([-2.5, 0.0, 3.0],), ([-3, 4],)),
                      (_X,)),
    "tan": Reference(np.tan, (([-1.0, 0.0, 1.5],),), (_X,)),
    "atan": Reference(np.arctan, (([-1e10, -1.0, 0.0, 2.0],),), (_X,)),
    "asin": Reference(np.arcsin, (([-1.0, -0.5, 0.0, 1.0],),), (_U,)),
    "acos": Reference(np.arccos, (([-1.0, -0.5, 0.0, 1.0],),), (_U,)),
    "cosh": Reference(np.cosh, (([-700.0, -1.0, 0.0, 2.0],),), (_X,)),
    "sinh": Reference(np.sinh, (([-700.0, -1.0, 0.0, 1e-10, 2.0],),), (_X,)),
    "asinh": Reference(np.arcsinh, (([-1e10, -1.0, 0.0, 1e-10, 2.0],),), (_X,)),
    "acosh": Reference(np.arccosh, (([1.0, 1.5, 1e10],),), (([1.5, 3.0],),)),
    "atanh": Reference(np.arctanh, (([-0.999, 0.0, 1e-10, 0.5],), (1.0,)), (_U,)),
    "cbrt": Reference(np.cbrt, (([-8.0, 0.0, 27.0, 1e-300],), ([8],)), (([-2.0, 0.5, 3.0],),)),
    "tgamma": Reference(special.gamma, (([0.5, 1.0, 5.0, 170.5, -2.5],), ([4],)),
                        (([0.3, 2.0, 5.5],),), rtol=1e-10),
    "prod": Reference(np.prod, (([1.5, 2.0, -3.0],), ([1, 2, 3],)), (_X, (_M23,)),
                      edges=(Edge(([0.0, 2.0, 3.0],), ([6.0, 0.0, 0.0],),
                                  "d/dx_1 of x_1 x_2 x_3 is x_2 x_3, even where x_1 = 0"),)),
    "dot_self": Reference(lambda x: np.dot(x, x), (([1, 2, 3],),), (_X,)),
    "sort_asc": Reference(np.sort, (([3, 1, 2],),), (_X,)),
    "sort_desc": Reference(lambda x: np.sort(x)[::-1], (([3, 1, 2],),), (_X,)),
    "inverse": Reference(np.linalg.inv, (), ((_A33,),), rtol=1e-10),
    "determinant": Reference(np.linalg.det, (([[1, 2], [3, 4]],),), ((_A33,),), rtol=1e-10),
    "log_determinant": Reference(lambda m: np.linalg.slogdet(m)[1], (([[1, 2], [3, 4]],),),
                                 ((_A33,), (_SPD,)), rtol=1e-10),
    "diag_pre_multiply": Reference(lambda v, m: np.diag(v) @ np.asarray(m, float), (),
                                   (([1.0, -2.0], _M23),)),
    "diag_post_multiply": Reference(lambda m, v: np.asarray(m, float) @ np.diag(v), (),
                                    ((_M23, [1.0, -2.0, 0.5]),)),
    "quad_form": Reference(lambda a, b: np.asarray(b).T @ a @ np.asarray(b), (),
                           ((_A33, [1.0, -2.0, 0.5]), (_A33, _B32)), rtol=1e-10),
    "quad_form_sym": Reference(lambda a, b: np.asarray(b).T @ a @ np.asarray(b),
                               ((_SPD, _B32),), ((_SPD, [1.0, -2.0, 0.5]),), symmetric=True,
                               rtol=1e-10),
    "quad_form_diag": Reference(lambda m, v: np.diag(v) @ m @ np.diag(v), (),
                                ((_A33, [1.0, -2.0, 0.5]),)),
    "multiply_lower_tri_self_transpose": Reference(
        lambda m: np.tril(m) @ np.tril(m).T, (), ((_A33,), (_M23,), (_B32,))),
    "tcrossprod": Reference(lambda m: np.asarray(m) @ np.asarray(m).T, (), ((_M23,),)),
    "crossprod": Reference(lambda m: np.asarray(m).T @ np.asarray(m), (), ((_M23,),)),
    "columns_dot_self": Reference(lambda m: np.sum(np.square(m), axis=0), (([[1, 2], [3, 4]],),),
                                  ((_M23,),)),
    "rows_dot_self": Reference(lambda m: np.sum(np.square(m), axis=1), (([[1, 2], [3, 4]],),),
                               ((_M23,),)),
    "log_diff_exp": Reference(
        lambda a, b: np.asarray(a, float) + _log1m_exp(np.asarray(b, float) - a),
        ((1.0, 1.0), (1000.0, 999.0), (-800.0, -801.0), (2.0, 2.0 - 1e-12)),
        ((2.0, 1.0), ([0.5, 3.0], [-1.0, 2.9])),
        edges=(Edge((1000.0, -1000.0), (1.0, 0.0), "e^a / (e^a - e^b) -> 1 and -e^b / (...) "
                    "-> 0 when b << a"),)),
    "lchoose": Reference(_lchoose, ((5, 2), (10, 0), (10, 10), ([7, 9], 3), (1e6, 3.0),
                                    (1e6, 999990.0)),
                         ((5.5, 2.0), ([7.0, 9.5], [3.0, 0.5]), (30.5, 2.5)), rtol=1e-12),
    "lbeta": Reference(special.betaln, ((1e-10, 1.0), (0.5, 0.5), (1e5, 3.0), (2, 3)),
                       ((1.5, 2.5), ([0.3, 2.0], [4.0, 0.7])), rtol=1e-10),
    "atan2": Reference(np.arctan2, ((1.0, -1.0), (0.0, 1.0), (-1.0, 0.0), ([1, 2], 3)),
                       ((1.0, 2.0), ([0.5, -2.0], [-1.0, 3.0]))),
    "hypot": Reference(np.hypot, ((3.0, 4.0), (1e300, 1e300), ([3, 5], 4)),
                       ((3.0, 4.0), ([0.5, -2.0], [-1.0, 3.0]))),
    "fdim": Reference(lambda x, y: np.maximum(np.asarray(x, float) - y, 0.0),
                      ((3.0, 4.0), (4.0, 3.0), ([3, 5], 4)),
                      ((3.0, 4.5), ([0.5, -2.0], [-1.0, 3.0]))),
    "rep_vector": Reference(lambda x, n: np.full(n, x, float), ((2, 3), (1.5, 0)),
                            ((-0.7, 3),), sizes=(1,)),
    "rep_row_vector": Reference(lambda x, n: np.full(n, x, float), ((2, 3),), ((-0.7, 2),),
                                sizes=(1,)),
    "rep_array": Reference(
        lambda x, *n: np.broadcast_to(x, tuple(n) + np.shape(x)),
        ((2, 3), (2, 2, 3), ([1, 2], 2), (1.5, 1, 1)),
        ((-0.7, 3), (-0.7, 2, 3), ([0.5, -1.0], 2)), sizes=(1, 2)),
    "rep_matrix": Reference(
        lambda x, *n: np.full(n, x, float) if len(n) == 2 else
        np.repeat(np.asarray(x, float)[:, None], n[0], axis=1),
        ((2, 2, 3), ([1, 2, 3], 2)), ((-0.7, 2, 3), ([0.5, -1.0, 2.0], 2)), sizes=(1, 2)),
    "linspaced_vector": Reference(
        lambda n, lo, hi: np.array([hi], float) if n == 1 else np.linspace(lo, hi, n),
        ((5, 0, 1), (1, 0.0, 2.5), (2, -3.0, 3.0), (0, 0.0, 1.0)), ((4, -1.0, 2.0),),
        sizes=(0,)),
    "zeros_vector": Reference(lambda n: np.zeros(n), ((3,), (0,)), ((2,),), sizes=(0,)),
    "ones_vector": Reference(lambda n: np.ones(n), ((3,), (1,)), ((2,),), sizes=(0,)),
    "dot_product": Reference(np.dot, (([1, 2], [3, 4]),), (([1.0, 2.0, 3.0], [4.0, -5.0, 6.0]),)),
    "squared_distance": Reference(lambda x, y: np.sum(np.square(np.subtract(x, y))),
                                  (([1, 2], [3, 5]),), (([1.0, 2.0, 3.0], [4.0, -5.0, 6.0]),)),
    "distance": Reference(lambda x, y: np.linalg.norm(np.subtract(x, y)),
                          (([1, 2], [4, 6]),), (([1.0, 2.0, 3.0], [4.0, -5.0, 6.0]),)),
    "cholesky_decompose": Reference(np.linalg.cholesky, (), ((_SPD,),), symmetric=True,
                                    rtol=1e-10),
    "eigenvalues_sym": Reference(np.linalg.eigvalsh, (([[2, 1], [1, 3]],),), ((_SPD,),),
                                 symmetric=True, rtol=1e-10),
    "eigenvectors_sym": Reference(_eigenvectors, (([[2, 1], [1, 3]],),), ((_SPD,),),
                                  symmetric=True, rtol=1e-8),
    "kronecker_product": Reference(np.kron, (([[1, 2], [3, 4]], [[0.5]]),), ((_M23, _A33),)),
    "diagonal": Reference(np.diagonal, (([[1, 2], [3, 4]],),), ((_A33,),)),
    "trace": Reference(np.trace, (([[1, 2], [3, 4]],),), ((_A33,),)),
    "rows": Reference(lambda x: len(x), (([[1, 2, 3], [4, 5, 6]],), ([1.0, 2.0],)), ((_M23,),)),
    "cols": Reference(lambda x: np.shape(x)[1], (([[1, 2, 3], [4, 5, 6]],),), ((_M23,),)),
    "num_elements": Reference(np.size, (([[1, 2, 3], [4, 5, 6]],), (2.5,)), ((_M23,),)),
    "Phi_approx": Reference(lambda x: special.expit(0.07056 * np.power(x, 3) + 1.5976 *
                                                    np.asarray(x, float)),
                            (([-40.0, -1.0, 0.0, 2.0, 40.0],),), (_X,)),
    "inv_cloglog": Reference(lambda x: -np.expm1(-np.exp(np.asarray(x, float))),
                             (([-40.0, -1.0, 0.0, 2.0, 5.0],),), (_X,), rtol=1e-10),
    "step": Reference(lambda x: np.where(np.asarray(x) < 0, 0.0, 1.0),
                      (([-2.0, -1e-300, 0.0, 3.0],), ([-1, 0, 2],)), (_X,)),
    "lmultiply": Reference(special.xlogy, ((0.0, 0.0), (2.0, 3.0), ([0, 1], 0)),
                           ((2.0, 3.0), ([0.5, -1.0], [2.0, 0.3]))),
    "multiply_log": Reference(special.xlogy, ((0.0, 0.0), (2.0, 3.0)), ((2.0, 3.0),)),
    "log_inv_logit_diff": Reference(
        lambda x, y: np.log(special.expit(x) - special.expit(y)),
        ((1.0, -1.0), (0.5, 0.0), (3.0, 2.9)), ((1.0, -1.0), ([0.5, 3.0], [-2.0, 2.9])),
        rtol=1e-10),
    "fma": Reference(lambda x, y, z: np.asarray(x) * y + z, ((2, 3, 4), (1.5, [1.0, 2.0], -1.0)),
                     ((2.0, -3.0, 0.5), ([0.5, 2.0], [1.0, -1.0], [3.0, 4.0]))),
    "segment": Reference(_segment, (([1, 2, 3, 4], 2, 2), ([1.0, 2.0, 3.0], 3, 1),
                                    ([1.0, 2.0, 3.0], 3, 2)),
                         (((0.3, -1.2, 2.0, 0.7), 2, 3),), sizes=(1, 2)),
    "head": Reference(lambda x, n: np.asarray(x)[:n], (([1, 2, 3], 2), ([1.0, 2.0], 0),
                                                        (_M23, 1)), ((_X[0], 2),), sizes=(1,)),
    "tail": Reference(lambda x, n: np.asarray(x)[len(x) - n:], (([1, 2, 3], 2), ([1.0, 2.0], 0),
                                                                (_M23, 1)),
                      ((_X[0], 2),), sizes=(1,)),
    "mdivide_left": Reference(np.linalg.solve, (), ((_A33, [1.0, -2.0, 0.5]), (_A33, _B32)),
                              rtol=1e-10),
    "mdivide_left_spd": Reference(np.linalg.solve, (), ((_SPD, [1.0, -2.0, 0.5]),),
                                  symmetric=True, rtol=1e-10),
    "fmin": Reference(np.minimum, (([1, 5], 2),), (([1.0, 5.0], [3.0, 2.0]), ([1.0, 5.0], 2.0))),
    "fmax": Reference(np.maximum, (([1, 5], 2),), (([1.0, 5.0], [3.0, 2.0]), ([1.0, 5.0], 2.0))),
    "min": Reference(lambda *a: np.min(a[0]) if len(a) == 1 else np.minimum(*a),
                     (([3, 1, 2],), ([1, 5], 2)), (([3.0, 1.0, 2.0],), ([1.0, 5.0], [3.0, 2.0]))),
    "max": Reference(lambda *a: np.max(a[0]) if len(a) == 1 else np.maximum(*a),
                     (([3, 1, 2],), ([1, 5], 2)), (([3.0, 1.0, 2.0],), ([1.0, 5.0], [3.0, 2.0]))),
}


# ------------------------------------------------------------------ the generated models

def _value_cases(name: str) -> list[tuple]:
    ref = REFERENCES[name]
    return list(ref.cases) + list(ref.smooth) + [e.args for e in ref.edges]


def _per_function(build):
    """``build(names)`` for all functions at once (one model: fast); if that fails, for each
    function alone, so that only the broken function's tests fail, each with its own error."""

    @cache
    def everything():
        try:
            return build(tuple(REFERENCES))
        except Exception:  # noqa: BLE001 - each function's tests report their own error
            return None

    @cache
    def alone(name):
        return build((name,))

    def result(name):
        combined = everything()
        return combined if combined is not None else alone(name)

    return result


@_per_function
def values(names):
    """The value model: ``v_<name>_<i> = name(args)`` on data, computed by the compiler. Returns
    the computed values and the checker's type of each."""
    lines, data = [], {}
    for name in names:
        for i, args in enumerate(_value_cases(name)):
            names = []
            for j, a in enumerate(args):
                var = f"d_{name}_{i}_{j}"
                lines.append(f"data {var}: {declaration(a)}")
                data[var] = np.asarray(a)
                names.append(var)
            lines.append(f"v_{name}_{i} = {name}({', '.join(names)})")
    model = ppl.model("\n".join(lines) + "\n")
    checked, _, _ = model.bind(data)
    compiled = model.compile(data)
    return compiled.data, {s.name: s.type for s in checked.symbols.values()}


def _gradient_cases(name: str) -> list[tuple[str, tuple, Edge | None]]:
    ref = REFERENCES[name]
    cases = [(f"{name}_s{i}", args, None) for i, args in enumerate(ref.smooth)]
    return cases + [(f"{name}_e{k}", e.args, e) for k, e in enumerate(ref.edges)]


@_per_function
def gradients(names):
    """The gradient model: the arguments of every smooth and edge case are parameters (on the
    real line, so the unconstrained point is the value itself), each case adds
    ``sum(w .* f(args))`` to the target with fixed random weights ``w`` (1 at edges). Returns
    ``{case: (weights, [gradient of each argument])}``."""
    lines, data, point, layout, arguments = [], {}, [], {}, {}
    for name in names:
        for case, args, edge in _gradient_cases(name):
            arguments[case] = args
            names = []
            for j, a in enumerate(args):
                if j in REFERENCES[name].sizes:
                    var = f"s_{case}_{j}"
                    lines.append(f"data {var}: int")
                    data[var] = np.asarray(a)
                else:
                    var = f"p_{case}_{j}"
                    lines.append(f"param {var}: {declaration(np.asarray(a, float))}")
                names.append(var)
            out = np.shape(REFERENCES[name].reference(*args))
            w = np.ones(out) if edge is not None else RNG.uniform(0.5, 1.5, size=out)
            data[f"w_{case}"] = w
            lines.append(f"data w_{case}: {declaration(w)}")
            times = "*" if not out else ".*"
            lines.append(f"target += sum(w_{case} {times} {name}({', '.join(names)}))")
            layout[case] = (w, [(j, np.shape(a)) for j, a in enumerate(args)
                                if j not in REFERENCES[name].sizes])
    compiled = ppl.model("\n".join(lines) + "\n").compile(data)
    for b in compiled.blocks:  # the parameters in the order of the blocks
        case, j = b.name[len("p_"):].rsplit("_", 1)
        point.append(np.ravel(np.asarray(arguments[case][int(j)], float)))
    u = jnp.asarray(np.concatenate(point)) if point else jnp.zeros((0,))  # ones_vector(n)
    grad = np.asarray(jax.jit(jax.grad(compiled.log_density))(u))
    out = {}
    for case, (w, shapes) in layout.items():
        pieces = []
        for j, shape in shapes:
            b = next(b for b in compiled.blocks if b.name == f"p_{case}_{j}")
            pieces.append(grad[b.offset:b.offset + b.size].reshape(shape))
        out[case] = (w, pieces)
    return out


def _finite_differences(ref: Reference, args: tuple, w) -> list[np.ndarray]:
    """Central differences of ``sum(w * reference(args))``, one coordinate at a time (a
    symmetric matrix argument moves two mirrored entries together, each by half the step).
    The outputs are differenced before they are summed, so a large output elsewhere does not
    swamp the change."""
    args = [a if j in ref.sizes else np.asarray(a, float) for j, a in enumerate(args)]

    def change(up, down):
        return float(np.sum(w * (np.asarray(ref.reference(*up)) - ref.reference(*down))))

    grads = []
    for j, a in enumerate(args):
        if j in ref.sizes:  # an int known from the data: no gradient
            continue
        g = np.zeros_like(a)
        for idx in np.ndindex(a.shape):
            h = 1e-6 * max(1.0, abs(float(a[idx])))
            up, down = ([np.copy(x) if k not in ref.sizes else x for k, x in enumerate(args)]
                        for _ in range(2))
            if ref.symmetric and a.ndim == 2:
                mirror = idx[::-1]
                for arr, sign in ((up[j], 1), (down[j], -1)):
                    arr[idx] += sign * h / 2
                    arr[mirror] += sign * h / 2
            else:
                up[j][idx] += h
                down[j][idx] -= h
            g[idx] = change(up, down) / (2 * h)
        grads.append(g)
    return grads


# ------------------------------------------------------------------ coverage of the registry

def test_every_function_has_a_reference():
    """A new registry entry must come with a reference here (and a stale one must go)."""
    assert sorted(FUNCTIONS) == sorted(REFERENCES)


def test_every_function_has_its_gradient_checked():
    """Every function takes reals, so every one has an interior gradient check (constants
    take nothing)."""
    assert [n for n, r in REFERENCES.items()
            if not r.smooth and FUNCTIONS[n].rule != "constant"] == []


# ------------------------------------------------------------------ values

CASES = [(name, i) for name in REFERENCES for i in range(len(_value_cases(name)))]


@pytest.mark.parametrize(("name", "i"), CASES, ids=[f"{n}-{i}" for n, i in CASES])
def test_value_matches_the_reference(name, i):
    computed, types = values(name)
    ref = REFERENCES[name]
    args = _value_cases(name)[i]
    with np.errstate(divide="ignore"):  # log(0) = -inf is the expected value
        expected = np.asarray(ref.reference(*args))
    actual = np.asarray(computed[f"v_{name}_{i}"])
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual.astype(float), expected.astype(float), rtol=ref.rtol,
                               atol=1e-300)


@pytest.mark.parametrize(("name", "i"), CASES, ids=[f"{n}-{i}" for n, i in CASES])
def test_value_has_the_checked_type(name, i):
    """The checker's type (shape, and int for the functions that keep ints) is what the
    implementation computes: an int where the type says int, a real where it says real."""
    computed, types = values(name)
    actual = np.asarray(computed[f"v_{name}_{i}"])
    t = types[f"v_{name}_{i}"]
    assert tuple(t.shape) == actual.shape
    assert ("int" if actual.dtype.kind in "iu" else "real") == t.elem, (name, actual.dtype)


def test_to_vector_is_column_major():
    """docs/functions.md: 'the matrix's elements as a vector, column by column (as in Stan)'."""
    computed, _ = values("to_vector")
    i = REFERENCES["to_vector"].cases.index(([[1, 2], [3, 4]],))
    assert np.asarray(computed[f"v_to_vector_{i}"]).tolist() == [1, 3, 2, 4]


# ------------------------------------------------------------------ gradients

SMOOTH = [(name, i) for name, r in REFERENCES.items() for i in range(len(r.smooth))]


@pytest.mark.parametrize(("name", "i"), SMOOTH, ids=[f"{n}-{i}" for n, i in SMOOTH])
def test_gradient_matches_finite_differences(name, i):
    w, grads = gradients(name)[f"{name}_s{i}"]
    ref = REFERENCES[name]
    expected = _finite_differences(ref, ref.smooth[i], w)
    for g, want in zip(grads, expected, strict=True):
        np.testing.assert_allclose(g, want, rtol=1e-6, atol=1e-7)


EDGES = [(name, k) for name, r in REFERENCES.items() for k in range(len(r.edges))]


@pytest.mark.parametrize(("name", "k"), EDGES, ids=[f"{n}-{k}" for n, k in EDGES])
def test_gradient_at_an_edge_of_the_domain(name, k):
    edge = REFERENCES[name].edges[k]
    _, grads = gradients(name)[f"{name}_e{k}"]
    for g, want in zip(grads, edge.grads, strict=True):
        if want is None:
            continue
        assert not np.any(np.isnan(g)), edge.why
        np.testing.assert_allclose(g, want, rtol=1e-9, atol=1e-300, err_msg=edge.why)
