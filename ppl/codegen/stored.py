"""Programs kept on disk as JAX exports, so that a new process runs a program it has run
before without tracing it again.

JAX's persistent compilation cache keeps the *executables*, but its key is the lowered
program: to find an executable, a new process must first trace the sampler (NumPyro's NUTS,
the model's log density inside it) and lower it to StableHLO. For a small model that is most
of a warm start: eight schools spent about 0.2 s tracing and 0.15 s lowering its chunk program
alone on a quiet 2-core machine, and 4-6 times that under load, against a few milliseconds to
read an export (``jax.export``) of the same program back. So each program's export is written
to ppl's cache folder the first time it runs, keyed by everything its trace depends on, and a
later process calls the export (``Exported.call``, whose lowering is a copy of the stored
module), whose executable the compilation cache then finds.

What the key holds (:func:`program_key`): the model's source text, the binding's signature
(precision, node kinds, static sizes, traced data shapes), what the program computes and its
settings (given by the caller), the shapes, types and placement of the arguments, the source of
ppl itself and the versions of the libraries traced into the programs, and JAX's settings that
change a trace. A program whose settings are not plain values (a Python function in the key,
whose ``repr`` names its address) is simply never found again: a miss, never a wrong hit.

Exporting is an optimisation: a program JAX cannot export (a host callback inside it) runs as
an ordinary ``jax.jit`` program, and a file that cannot be read back (written by another
version, truncated) is written anew.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import os
import tempfile
import threading
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

import jax

from ppl.cache_paths import EXPORT_SUFFIX, cache_folder
from ppl.jax_settings import in_ppl_settings

# The bytes all exports may take: beyond it the least recently used are deleted (an export of
# a NUTS chunk program is 0.1-1 MB).
EXPORT_MAX_BYTES = 256 * 2**20
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


def program_key(identity: Hashable, args: tuple) -> str:
    """The file name (a SHA-256 digest) of the export of the program ``identity`` called with
    ``args``; see the module's docstring for what goes in."""
    settings = tuple((name, str(getattr(jax.config, name, None))) for name in TRACE_SETTINGS)
    parts = (repr(identity), _argument_signature(args), _ppl_digest(), _library_versions(),
             settings, jax.default_backend(), jax.local_device_count())
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def _read(path: Path) -> jax.export.Exported | None:
    try:
        exported = jax.export.deserialize(bytearray(path.read_bytes()))
    except OSError:  # not there, or a folder ppl may not read: traced as if new
        return None
    except Exception:  # noqa: BLE001 - any unreadable file (truncated, another format)
        try:
            path.unlink(missing_ok=True)  # is written anew
        except OSError:
            pass
        return None
    try:
        os.utime(path)  # recently used: kept by the eviction below
    except OSError:
        pass
    return exported


def _write(path: Path, serialized: bytes) -> None:
    """Write atomically (a process reading the folder sees the whole file or none), then keep
    the folder's exports under :data:`EXPORT_MAX_BYTES`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(handle, "wb") as out:
        out.write(serialized)
    os.replace(temporary, path)
    evict_exports(path.parent, EXPORT_MAX_BYTES)


def export_files(folder: Path) -> list[Path]:
    """The exports in ``folder``."""
    if not folder.is_dir():
        return []
    return [p for p in folder.iterdir() if p.is_file() and p.name.endswith(EXPORT_SUFFIX)]


def evict_exports(folder: Path, max_bytes: int) -> None:
    """Delete the least recently used exports until those left take at most ``max_bytes``."""
    files = []
    for path in export_files(folder):
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


@in_ppl_settings
class StoredProgram:
    """``jax.jit(function, in_shardings, out_shardings)`` whose trace is kept on disk.

    Called like the jitted function. On the first call with arguments of a new structure or
    shape, the export of ``function`` for them is read from ppl's cache folder (or traced,
    exported and written there) and its ``call`` jitted; with ``compiler_options`` that program
    is compiled ahead of time with them. ``identity`` says what the program is (see
    :func:`program_key`); ``None``, or no cache folder (``PPL_CACHE_DIR`` empty), makes it a
    plain jitted function."""

    def __init__(self, function: Callable, identity: Hashable | None, *,
                 in_shardings: Any = None, out_shardings: Any = None,
                 compiler_options: dict | None = None) -> None:
        self.identity = identity
        placement = {} if in_shardings is None else {"in_shardings": in_shardings,
                                                     "out_shardings": out_shardings}
        self._placement = placement
        self._jitted = jax.jit(function, **placement)
        self._compiler_options = compiler_options
        self._ready: dict[str, Callable] = {}
        # compile_ahead's compilations: signature -> (thread, what it compiled)
        self._pending: dict[str, tuple[threading.Thread, dict]] = {}
        # signature -> (the jitted program, its export or None): see _runner
        self._runners: dict[str, tuple[Callable, jax.export.Exported | None]] = {}

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
        return program(*args)

    def compile_ahead(self, *args) -> None:
        """Trace and lower the program for arguments like ``args`` (arrays, or
        ``jax.ShapeDtypeStruct`` with the arrays' sharding) now, and compile it on a thread
        while the caller goes on; the first call with such arguments waits for it. XLA lets
        go of Python while it compiles, so on a machine with a free core the compilation
        costs the caller no time. A failure is left for that call, which prepares the
        program again and raises there."""
        signature = _argument_signature(args)
        if signature in self._ready or signature in self._pending:
            return
        lowered = self._runner(args)[0].lower(*args)
        options = self._compiler_options
        compiled: dict[str, Callable] = {}

        def compile_it() -> None:
            try:
                compiled["program"] = lowered.compile(compiler_options=options)
            except Exception:  # noqa: BLE001 - raised again by the call that needs it
                pass

        thread = threading.Thread(target=compile_it, name="ppl-compile", daemon=True)
        thread.start()
        self._pending[signature] = (thread, compiled)

    def output_shapes(self, *args) -> Any:
        """The outputs' shapes and types for ``args`` (``jax.ShapeDtypeStruct``s, no
        placement), from the program's export where it has one: read from disk, nothing is
        traced."""
        _, exported = self._runner(args)
        if exported is None:
            return jax.eval_shape(self._jitted, *args)
        return jax.tree.unflatten(exported.out_tree, [
            jax.ShapeDtypeStruct(a.shape, a.dtype, weak_type=a.weak_type)
            for a in exported.out_avals])

    def _prepare(self, args: tuple) -> Callable:
        runner, _ = self._runner(args)
        if self._compiler_options:
            return runner.lower(*args).compile(compiler_options=self._compiler_options)
        return runner

    def _runner(self, args: tuple) -> tuple[Callable, jax.export.Exported | None]:
        """The jitted program for ``args`` and the export it calls: the export's ``call``
        (read from the cache folder, or traced, exported and written there), else the plain
        jitted function and None. Found once per signature."""
        signature = _argument_signature(args)
        if signature not in self._runners:
            self._runners[signature] = self._find_runner(args)
        return self._runners[signature]

    def _find_runner(self, args: tuple) -> tuple[Callable, jax.export.Exported | None]:
        folder = cache_folder()
        runner, exported = self._jitted, None
        if self.identity is not None and folder is not None:
            path = folder / f"{program_key(self.identity, args)}{EXPORT_SUFFIX}"
            exported = _read(path)
            if exported is None:
                exported, serialized = self._export(args)
                if serialized is not None:
                    try:
                        _write(path, serialized)
                    except OSError:  # a folder ppl may not write: the fit goes on without
                        pass
            if exported is not None:
                runner = jax.jit(exported.call, **self._placement)
        return runner, exported

    def _export(self, args: tuple) -> tuple[jax.export.Exported | None, bytes | None]:
        """The export for ``args`` and its bytes; ``(None, None)`` when JAX cannot export the
        program (a host callback, an effect: it runs as an ordinary jitted program, and an
        error of the model itself is raised again by that program's own trace), and no bytes
        when it cannot serialise it (a pytree node without a serialisation name)."""
        try:
            exported = jax.export.export(self._jitted)(*args)
        except (ValueError, NotImplementedError, TypeError):
            return None, None
        try:
            return exported, exported.serialize()
        except (ValueError, TypeError, ImportError):
            return exported, None
