"""Programs kept on disk compiled, so that a new process runs a program it has run before
without tracing, lowering or compiling it again.

JAX's persistent compilation cache keeps the *executables*, but its key is the lowered
program: to find an executable, a new process must first trace the sampler (NumPyro's NUTS,
the model's log density inside it) and lower it to StableHLO. For a small model that is most
of a warm start: eight schools spent about 0.2 s tracing and 0.15 s lowering its chunk program
alone on a quiet 2-core machine, and 4-6 times that under load. So each program is written to
ppl's cache folder, compiled (``jax.experimental.serialize_executable``), the first time it
runs, keyed by everything its trace and its machine code depend on, and a later process loads
that executable (a few milliseconds) instead.

Why executables rather than traces (``jax.export``, which ppl kept before): an export is
lowered for forward compatibility, so some operations become longer decompositions (``lgamma``
is JAX's HLO series instead of the CPU's library call), and its compilation took diamonds'
chunk program 2.6-2.8 s against 1.9-2.2 s for the same program jitted. A cold run now compiles
the program as ``jax.jit`` does, and a warm one compiles nothing.

What the key holds (:func:`program_key`): the model's source text, the binding's signature
(precision, node kinds, static sizes, traced data shapes), what the program computes and its
settings (given by the caller), the shapes, types and placement of the arguments, the source of
ppl itself and the versions of the libraries traced into the programs, JAX's settings that
change a trace, and the machine the code was compiled for (backend, its version, the devices,
the CPU's instruction set extensions: a folder shared by two machines never hands one the
other's machine code). A program whose settings are not plain values (a Python function in the
key, whose ``repr`` names its address) is simply never found again: a miss, never a wrong hit.

Storing is an optimisation: a program that cannot be stored (a host callback inside it, a
pytree JAX cannot pickle, an executable JAX's own persistent cache handed back, which XLA
cannot serialise again whole) runs as compiled in this process only, and a file that cannot be
read back (written by another version, truncated) is written anew. Like JAX's own cache, the files
are Python pickles: ppl reads only its own cache folder, which must not be writable by others.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import os
import pickle
import platform
import tempfile
import threading
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

import jax
from jax.experimental import serialize_executable

from ppl.cache_paths import PROGRAM_SUFFIX, cache_folder
from ppl.jax_settings import in_ppl_settings

# The bytes all stored programs may take: beyond it the least recently used are deleted (the
# executable of a NUTS chunk program is 0.1-2 MB).
PROGRAM_MAX_BYTES = 512 * 2**20
# Libraries whose code is traced into ppl's programs: another version is another program.
TRACED_LIBRARIES = ("jax", "jaxlib", "numpyro", "blackjax", "optax", "diffrax", "lineax",
                    "optimistix", "equinox")
# JAX settings that change what a trace produces.
TRACE_SETTINGS = ("jax_enable_x64", "jax_default_matmul_precision", "jax_numpy_rank_promotion",
                  "jax_numpy_dtype_promotion", "jax_debug_nans", "jax_debug_infs",
                  "jax_default_prng_impl", "jax_threefry_partitionable")


@functools.cache
def _ppl_digest() -> str:
    """A digest of ppl's own source (its Python files and grammar): a changed ppl traces
    other programs."""
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.suffix in (".py", ".lark") and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


@functools.cache
def _library_versions() -> tuple[tuple[str, str], ...]:
    versions = []
    for name in TRACED_LIBRARIES:
        try:
            versions.append((name, importlib.metadata.version(name)))
        except importlib.metadata.PackageNotFoundError:
            versions.append((name, "-"))
    return tuple(versions)


def _argument_signature(args: tuple) -> str:
    """The structure, shapes, types and placement of a call's arguments."""
    leaves, tree = jax.tree.flatten(args)
    parts = [str(tree)]
    for leaf in leaves:
        sharding = getattr(leaf, "sharding", None)
        placed = str(sharding.spec) if isinstance(sharding, jax.sharding.NamedSharding) else ""
        parts.append(f"{jax.numpy.shape(leaf)}:{jax.numpy.result_type(leaf)}:{placed}")
    return ";".join(parts)


@functools.cache
def _machine() -> tuple[str, ...]:
    """What the compiled code is for: the backend and its version, the devices, and on the CPU
    its instruction set extensions (XLA compiles for the CPU it runs on)."""
    device = jax.devices()[0]
    flags = ""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            flags = next((line for line in cpuinfo if line.startswith(("flags", "Features"))),
                         "")
    except OSError:  # not Linux: the processor's name is what there is
        pass
    return (jax.default_backend(), device.client.platform_version, device.device_kind,
            str(jax.local_device_count()), platform.machine(), platform.processor(), flags)


def program_key(identity: Hashable, args: tuple) -> str:
    """The file name (a SHA-256 digest) of the executable of the program ``identity`` called
    with ``args``; see the module's docstring for what goes in."""
    settings = tuple((name, str(getattr(jax.config, name, None))) for name in TRACE_SETTINGS)
    parts = (repr(identity), _argument_signature(args), _ppl_digest(), _library_versions(),
             settings, _machine())
    return hashlib.sha256(repr(parts).encode()).hexdigest()


@functools.cache
def _linear_algebra_ready() -> None:
    """JAX hands XLA's CPU code its LAPACK routines only when it first lowers a linear-algebra
    operation, and an executable loaded from disk lowers nothing: its first Cholesky factor
    (a dense metric's, at the end of a warm-up window) would call a null pointer and crash the
    process. So a process lowers one such operation before it loads any executable."""
    jax.jit(jax.numpy.linalg.cholesky).lower(jax.ShapeDtypeStruct((2, 2), "float32"))


def _read(path: Path | None) -> jax.stages.Compiled | None:
    """The executable stored at ``path``, loaded onto this process's devices; None when there
    is none (no path, no file, or one that cannot be loaded: it is then deleted, to be written
    anew)."""
    if path is None:
        return None
    try:
        serialized = path.read_bytes()
    except OSError:  # not there, or a folder ppl may not read: compiled as if new
        return None
    _linear_algebra_ready()
    try:
        payload, in_tree, out_tree, device_ids = pickle.loads(serialized)
        by_id = {device.id: device for device in jax.devices()}
        compiled = serialize_executable.deserialize_and_load(
            payload, in_tree, out_tree, execution_devices=[by_id[i] for i in device_ids])
    except Exception:  # noqa: BLE001 - any unreadable file (truncated, another format)
        try:
            path.unlink(missing_ok=True)
        except OSError:
            pass
        return None
    try:
        os.utime(path)  # recently used: kept by the eviction below
    except OSError:
        pass
    return compiled


def _serialized(compiled: jax.stages.Compiled) -> bytes | None:
    """The bytes of ``compiled`` for :func:`_read`, or None when it cannot be kept: a program
    holding references into this process (host callbacks, objects kept alive for it, side
    effects) would not run in another one."""
    # JAX has no public way to ask what an executable holds; serialize_executable itself
    # reads this attribute, and refuses an executable without it.
    unloaded = getattr(compiled._executable, "_unloaded_executable", None)
    if unloaded is None or any(getattr(unloaded, name, None) for name in (
            "host_callbacks", "keepalive", "ordered_effects", "unordered_effects")):
        return None
    # The devices it runs on, kept beside it: loaded without them, an executable is put on
    # every device (a one-device starting-point climb in a process whose 4 devices hold the
    # chains then wanted its arguments in 4 shards).
    device_ids = [device.id for device in unloaded.device_list]
    try:
        return pickle.dumps((*serialize_executable.serialize(compiled), device_ids))
    except Exception:  # noqa: BLE001 - not serialisable (a pytree node pickle cannot name)
        return None


def _write(path: Path, serialized: bytes) -> None:
    """Write atomically (a process reading the folder sees the whole file or none), then keep
    the folder's programs under :data:`PROGRAM_MAX_BYTES`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(handle, "wb") as out:
        out.write(serialized)
    os.replace(temporary, path)
    evict_programs(path.parent, PROGRAM_MAX_BYTES)


def program_files(folder: Path) -> list[Path]:
    """The stored programs in ``folder``."""
    if not folder.is_dir():
        return []
    return [p for p in folder.iterdir() if p.is_file() and p.name.endswith(PROGRAM_SUFFIX)]


def evict_programs(folder: Path, max_bytes: int) -> None:
    """Delete the least recently used programs until those left take at most ``max_bytes``."""
    files = []
    for path in program_files(folder):
        try:
            status = path.stat()
        except FileNotFoundError:  # another process evicted it
            continue
        files.append((status.st_mtime, status.st_size, path))
    total = sum(size for _, size, _ in files)
    for _, size, path in sorted(files):
        if total <= max_bytes:
            break
        path.unlink(missing_ok=True)
        total -= size


def _named(function: Callable, identity: Hashable | None) -> Callable:
    """``function`` under a name that holds a digest of ``identity`` and of ppl's source and
    libraries: JAX's persistent cache then never serves a program ppl keeps from an entry
    written under another key of ppl's (an earlier version of ppl compiled the same module),
    which :func:`_compiled_by_xla` would have to leave unstored."""
    if identity is None:
        return function
    digest = hashlib.sha256(repr((identity, _ppl_digest(), _library_versions())).encode())

    def program(*args):
        return function(*args)

    program.__name__ = program.__qualname__ = (
        f"{getattr(function, '__name__', 'program')}_{digest.hexdigest()[:12]}")
    return program


CACHE_HIT_EVENT = "/jax/compilation_cache/cache_hits"


def _compiled_by_xla(lowered: jax.stages.Lowered, options: dict | None
                     ) -> tuple[jax.stages.Compiled, bool]:
    """``lowered`` compiled, and whether XLA compiled it rather than JAX's persistent cache
    handing it back: XLA cannot serialise such an executable again whole (its kernels are
    lost: "Function ... not found" when it is loaded), so it must not be stored. JAX says
    which it was only through its monitoring events, recorded in the compiling thread."""
    thread, hits = threading.get_ident(), []

    def listen(event: str, **_: Any) -> None:
        if event == CACHE_HIT_EVENT and threading.get_ident() == thread:
            hits.append(event)

    jax.monitoring.register_event_listener(listen)
    try:
        compiled = lowered.compile(compiler_options=options)
    finally:
        jax.monitoring.unregister_event_listener(listen)
    return compiled, not hits


def _abstract(value: Any) -> Any:
    """An array's shape, type and placement, for tracing. The outputs of an executable loaded
    from disk carry their memory layout in a form that a trace takes as a constraint (JAX
    0.12.1): a loop whose carry starts from them fails its type check against the body's
    default layout ("layouts do not match"), as when the chunk program is first traced at the
    state a stored init program returned."""
    if isinstance(value, jax.Array):
        return jax.ShapeDtypeStruct(value.shape, value.dtype, sharding=value.sharding,
                                    weak_type=value.weak_type)
    return value


def _unplaced(shapes: Any) -> Any:
    return jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, weak_type=a.weak_type),
                        shapes)


@in_ppl_settings
class StoredProgram:
    """``jax.jit(function, in_shardings, out_shardings)`` whose executable is kept on disk.

    Called like the jitted function. On the first call with arguments of a new structure or
    shape, the executable for them is loaded from ppl's cache folder, or traced, compiled (with
    ``compiler_options`` where given) and written there. ``identity`` says what the program is
    (see :func:`program_key`); ``None``, or no cache folder (``PPL_CACHE_DIR`` empty), makes it
    a plain jitted function (compiled ahead where :meth:`compile_ahead` is asked to)."""

    def __init__(self, function: Callable, identity: Hashable | None, *,
                 in_shardings: Any = None, out_shardings: Any = None,
                 compiler_options: dict | None = None) -> None:
        self.identity = identity
        placement = {} if in_shardings is None else {"in_shardings": in_shardings,
                                                     "out_shardings": out_shardings}
        self._jitted = jax.jit(_named(function, identity), **placement)
        self._compiler_options = compiler_options
        # signature -> the program to call (an executable, or the jitted function)
        self._ready: dict[str, Callable] = {}
        # compile_ahead's compilations: signature -> (thread, what it compiled)
        self._pending: dict[str, tuple[threading.Thread, dict]] = {}
        # signature -> the program traced and lowered, not yet compiled (see output_shapes)
        self._lowered: dict[str, jax.stages.Lowered] = {}
        # the signatures whose executable came from disk and has not run yet
        self._unproven: set[str] = set()

    def __call__(self, *args):
        return self.run(*args)

    def run(self, *args):
        """The program's value at ``args`` (in ppl's JAX settings, as every program of ppl)."""
        signature = _argument_signature(args)
        program = self._ready.get(signature)
        if program is None and signature in self._pending:
            thread, compiled = self._pending.pop(signature)
            thread.join()
            program = compiled.get("program")  # None if it failed: prepared again below
            if program is not None:
                self._ready[signature] = program
        if program is None:
            program = self._ready[signature] = self._prepare(args)
        if signature not in self._unproven:
            return program(*args)
        self._unproven.discard(signature)
        try:
            return program(*args)
        except Exception:  # noqa: BLE001 - an executable that loads but cannot run
            # (a copy of one that JAX's cache served: "Function ... not found"): deleted and
            # compiled anew from the model; an error of the program itself is raised again
            path = self._path(args)
            path.unlink(missing_ok=True)
            program = self._ready[signature] = self._compile(self._lower(args), path)
            return program(*args)

    def compile_ahead(self, *args) -> None:
        """Have the program for arguments like ``args`` (arrays, or ``jax.ShapeDtypeStruct``
        with the arrays' sharding) now: loaded from disk, or traced and lowered here and
        compiled (and stored) on a thread while the caller goes on; the first call with such
        arguments waits for it. XLA lets go of Python while it compiles, so on a machine with
        a free core the compilation costs the caller no time. A failure is left for that call,
        which prepares the program again and raises there."""
        signature = _argument_signature(args)
        if signature in self._ready or signature in self._pending:
            return
        # The key is taken here: the thread lacks ppl's JAX settings (64-bit is set per
        # thread), and the key reads the arguments' types under them.
        path = self._path(args)
        stored = self._load(signature, path)
        if stored is not None:
            self._ready[signature] = stored
            return
        lowered = self._lower(args)
        compiled: dict[str, Callable] = {}

        def compile_it() -> None:
            try:
                compiled["program"] = self._compile(lowered, path)
            except Exception:  # noqa: BLE001 - raised again by the call that needs it
                pass

        thread = threading.Thread(target=compile_it, name="ppl-compile", daemon=True)
        thread.start()
        self._pending[signature] = (thread, compiled)

    def output_shapes(self, *args) -> Any:
        """The outputs' shapes and types for ``args`` (``jax.ShapeDtypeStruct``s, no
        placement): from the executable where it is at hand (loaded from disk: nothing is
        traced), else from the program's trace, which its compilation then uses."""
        signature = _argument_signature(args)
        program = self._ready.get(signature)
        if program is None and signature not in self._pending:
            program = self._load(signature, self._path(args))
            if program is not None:
                self._ready[signature] = program
        if isinstance(program, jax.stages.Compiled):
            return _unplaced(program.out_info)
        return _unplaced(self._lower(args).out_info)

    def _prepare(self, args: tuple) -> Callable:
        """The program to call with ``args``: loaded from disk, or compiled (and stored); the
        plain jitted function when nothing is stored and no compiler options are given."""
        path = self._path(args)
        stored = self._load(_argument_signature(args), path)
        if stored is not None:
            return stored
        if path is None and not self._compiler_options:
            return self._jitted
        return self._compile(self._lower(args), path)

    def _lower(self, args: tuple) -> jax.stages.Lowered:
        """The program traced and lowered for ``args``, once per signature."""
        signature = _argument_signature(args)
        if signature not in self._lowered:
            self._lowered[signature] = self._jitted.lower(*jax.tree.map(_abstract, args))
        return self._lowered[signature]

    def _compile(self, lowered: jax.stages.Lowered, path: Path | None) -> jax.stages.Compiled:
        """``lowered`` compiled, and written to ``path`` where it is given and XLA compiled
        it (see :func:`_compiled_by_xla`)."""
        compiled, by_xla = _compiled_by_xla(lowered, self._compiler_options)
        serialized = None if path is None or not by_xla else _serialized(compiled)
        if serialized is not None:
            try:
                _write(path, serialized)
            except OSError:  # a folder ppl may not write: the fit goes on without
                pass
        return compiled

    def _load(self, signature: str, path: Path | None) -> jax.stages.Compiled | None:
        """The executable stored at ``path`` (see :func:`_read`), to be proven by its first
        run (see :meth:`run`)."""
        stored = _read(path)
        if stored is not None:
            self._unproven.add(signature)
        return stored

    def _path(self, args: tuple) -> Path | None:
        """Where the executable for ``args`` is kept; None when it is not kept."""
        folder = cache_folder()
        if self.identity is None or folder is None:
            return None
        return folder / f"{program_key(self.identity, args)}{PROGRAM_SUFFIX}"
