"""The variational families of the ``advi`` backend: Gaussians over the flat unconstrained
vector, and a family seen through a preconditioner.

A family is a small object with ``name``, ``init(loc, scale)`` (a parameter pytree),
``transform(params, eps)`` (standard normal draws to draws of ``q``, differentiable in
``params``) and ``log_prob(params, z)`` (:class:`Family`). :class:`MeanField` and
:class:`FullRank` are the built-in ones; :class:`Preconditioned` wraps one in the affine map
that the Laplace approximation suggests. A compiled program is specialised to a family's kind
and takes a preconditioner's arrays as an argument (:func:`family_parts`), so that one program
serves every data set of the same shapes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

import jax
import jax.numpy as jnp

Params = dict[str, jax.Array]

_LOG_2PI = math.log(2 * math.pi)


class Family(Protocol):
    """A reparameterisable variational family over R^d."""

    name: str

    def init(self, loc: jax.Array, scale: float) -> Params:
        """Parameters of a member centred at ``loc`` with spread about ``scale``."""
        ...

    def transform(self, params: Params, eps: jax.Array) -> jax.Array:
        """Standard normal draws ``eps`` (n, d) -> draws of q (n, d), differentiable in
        ``params`` (the reparameterisation)."""
        ...

    def log_prob(self, params: Params, z: jax.Array) -> jax.Array:
        """log q(z) for draws of shape (n, d), shape (n,)."""
        ...


@dataclass(frozen=True)
class MeanField:
    """Diagonal Gaussian: ``loc`` and ``log_scale`` vectors."""

    name: str = "meanfield"

    def init(self, loc: jax.Array, scale: float) -> Params:
        return {"loc": loc, "log_scale": jnp.full_like(loc, math.log(scale))}

    def transform(self, params: Params, eps: jax.Array) -> jax.Array:
        return params["loc"][None, :] + jnp.exp(params["log_scale"])[None, :] * eps

    def log_prob(self, params: Params, z: jax.Array) -> jax.Array:
        scaled = (z - params["loc"][None, :]) * jnp.exp(-params["log_scale"])[None, :]
        d = params["loc"].shape[-1]
        return (-0.5 * jnp.sum(scaled ** 2, axis=-1) - jnp.sum(params["log_scale"])
                - 0.5 * d * _LOG_2PI)

    def entropy(self, params: Params) -> jax.Array:
        d = params["loc"].shape[-1]
        return 0.5 * d * (1.0 + _LOG_2PI) + jnp.sum(params["log_scale"])

    def covariance(self, params: Params) -> jax.Array:
        return jnp.diag(jnp.exp(2 * params["log_scale"]))


@dataclass(frozen=True)
class FullRank:
    """Gaussian with a Cholesky factor ``L``: ``chol`` stores L below the diagonal and log of its
    diagonal on it (so L stays a valid factor without constraints)."""

    name: str = "fullrank"

    def init(self, loc: jax.Array, scale: float) -> Params:
        d = loc.shape[-1]
        return {"loc": loc, "chol": jnp.eye(d, dtype=loc.dtype) * math.log(scale)}

    @staticmethod
    def factor(params: Params) -> jax.Array:
        raw = params["chol"]
        return jnp.tril(raw, -1) + jnp.diag(jnp.exp(jnp.diag(raw)))

    def transform(self, params: Params, eps: jax.Array) -> jax.Array:
        return params["loc"][None, :] + eps @ self.factor(params).T

    def log_prob(self, params: Params, z: jax.Array) -> jax.Array:
        chol = self.factor(params)
        scaled = jax.scipy.linalg.solve_triangular(chol, (z - params["loc"][None, :]).T,
                                                    lower=True)
        d = params["loc"].shape[-1]
        return (-0.5 * jnp.sum(scaled ** 2, axis=0) - jnp.sum(jnp.diag(params["chol"]))
                - 0.5 * d * _LOG_2PI)

    def entropy(self, params: Params) -> jax.Array:
        d = params["loc"].shape[-1]
        return 0.5 * d * (1.0 + _LOG_2PI) + jnp.sum(jnp.diag(params["chol"]))

    def covariance(self, params: Params) -> jax.Array:
        chol = self.factor(params)
        return chol @ chol.T


FAMILIES: dict[str, Family] = {"meanfield": MeanField(), "fullrank": FullRank()}


def is_family(value: Any) -> bool:
    """Whether ``value`` can serve as a variational family (it has the protocol's members)."""
    return all(hasattr(value, a) for a in ("name", "init", "transform", "log_prob"))



@dataclass(frozen=True)
class Preconditioned:
    """A family over ``w`` seen through ``z = shift + P w``: the optimiser works where the
    posterior is roughly standard normal (Adam's steps are in absolute units, so a coefficient
    with sd 1e-3 next to one with sd 10 otherwise never converges). ``P`` is the Laplace
    covariance's Cholesky factor for full-rank families and a diagonal for mean-field ones, so a
    mean-field family stays mean-field in ``z``."""

    base: Any
    shift: jax.Array
    scale: jax.Array  # P, lower triangular

    @property
    def name(self) -> str:
        return self.base.name

    def init(self, loc: jax.Array, scale: float) -> Params:
        return self.base.init(jnp.zeros_like(loc), 1.0)

    def transform(self, params: Params, eps: jax.Array) -> jax.Array:
        return self.shift[None, :] + self.base.transform(params, eps) @ self.scale.T

    def log_prob(self, params: Params, z: jax.Array) -> jax.Array:
        w = jax.scipy.linalg.solve_triangular(self.scale, (z - self.shift[None, :]).T,
                                              lower=True).T
        return self.base.log_prob(params, w) - jnp.sum(jnp.log(jnp.abs(jnp.diag(self.scale))))

    def entropy(self, params: Params) -> jax.Array:
        return self.base.entropy(params) + jnp.sum(jnp.log(jnp.abs(jnp.diag(self.scale))))

    def covariance(self, params: Params) -> jax.Array:
        return self.scale @ self.base.covariance(params) @ self.scale.T


def family_parts(family: Any) -> tuple[Any, tuple[jax.Array, jax.Array] | None]:
    """A family as what a compiled program is specialised to (the family itself, or the base of
    a :class:`Preconditioned` one) and the arrays it takes as an argument (the shift and scale
    found from the data, or None), so that one program serves every preconditioner."""
    if isinstance(family, Preconditioned):
        return family.base, (family.shift, family.scale)
    return family, None


def with_parts(base: Any, arrays: tuple[jax.Array, jax.Array] | None) -> Any:
    """The family that :func:`family_parts` split, put together again."""
    return base if arrays is None else Preconditioned(base, *arrays)


__all__ = ["FAMILIES", "Family", "FullRank", "MeanField", "Params", "Preconditioned",
           "family_parts", "is_family", "with_parts"]
