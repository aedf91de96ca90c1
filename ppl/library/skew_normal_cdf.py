"""The skew normal's log CDF, accurate in both tails.

The CDF of a standard skew normal with shape alpha is ``F(z) = Phi(z) - 2 T(z, alpha)``, with
Owen's T function ``T(h, a) = 1 / (2 pi) int_0^a exp(-h^2 (1 + x^2) / 2) / (1 + x^2) dx``
(even in h, odd in a). Written as it stands the difference cancels wherever F is small compared
with Phi(z): in the lower tail for alpha > 0, F falls like ``exp(-z^2 (1 + alpha^2) / 2)``
while Phi(z) falls like ``exp(-z^2 / 2)``, and scipy's ``skewnorm.cdf`` returns 0 or noise
there. So each region gets a form that is a sum of positive terms or cancels by a bounded
factor (h = |z|, a = |alpha|):

- alpha <= 0, anywhere; 0 < alpha <= 1 with z >= 0; or alpha > 0, z < 0 with a h < 2:
  ``log Phi(z) + log1p(-2 T / Phi(z))``, the ratio taken on the log scale (no underflow);
- alpha > 0, z < 0, a h >= 2: ``F = 2 U(h, a)``, with ``U(h, a) = 1/(2 pi) int_a^inf ...``
  the rest of Owen's integral, by Gauss-Laguerre quadrature on the log scale (the lower tail);
- alpha > 1, z < 0, a h < 2: ``F = 2 T(a h, 1 / a) - Q(a h) erf(h / sqrt 2)`` (Q = 1 - Phi);
- alpha > 1, z >= 0: ``F = Phi(a z) erf(z / sqrt 2) + 2 T(a z, 1 / a)`` (both positive).

T with |a| <= 1 is a Gauss-Legendre quadrature of ``int_0^atan(a) exp(-h^2 tan^2(t) / 2) dt``
(its integrand is smooth there), cut where the integrand is below e^-72; |a| > 1 goes through
``T(h, a) = Q(h) / 2 + Q(a h) erf(h / sqrt 2) / 2 - T(a h, 1 / a)`` (h >= 0), whose
cancellation loses at most a factor 4. The upper tail is the lower tail of the mirror image:
``1 - F(z; alpha) = F(-z; -alpha)``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import erf, log_ndtr, ndtr

LOG_2PI = 1.8378770664093453
SQRT_HALF = 0.7071067811865476
# Gauss-Legendre on [0, 1] (40 nodes: exact to degree 79; the integrands are Gaussian-like
# over at most 12 standard deviations, where that leaves ~1e-16) and Gauss-Laguerre (48
# nodes: its integrand's nearest singularity is at distance a^2 h^2 / 2 >= 2 from 0).
_X, _W = np.polynomial.legendre.leggauss(40)
_LEGENDRE_NODES, _LEGENDRE_WEIGHTS = (_X + 1) / 2, _W / 2
_LAGUERRE_NODES, _LAGUERRE_WEIGHTS = np.polynomial.laguerre.laggauss(48)
# Beyond 12 / h the integrand of T is below e^-72 of its value at 0.
_REACH = 12.0
# Standardised values are clamped here: the CDFs are 0 or 1 to the last digit beyond.
_FAR = 1e10


def _last_axis(nodes, like):
    """Quadrature nodes or weights on a new last axis after the dimensions of ``like``."""
    return jnp.reshape(jnp.asarray(nodes), (1,) * jnp.ndim(like) + (-1,))


def _owens_integral(h, a):
    """``2 pi e^(h^2 / 2) T(h, a)`` for |a| <= 1: the integral of exp(-h^2 tan^2(t) / 2) over
    [0, atan a], signed as a. The cut at 12 / h bounds only where the integrand is negligible,
    so it carries no gradient."""
    h, a = jnp.broadcast_arrays(h, a)
    reach = jax.lax.stop_gradient(_REACH / jnp.maximum(jnp.abs(h), 1e-300))
    end = jnp.clip(jnp.arctan(a), -reach, reach)
    t = end[..., None] * _last_axis(_LEGENDRE_NODES, end)
    values = jnp.exp(-0.5 * jnp.square(h)[..., None] * jnp.square(jnp.tan(t)))
    return end * jnp.sum(values * _last_axis(_LEGENDRE_WEIGHTS, end), axis=-1)


def _owens_t(h, a):
    """T(h, a) for h >= 0 and 0 < a <= 1 (a plain value: used where it does not underflow)."""
    return jnp.exp(-0.5 * jnp.square(h)) * _owens_integral(h, a) / (2 * jnp.pi)


def _t_over_phi(z, alpha):
    """T(z, alpha) / Phi(z), every term a ratio of logs (no underflow in either tail)."""
    h = jnp.abs(z)
    log_phi = log_ndtr(z)
    small = jnp.abs(alpha) <= 1
    direct = (_owens_integral(h, jnp.where(small, alpha, 0.5)) / (2 * jnp.pi)
              * jnp.exp(-0.5 * jnp.square(h) - log_phi))
    a = jnp.where(small, 2.0, jnp.abs(alpha))
    ah = a * h
    swapped = (0.5 * jnp.exp(log_ndtr(-h) - log_phi)
               + 0.5 * erf(h * SQRT_HALF) * jnp.exp(log_ndtr(-ah) - log_phi)
               - _owens_integral(ah, 1 / a) / (2 * jnp.pi)
               * jnp.exp(-0.5 * jnp.square(ah) - log_phi))
    return jnp.where(small, direct, jnp.sign(alpha) * swapped)


def _log_upper_owens(h, a):
    """log U(h, a), ``U = 1/(2 pi) int_a^inf exp(-h^2 (1 + x^2) / 2) / (1 + x^2) dx``, for a h
    >= 2: with v = 1 + x^2 and v = 1 + a^2 + 2 u / h^2 it is e^(-h^2 (1 + a^2) / 2) / (2 pi
    h^2) times int_0^inf e^-u g(u) du, g(u) = 1 / ((1 + a^2 + w) sqrt(a^2 + w)), w = 2 u / h^2."""
    h, a = jnp.broadcast_arrays(h, a)
    w = 2 * _last_axis(_LAGUERRE_NODES, h) / jnp.square(h)[..., None]
    a2 = jnp.square(a)[..., None]
    g = 1 / ((1 + a2 + w) * jnp.sqrt(a2 + w))
    return (-0.5 * jnp.square(h) * (1 + jnp.square(a)) - LOG_2PI - 2 * jnp.log(h)
            + jnp.log(jnp.sum(g * _last_axis(_LAGUERRE_WEIGHTS, h), axis=-1)))


def skew_normal_lcdf_std(z, alpha):
    """log F(z) of the standard skew normal with shape alpha, element-wise (module docstring:
    which form in which region)."""
    z, alpha = jnp.broadcast_arrays(jnp.clip(z, -_FAR, _FAR), jnp.asarray(alpha, float))
    lower_tail = (alpha > 0) & (z < 0)
    laguerre = lower_tail & (-alpha * z >= 2)
    lower_big = lower_tail & ~laguerre & (alpha > 1)
    upper_big = (alpha > 1) & (z >= 0)
    general = ~(laguerre | lower_big | upper_big)

    zg, ag = jnp.where(general, z, 0.0), jnp.where(general, alpha, 0.5)
    by_ratio = log_ndtr(zg) + jnp.log1p(-2 * _t_over_phi(zg, ag))

    hl, al = jnp.where(laguerre, -z, 2.0), jnp.where(laguerre, alpha, 2.0)
    by_laguerre = jnp.log(2.0) + _log_upper_owens(hl, al)

    hb, ab = jnp.where(lower_big, -z, 0.5), jnp.where(lower_big, alpha, 2.0)
    below = 2 * _owens_t(ab * hb, 1 / ab) - ndtr(-ab * hb) * erf(hb * SQRT_HALF)

    zu, au = jnp.where(upper_big, z, 0.5), jnp.where(upper_big, alpha, 2.0)
    above = ndtr(au * zu) * erf(zu * SQRT_HALF) + 2 * _owens_t(au * zu, 1 / au)

    plain = jnp.log(jnp.maximum(jnp.where(lower_big, below, above), 1e-300))
    return jnp.where(general, by_ratio,
                     jnp.where(laguerre, by_laguerre, plain))


@jax.jit  # compiled once per shape: the quadratures are many small ops
def skew_normal_log_cdfs(y, xi, omega, alpha):
    """(log P(Y <= y), log P(Y > y)) of Stan's skew_normal(xi, omega, alpha)."""
    y, xi, omega, alpha = jnp.broadcast_arrays(y, xi, omega, alpha)
    z = (y - xi) / omega
    return skew_normal_lcdf_std(z, alpha), skew_normal_lcdf_std(-z, -alpha)
