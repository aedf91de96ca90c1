"""The von Mises CDFs, Stan's: those of the angle in [-pi, pi].

Stan's ``von_mises_cdf(y | mu, kappa)`` is ``P(-pi <= Y <= y)`` for y in [-pi, pi], the angle Y
having the periodic von Mises density centred at mu (which may lie anywhere). With ``G`` the
cumulative integral of the density centred at 0 from -pi (``G(x + 2 pi) = G(x) + 1``), that is
``G(y - mu) - G(-pi - mu)``, and the CCDF is ``G(pi - mu) - G(y - mu)``; below -pi the CDF is
0, above pi it is 1, so the mass of ``T[-pi, pi]`` is exactly 1 and a declared
``real<lower=-pi, upper=pi>`` angle keeps Stan's density.

``G`` on [-pi, pi] is computed as scipy's ``vonmises.cdf`` (Hill's algorithm, ACM TOMS 518):
for kappa < 50, ``1/2 + x / (2 pi) + 1/pi sum_n I_n(kappa) / I_0(kappa) sin(n x) / n``, the
Bessel ratios from their continued fraction run backwards (60 terms, at least as many as
scipy's ``28 + kappa / 2`` for every kappa < 50); for kappa >= 50, the normal approximation
``Phi(b sin(x / 2))``, ``b = sqrt(2 / pi) / i0e(kappa)``, on the log scale. Both are accurate
to ~1e-12 in absolute terms; in the series' far tails (kappa near 50, x near -pi) the relative
accuracy of a CDF below ~1e-12 is lost, as scipy's.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.scipy.special import i0e, log_ndtr

_TERMS = 60
_CUT = 50.0  # kappa at and above which the normal approximation is used (scipy's)
TWO_PI = 2 * jnp.pi


def _series(x, kappa):
    """G(x) for x in [-pi, pi] and kappa < 50 (Hill's series)."""
    s, c = jnp.sin(x), jnp.cos(x)

    def term(i, state):
        r, v, sn, cn = state
        n = _TERMS - 1 - i  # from _TERMS - 1 down to 1
        sn, cn = sn * c - cn * s, cn * c + sn * s  # sin(n x), cos(n x)
        r = 1.0 / (2.0 * n / kappa + r)
        return r, r * (sn / n + v), sn, cn

    zero = jnp.zeros_like(x)
    start = (zero, zero, jnp.sin(_TERMS * x), jnp.cos(_TERMS * x))
    _, v, _, _ = jax.lax.fori_loop(0, _TERMS - 1, term, start)
    return 0.5 + x / TWO_PI + v / jnp.pi


def _safe_log(p):
    """log p, -inf at p <= 0 with a zero (not NaN) gradient there."""
    positive = p > 0
    return jnp.where(positive, jnp.log(jnp.where(positive, p, 1.0)), -jnp.inf)


def _centred(x, kappa):
    """(G(x), 1 - G(x), log G(x), log(1 - G(x))) for x in [-pi, pi] (1 - G(x) = G(-x) by
    symmetry); the logs of the normal approximation from log_ndtr, with their tails."""
    series = kappa < _CUT
    k_series = jnp.maximum(jnp.where(series, kappa, 1.0), 1e-100)
    below = jnp.clip(_series(x, k_series), 0.0, 1.0)
    above = jnp.clip(_series(-x, k_series), 0.0, 1.0)
    b = jnp.sqrt(2 / jnp.pi) / i0e(jnp.where(series, _CUT, kappa))
    z = b * jnp.sin(0.5 * x)
    lcdf = jnp.where(series, _safe_log(below), log_ndtr(z))
    lccdf = jnp.where(series, _safe_log(above), log_ndtr(-z))
    return (jnp.where(series, below, jnp.exp(lcdf)), jnp.where(series, above, jnp.exp(lccdf)),
            lcdf, lccdf)


def _unwrapped(x, kappa):
    """G(x) on the whole line: the whole turns of x, and the centred forms of the rest."""
    turns = jax.lax.stop_gradient(jnp.round(x / TWO_PI))
    return (turns, *_centred(x - TWO_PI * turns, kappa))


@jax.jit  # compiled once per shape: the quadratures are many small ops
def von_mises_log_cdfs(y, mu, kappa):
    """(log P(Y <= y), log P(Y > y)) for the angle Y in [-pi, pi] of von_mises(mu, kappa)."""
    y, mu, kappa = jnp.broadcast_arrays(y, mu, kappa)
    inside = (y > -jnp.pi) & (y < jnp.pi)
    y_in = jnp.where(inside, y, 0.0)
    at, cdf_at, ccdf_at, lcdf_at, lccdf_at = _unwrapped(y_in - mu, kappa)
    lo, cdf_lo, _, _, _ = _unwrapped(-jnp.pi - mu, kappa)
    hi, _, ccdf_hi, _, _ = _unwrapped(jnp.pi - mu, kappa)
    # G(y - mu) - G(-pi - mu) and G(pi - mu) - G(y - mu), clamped into [0, 1] (the mass of
    # [-pi, pi] is 1) against rounding; where the other end adds nothing (mu = 0), the
    # centred logs themselves, which keep the digits of the tails
    cdf = jnp.clip((at - lo) + cdf_at - cdf_lo, 0.0, 1.0)
    ccdf = jnp.clip((hi - at) - ccdf_hi + ccdf_at, 0.0, 1.0)
    lcdf = jnp.where((at == lo) & (cdf_lo == 0), lcdf_at, _safe_log(cdf))
    lccdf = jnp.where((hi == at) & (ccdf_hi == 0), lccdf_at, _safe_log(ccdf))
    return (jnp.where(inside, lcdf, jnp.where(y <= -jnp.pi, -jnp.inf, 0.0)),
            jnp.where(inside, lccdf, jnp.where(y <= -jnp.pi, 0.0, -jnp.inf)))
