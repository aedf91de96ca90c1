"""The random keys of a run, computed on the host: ``jax.random``'s keys, bit for bit.

``jax.random.PRNGKey``, ``split`` and ``fold_in`` each run a small XLA program, compiled at its
first call in a process (and at each new shape): a cold run of ppl paid 0.5-1.5 s of such
compilations before its first draw (low_dim_gauss_mix, logistic regression: ``_threefry_seed``,
``_threefry_split``, ``unstack``, ``_threefry_fold_in``), on the main thread while the sampler's
program compiled on the other core. A key is two 32-bit words and its derivation a fixed hash
(Threefry-2x32, 20 rounds; Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC11),
so NumPy computes the same keys in microseconds. ``tests/test_keys.py`` checks them against
``jax.random`` for many seeds, counts and data, so a JAX that changed its derivation would fail
there, not give other draws unseen.
"""

from __future__ import annotations

import jax
import numpy as np

_WORD = 0xFFFFFFFF
# Threefry-2x32's rotation distances, four rounds each, alternating; its key-schedule parity.
_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
_PARITY = 0x1BD11BDA


def _threefry_2x32(key: np.ndarray, high: np.ndarray, low: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """The Threefry-2x32 hash (20 rounds) of the counter words ``(high, low)`` under ``key``
    (two uint32 words), element by element."""
    k0, k1 = (np.uint32(w) for w in key)
    schedule = (k0, k1, np.uint32(int(k0) ^ int(k1) ^ _PARITY))
    x0 = np.asarray(high, np.uint32) + schedule[0]
    x1 = np.asarray(low, np.uint32) + schedule[1]
    for block in range(5):
        for distance in _ROTATIONS[block % 2]:
            x0 = x0 + x1
            x1 = (x1 << np.uint32(distance)) | (x1 >> np.uint32(32 - distance))
            x1 = x1 ^ x0
        x0 = x0 + schedule[(block + 1) % 3]
        x1 = x1 + schedule[(block + 2) % 3] + np.uint32(block + 1)
    return x0, x1


def words(key) -> np.ndarray:
    """A key's two uint32 words, from a raw key (``jax.random.PRNGKey``'s) or a typed one."""
    if jax.dtypes.issubdtype(getattr(key, "dtype", np.uint32), jax.dtypes.prng_key):
        key = jax.random.key_data(key)
    return np.asarray(key, np.uint32).reshape(2)


def seed_key(seed: int) -> np.ndarray:
    """``jax.random.PRNGKey(seed)`` (64-bit mode): the seed's 64 bits as two words."""
    value = int(seed) % 2**64
    return np.array([value >> 32, value & _WORD], np.uint32)


def split(key, count: int) -> np.ndarray:
    """``jax.random.split(key, count)``: ``count`` new keys, shape (count, 2)."""
    if not jax.config.jax_threefry_partitionable:
        # JAX's other derivation of split keys (its default before JAX 0.5): left to JAX
        return np.asarray(jax.random.split(words(key), count))
    first, second = _threefry_2x32(words(key), np.zeros(count, np.uint32),
                                   np.arange(count, dtype=np.uint32))
    return np.stack([first, second], axis=-1)


def fold_in(key, data: int) -> np.ndarray:
    """``jax.random.fold_in(key, data)``: the key ``key`` and the 32-bit ``data`` hash to."""
    first, second = _threefry_2x32(words(key), np.zeros(1, np.uint32),
                                   np.array([int(data) & _WORD], np.uint32))
    return np.concatenate([first, second])

