"""Missing entries of observed data, imputed as parameters.

An observed array whose data holds NaN (``null`` in JSON, an empty CSV cell, NA in pandas) is
completed by a parameter ``<name>_unobserved``, one unconstrained value per missing entry.
The positions of the missing entries are data (``missing_key(name)``: an integer array of
shape ``(count, rank)``, 0-based), so they are an argument of the compiled programs: another
missingness pattern with the same count reuses them. The completed array has the same
distribution as the data: the observed entries contribute the likelihood, the missing ones
their density given the parameters (the prior part, so tempered methods start from it).
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from ppl.codegen.transforms import biject_to

UNOBSERVED = "_unobserved"


def missing_key(name: str) -> str:
    """The data entry holding the positions of the missing entries of ``name`` (not a name a
    model can spell, so it cannot clash with a declared quantity)."""
    return f"{name}[missing]"


def unobserved_name(name: str) -> str:
    """The parameter holding the imputed entries of ``name`` (PyMC's name for it)."""
    return name + UNOBSERVED


def missing_counts(data: Mapping[str, object]) -> dict[str, int]:
    """``{observed name: number of missing entries}`` from the bound data."""
    suffix = missing_key("")
    return {key[: -len(suffix)]: int(np.shape(value)[0]) for key, value in data.items()
            if key.endswith(suffix)}


def positions(env: Mapping[str, jax.Array], name: str) -> tuple[jax.Array, ...]:
    """The missing entries of ``name`` as an index tuple (one integer array per axis)."""
    where = env[missing_key(name)]
    return tuple(where[:, axis] for axis in range(where.shape[1]))


def mask(env: Mapping[str, jax.Array], name: str, shape) -> jax.Array:
    """True at the missing entries of ``name``."""
    return jnp.zeros(shape, bool).at[positions(env, name)].set(True)


def complete(transform, raw: jax.Array, env, name: str, shape, dtype,
             given: jax.Array | None = None) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(imputed values, completed array, log |Jacobian| per entry, zero where observed) from
    the unconstrained values ``raw`` (or the constrained ``given``). The element-wise
    ``transform`` (to the data's declared bounds or the distribution's support) is applied to
    an array of the full shape, so that bounds that vary by element line up."""
    where = positions(env, name)
    full_raw = jnp.zeros(shape, dtype).at[where].set(raw)
    full = transform(full_raw)
    values = full[where] if given is None else jnp.asarray(given, dtype)
    full = full.at[where].set(values)
    log_jac = jnp.where(mask(env, name, shape),
                        jnp.broadcast_to(transform.log_abs_det_jacobian(full_raw, full), shape),
                        0.0)
    completed = jnp.asarray(env[name], dtype).at[where].set(values)
    return values, completed, log_jac


def unconstrained(constraint, values: jax.Array, env, name: str, dtype) -> jax.Array:
    """The unconstrained image of imputed ``values`` (inverse of :func:`complete`)."""
    where = positions(env, name)
    completed = jnp.asarray(env[name], dtype).at[where].set(jnp.asarray(values, dtype))
    # Observed entries are in the support (else the likelihood is -inf anyway); only the
    # missing ones are read back.
    return biject_to(constraint).inv(completed)[where]


def coordinates(where: np.ndarray) -> np.ndarray:
    """Coordinate labels of the imputed entries: their 1-based positions in the data (``3``
    for a vector, ``"2,3"`` for a matrix)."""
    where = np.asarray(where)
    if where.shape[1] == 1:
        return where[:, 0] + 1
    return np.asarray([",".join(str(i + 1) for i in row) for row in where])
