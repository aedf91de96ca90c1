"""How a run's chains sit on the devices, and the compiled programs that start and advance
them (:class:`ChainLayout`): vectorised on one device, split over the host devices by
``shard_map``, or one after another. The programs take the data as an argument and are
compiled by a ``jit(name, function, **placement)`` the caller chooses (:func:`plain_jit`, or a
model's programs kept on disk, see :mod:`ppl.codegen.stored`). Used by
:mod:`ppl.backends.hmc_chains`, which drives the chunks."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import PartitionSpec as P


def _record(state) -> dict:
    return {"z": state.z, "diverging": state.diverging, "num_steps": state.num_steps,
            "step_size": state.adapt_state.step_size, "energy": state.energy,
            "potential_energy": state.potential_energy, "accept_prob": state.accept_prob,
            "trajectory_length": state.trajectory_length}


def chunk_function(step: Callable, capacity: int) -> Callable:
    """``(state, n) -> (state, records)``: ``n <= capacity`` steps, their records in the first
    ``n`` rows of buffers of ``capacity`` rows (``n`` is traced: one program for every
    chunk length)."""

    def chunk(state, n):
        template = _record(state)
        buffers = jax.tree.map(lambda r: jnp.zeros((capacity,) + r.shape, r.dtype), template)

        def body(i, carry):
            state, buffers = carry
            state = step(state)
            buffers = jax.tree.map(lambda b, r: b.at[i].set(r), buffers, _record(state))
            return state, buffers

        return jax.lax.fori_loop(0, n, body, (state, buffers))

    return chunk


class DataBox:
    """The data that the potential reads while a program is traced: each program takes the
    data as its last argument and puts it here for the length of the trace, so the kernels,
    built once, close over the program's argument rather than over constant arrays."""

    def __init__(self) -> None:
        self.value: Any = None

    def reading(self, function: Callable) -> Callable:
        """``function`` with one more, last argument: the data, boxed while it runs."""

        def run(*args, **kwargs):
            *args, data = args
            self.value = data
            try:
                return function(*args, **kwargs)
            finally:
                self.value = None

        return run


def devices_for(chains: int, devices: int) -> int:
    """How many devices ``chains`` parallel chains use: the largest divisor of ``chains`` that
    is at most ``devices`` (each device then runs ``chains / that`` chains vectorised)."""
    return max(d for d in range(1, min(chains, devices) + 1) if chains % d == 0)


# XLA's CPU runtime reads a host array in place (no copy) when it starts on this boundary.
HOST_ALIGNMENT = 64


def aligned_copy(value: np.ndarray, alignment: int = HOST_ALIGNMENT) -> np.ndarray:
    """A C-ordered copy of ``value`` whose data start on an ``alignment``-byte boundary."""
    value = np.asarray(value)
    raw = np.empty(value.nbytes + alignment, np.uint8)
    start = -raw.ctypes.data % alignment
    copy = raw[start:start + value.nbytes].view(value.dtype).reshape(value.shape)
    copy[...] = value
    return copy


def replicated(value: Any, sharding: jax.sharding.NamedSharding) -> jax.Array:
    """``value`` on every device of ``sharding`` (which must replicate it). The CPU devices
    share one host copy: each device's buffer aliases the same aligned array, so 4 chains
    of a regression read one design matrix rather than 4 copies that crowd each other out of
    the shared cache (logistic regression 20000 x 50: 8 MB each, 32 MB of L3). Other devices
    get a copy each."""
    devices = list(sharding.mesh.devices.flat)
    if any(device.platform != "cpu" for device in devices):
        return jax.device_put(value, sharding)
    host = aligned_copy(value)  # ours: never written, so safe to alias
    shards = [jax.device_put(host, device, may_alias=True) for device in devices]
    return jax.make_array_from_single_device_arrays(host.shape, sharding, shards)


def plain_jit(name: str, function: Callable, **placement) -> Callable:
    """The layout's programs when nothing keeps them on disk: ``jax.jit``."""
    return jax.jit(function, **placement)


def _one_chain_each(function: Callable, in_axes: tuple, out_axes: Any) -> Callable:
    """``function`` of one chain applied to a block holding one chain (a device's block of
    ``shard_map``), with the chain axis of each argument (``in_axes``, None: not split) and of
    each output (``out_axes``, a prefix of the outputs' tree) as ``jax.vmap`` would place
    them. Not ``vmap`` itself: NumPyro's vectorised tree building traces and compiles several
    times longer than one chain's (eight schools' warm-up chunk: 0.75 s against 0.12 s)."""
    def run(*args):
        one = [a if axis is None else jax.tree.map(lambda x: x[0], a)
               for a, axis in zip(args, in_axes, strict=True)]
        out = function(*one)
        axes = out_axes if isinstance(out_axes, tuple) else (out_axes,)
        outs = out if isinstance(out_axes, tuple) else (out,)
        placed = tuple(jax.tree.map(lambda x, axis=axis: jnp.expand_dims(x, axis), o)
                       for o, axis in zip(outs, axes, strict=True))
        return placed if isinstance(out_axes, tuple) else placed[0]
    return run


def _shapes(tree: Any, leading: int = 0, sharding: Any = None) -> Any:
    """Each leaf's shape (less its first ``leading`` axes), type and weak type, as
    ShapeDtypeStructs placed by ``sharding`` (None: anywhere)."""
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(
        jnp.shape(x)[leading:], jnp.result_type(x), sharding=sharding,
        weak_type=getattr(x, "weak_type", False)), tree)


class _InitTracedFirst:
    """NumPyro's ``hmc()`` sample kernel reads settings that its init kernel sets while it is
    traced (the tree depth, the adaptation's update function). A process whose init program
    came from disk (:mod:`ppl.codegen.stored`) never traces it, so a chunk program traced
    there first traces the init kernel abstractly (``jax.eval_shape``) at the shapes of the
    run's first call (``shapes``: one chain's point, key and resumed settings, and the data)."""

    def __init__(self, init: Callable) -> None:
        self._raw = init
        self.traced = False
        self.shapes: tuple | None = None

    def init(self, *args):
        self.traced = True
        return self._raw(*args)

    def before(self, chunk: Callable) -> Callable:
        def run(*args):
            if not self.traced:
                jax.eval_shape(self.init, *self.shapes)
            return chunk(*args)
        return run


class ChainLayout:
    """How the chains sit on the devices: ``vectorized`` (one device, in lockstep),
    ``parallel`` (the chains split over the devices by ``shard_map``, vectorised within each
    device when there are fewer devices than chains) or ``sequential`` (one after another,
    chunk by chunk). ``init`` and ``advance`` take the data (a pytree of arrays, the same for
    every chain) as an argument of the compiled programs; ``advance`` returns records as
    (chains, n, ...) NumPy arrays. ``jit(name, function, **placement)`` compiles each program
    (:func:`plain_jit`, or a model's programs kept on disk)."""

    def __init__(self, method: str, init: Callable, step: Callable, capacity: int,
                 box: DataBox, chains: int = 1, jit: Callable = plain_jit):
        self.method = method
        self.chains = chains
        self.capacity = capacity  # the most iterations one chunk holds
        self.devices = devices_for(chains, jax.local_device_count()) \
            if method == "parallel" else 1
        self._state_sharding = None  # where init leaves the chains' state (parallel: split)
        self._whole_sharding = None  # where the data sit (parallel: on every device)
        self._kernels = _InitTracedFirst(box.reading(init))
        init = self._kernels.init
        if method == "sequential":
            self._init = jit("init", init)
            self._chunk = jit("chunk", self._kernels.before(
                box.reading(chunk_function(step, capacity))))
            return
        if method not in ("vectorized", "parallel"):
            raise ValueError(method)
        if method == "parallel" and chains == self.devices:
            # a chain per device: its program is one chain's, not vectorised
            batched_init = _one_chain_each(init, (0, 0, 0, None), 0)
            chunk = self._kernels.before(_one_chain_each(
                box.reading(chunk_function(step, capacity)), (0, None, None), (0, 1)))
        else:
            batched_init = jax.vmap(init, in_axes=(0, 0, 0, None))
            chunk = self._kernels.before(box.reading(chunk_function(jax.vmap(step),
                                                                    capacity)))
        if method == "vectorized":
            self._init, self._chunk = jit("init", batched_init), jit("chunk", chunk)
            return
        mesh = jax.sharding.Mesh(np.array(jax.local_devices()[:self.devices]), ("chains",))
        by_chain, whole = P("chains"), P()
        records = P(None, "chains")  # (capacity, chains, ...)
        placed = functools.partial(jax.sharding.NamedSharding, mesh)
        # check_vma=False: NumPyro's tree building returns values from lax.cond branches that
        # shard_map's type check sees as varying over the chains in one branch and not in the
        # other (every chain's values are its own, so nothing is lost by not checking).
        self._init = jit("init", jax.shard_map(
            batched_init, mesh=mesh, in_specs=(by_chain, by_chain, by_chain, whole),
            out_specs=by_chain, check_vma=False),
            in_shardings=tuple(map(placed, (by_chain, by_chain, by_chain, whole))),
            out_shardings=placed(by_chain))
        self._chunk = jit("chunk", jax.shard_map(
            chunk, mesh=mesh, in_specs=(by_chain, whole, whole),
            out_specs=(by_chain, records), check_vma=False),
            in_shardings=(placed(by_chain), placed(whole), placed(whole)),
            out_shardings=(placed(by_chain), placed(records)))
        self._state_sharding = placed(by_chain)
        self._whole_sharding = placed(whole)

    def place_data(self, data):
        """``data`` where the programs read them: with parallel chains, on every device (the
        CPU devices sharing one copy, see :func:`replicated`), placed here once (handed data
        on one device, every chunk copied them to each device again: the logistic
        regression's 8 MB matrix took 11 ms a chunk)."""
        if self._whole_sharding is None:
            return data
        return jax.tree.map(lambda value: replicated(value, self._whole_sharding), data)

    def init(self, points, keys, data, **resumed):
        """The chains' first state; ``data`` as :meth:`place_data` leaves them. ``points``:
        (chains, dimension), or NumPyro's ``ParamInfo`` of the points, their potential
        energies and its gradients (the init program then evaluates nothing)."""
        self.compile_ahead(points, keys, data, **resumed)
        if self.method == "sequential":
            return [self._init(jax.tree.map(lambda x, c=c: x[c], points), k,
                               {n: v[c] for n, v in resumed.items()}, data)
                    for c, k in enumerate(keys)]
        if self._state_sharding is not None:  # each chain's start to its device, once
            points, keys, resumed = jax.device_put((points, keys, resumed),
                                                   self._state_sharding)
        return self._init(points, keys, resumed, data)

    def following(self, previous: ChainLayout) -> ChainLayout:
        """This layout, set to advance the chains that ``previous`` started (the same
        methods, chains and shapes; another kernel setting): its chunk program is traced at
        the shapes ``previous``'s first call gave."""
        self._kernels.shapes = previous._kernels.shapes
        return self

    def compile_ahead(self, points, keys, data, **resumed) -> None:
        """Have the init and chunk programs for these arguments (arrays, or
        ``jax.ShapeDtypeStruct``) compiled on threads while the caller goes on (programs kept
        on disk only, see StoredProgram.compile_ahead); ``init`` and ``advance`` wait for them.
        The chunk's state is the init program's output, whose shapes the init's executable gives
        (read from disk in a warm run: nothing traced). Nothing is done twice: a program
        already compiled or compiling is left as it is."""
        one_chain = _shapes((points, keys, resumed), leading=1)
        self._kernels.shapes = (*one_chain, _shapes(data))
        if not hasattr(self._chunk, "compile_ahead"):
            return
        # sequential: one chain's programs; parallel: placed as init and place_data place them
        arguments = one_chain if self.method == "sequential" else _shapes(
            (points, keys, resumed), sharding=self._state_sharding)
        data = _shapes(data, sharding=self._whole_sharding)
        self._init.compile_ahead(*arguments, data)
        state = _shapes(self._init.output_shapes(*arguments, data),
                        sharding=self._state_sharding)
        self._chunk.compile_ahead(state, jax.ShapeDtypeStruct((), np.int32), data)

    def advance(self, state, n: int, data):
        count = np.int32(n)
        if self.method == "sequential":
            results = [self._chunk(s, count, data) for s in state]
            records = [jax.tree.map(lambda b: np.asarray(b)[:n], r) for _, r in results]
            return ([s for s, _ in results],
                    {k: np.stack([r[k] for r in records]) for k in records[0]})
        state, records = self._chunk(state, count, data)  # (capacity, chains, ...)
        return state, {k: np.swapaxes(np.asarray(v)[:n], 0, 1) for k, v in records.items()}

    def field(self, state, get: Callable) -> np.ndarray:
        """A field of every chain's state, (chains, ...)."""
        if self.method == "sequential":
            return np.stack([np.asarray(get(s)) for s in state])
        return np.asarray(get(state))

    def diagonal_metric(self, state):
        """``state`` with every chain's dense inverse mass matrix replaced by its diagonal (as
        a matrix, with the square roots NumPyro's dense kernel keeps beside it): the dense
        kernel then runs with a diagonal metric (:mod:`ppl.backends.metric_choice`)."""
        def diagonal(s):
            adapt = s.adapt_state
            # on the host: JAX's op-by-op dispatch over the chains' devices took 6 ms a call
            inverse = np.asarray(adapt.inverse_mass_matrix)
            eye = np.broadcast_to(np.eye(inverse.shape[-1], dtype=inverse.dtype),
                                  inverse.shape)
            scales = np.sqrt(np.diagonal(inverse, axis1=-2, axis2=-1))[..., None]
            # placed as before, so that the chunk program takes them as it is compiled
            return s._replace(adapt_state=adapt._replace(**{
                name: jax.device_put(value, getattr(adapt, name).sharding) for name, value in
                (("inverse_mass_matrix", inverse * eye), ("mass_matrix_sqrt", eye / scales),
                 ("mass_matrix_sqrt_inv", eye * scales))}))

        if self.method == "sequential":
            return [diagonal(s) for s in state]
        return diagonal(state)

    def copy_chain(self, state, chain: int, donor: int):
        """``state`` with chain ``chain`` replaced by ``donor``'s, keeping its own keys."""
        def take(own, other):
            return other._replace(rng_key=own.rng_key, adapt_state=other.adapt_state._replace(
                rng_key=own.adapt_state.rng_key))

        if self.method == "sequential":
            state = list(state)
            state[chain] = take(state[chain], state[donor])
            return state
        return self._copy_vectorised(state, chain, donor)

    @staticmethod
    def _copy_vectorised(state, chain: int, donor: int):
        donated = jax.tree.map(lambda x: jnp.asarray(x).at[chain].set(jnp.asarray(x)[donor]),
                               state)
        keys = jax.tree.map(lambda x: jnp.asarray(x), (state.rng_key, state.adapt_state.rng_key))
        return donated._replace(rng_key=keys[0], adapt_state=donated.adapt_state._replace(
            rng_key=keys[1]))
