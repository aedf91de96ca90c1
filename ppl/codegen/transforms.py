"""Transforms from the unconstrained space to the constrained types, where NumPyro has none.

:func:`biject_to` is NumPyro's, plus ``unit_vector[K]`` (the sphere), which NumPyro does not
map. Code generation takes every transform from here.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from numpyro.distributions import constraints
from numpyro.distributions.transforms import ParameterFreeTransform
from numpyro.distributions.transforms import biject_to as _numpyro_biject_to


class UnitVectorTransform(ParameterFreeTransform):
    """``x = y / |y|``: R^K onto the unit sphere, Stan's transform for ``unit_vector[K]``.

    It is not a bijection (every ray maps to one point), so there is no Jacobian. What is
    added to the log density in its place, by :meth:`log_abs_det_jacobian`, is ``-|y|^2 / 2``:
    with it the density of ``y`` is ``p(y / |y|) exp(-|y|^2 / 2)``, proper in the radius, and
    integrating the radius out leaves ``p(x)`` with respect to the uniform (surface) measure on
    the sphere, so the x-draws have the declared density. Without it the radius would be
    flat and improper, and a sampler would drift along it.

    The inverse of a unit vector is itself (the point of its ray at radius 1).
    """

    domain = constraints.real_vector
    codomain = constraints.sphere

    def __call__(self, y):
        return y / jnp.linalg.norm(y, axis=-1, keepdims=True)

    def _inverse(self, x):
        return x

    def log_abs_det_jacobian(self, y, x, intermediates=None):
        return -0.5 * jnp.sum(jnp.square(y), axis=-1)


def biject_to(constraint):
    """The transform from the unconstrained space onto ``constraint``'s set."""
    if constraint is constraints.sphere:
        return UnitVectorTransform()
    return PromotingRanks(_numpyro_biject_to(constraint))


class PromotingRanks:
    """A NumPyro transform whose arithmetic may promote ranks. NumPyro's stick-breaking of a
    batch of simplexes adds a (K - 1,) offset to (M, K - 1) values, which JAX refuses when
    ``jax_numpy_rank_promotion`` is "raise" (a setting that code of ppl's own must pass, and
    a user may choose); inside the transform the promotion is NumPyro's intent, not a bug."""

    def __init__(self, transform) -> None:
        self.transform = transform

    def __call__(self, x):
        with jax.numpy_rank_promotion("allow"):
            return self.transform(x)

    def inv(self, y):
        with jax.numpy_rank_promotion("allow"):
            return self.transform.inv(y)

    def log_abs_det_jacobian(self, x, y):
        with jax.numpy_rank_promotion("allow"):
            return self.transform.log_abs_det_jacobian(x, y)

    def inverse_shape(self, shape):
        return self.transform.inverse_shape(shape)
