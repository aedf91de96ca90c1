"""The JAX settings ppl's own work runs under, applied inside ppl's calls only.

ppl computes in double precision (posteriors of badly scaled models need it) and keeps the
programs it compiles in a persistent cache on disk (a second run of a model starts in a couple
of seconds). Both are JAX settings that belong to the whole process, so ppl never sets them at
import: every public function and method that computes with JAX is decorated with
:func:`in_ppl_settings`, which turns them on for the length of the call and puts back what was
there before. JAX code outside ppl's calls keeps JAX's defaults (or the user's own settings).

- **64-bit**: ``jax.enable_x64(True)``, JAX's scoped switch. Programs that JAX traces inside it
  are compiled apart from those traced outside it (the switch is part of JAX's jit cache key),
  so ppl's float64 programs and a user's float32 ones never mix. A function ppl hands out
  (``CompiledModel.jitted_log_density``, ...) turns it on itself when called, also inside a
  user's ``jax.jit`` or ``jax.vmap``; a user's ``jax.grad`` of one needs 64-bit on around it,
  since JAX transposes the function after it has returned (docs/python-api.md says so).
- **The compilation cache**: ``PPL_CACHE_DIR`` (by default ``~/.cache/ppl/jax``; an empty value
  turns it off), bounded to :data:`CACHE_MAX_BYTES` by JAX's own eviction of the least recently
  used entries (``jax_compilation_cache_max_size``, which needs the ``filelock`` package). A
  user who set JAX's cache folder (``jax_compilation_cache_dir``) keeps it: ppl then uses
  theirs and changes nothing. JAX opens its cache once per process and keeps it open, so on
  leaving a call ppl closes it again (``reset_cache``): otherwise the user's own compilations
  would go on being written to ppl's folder.

Decorated: ``Model`` and ``CompiledModel`` (and the functions a CompiledModel hands out), the
built-in backends' classes, :func:`ppl.codegen.model.compile_graph`, the results' ``to_datatree``
and ``prior_datatree``, and the command line. The building blocks inside ``ppl.backends`` and
``ppl.codegen`` are meant to run inside one of those calls (or inside ``with ppl_settings():``).

The settings are process-wide JAX configuration while a call runs: JAX code running at the same
time in another thread sees them too.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import jax
from jax.experimental.compilation_cache import compilation_cache

from ppl.cache_paths import PROGRAM_SUFFIX, cache_folder

# JAX's least-recently-used eviction keeps the folder under this size.
CACHE_MAX_BYTES = 2**30
# Programs compiled faster than this are not worth a file. JAX's default is 1 s, but a fit
# compiles some twenty programs, most of them tiny (key splits, concatenations, NumPyro's
# set-up), that add up: a warm run of eight schools (4 chains) spent 4.4-4.7 s compiling with
# a 0.2 s threshold and 1.9-2.1 s with none (2-core machine, load 12; tiny entries are read
# back faster than XLA compiles them). The folder stays bounded by CACHE_MAX_BYTES.
MIN_COMPILE_SECONDS = 0.0
# The files of one entry in JAX's cache folder (jax/_src/lru_cache.py), and its lock.
ENTRY_SUFFIX = "-cache"
# XLA's options for a program that runs once, briefly (NUTS's init program: the chains' first
# log density and gradient and the step-size search): its compilation is on the way to the
# first draw, and XLA's full optimisation made it longer than the run it speeds up
# (low_dim_gauss_mix, cold: 1.5 s against 1.1 s beside the chunk program's compilation).
QUICK_COMPILE = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}
# XLA's options for NUTS's chunk program (the warm-up and the draws): LLVM's level 1 compiled
# it in 1.2-1.6 s against 1.6-2.2 s at XLA's default on hmm_example and kidscore_interaction
# (diamonds, the logistic regression, gp_pois_regr: the same within 0.1 s), and the 4 x 2000
# iterations then ran as fast (0.53 against 0.59 s, 8.73 against 8.70 s, 13.9 against 13.8 s,
# 1.69 against 1.95 s, 0.28 against 0.29 s): the first draw comes sooner. (Eight schools: 6.4
# against 5.9 us per gradient step, within its reps' spread; not settled, benchmarks/README.)
CHUNK_COMPILE = {"xla_backend_optimization_level": 1}
# The parser's tables, kept beside them (ppl/frontend/parse.py).
GRAMMAR_SUFFIX = ".lark"
ACCESS_TIME_SUFFIX = "-atime"
LOCK_FILE = ".lockfile"

# Read and put back on leaving a call: JAX sets the minimum entry size itself when it opens
# its cache, so it is restored too.
_CACHE_SETTINGS = ("jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs",
                   "jax_compilation_cache_max_size", "jax_persistent_cache_min_entry_size_bytes")


@contextmanager
def ppl_settings() -> Iterator[None]:
    """ppl's JAX settings (64-bit, its compilation cache) for the ``with`` block; nested blocks
    change nothing more."""
    with jax.enable_x64(True), _compilation_cache():
        yield


def in_ppl_settings[T: Callable](target: T) -> T:
    """A decorator for ppl's public entry points, and a wrapper for the functions ppl hands
    out: a function then runs inside :func:`ppl_settings`; a class has each public method
    (defined in its body, name without a leading underscore) wrapped so."""
    if isinstance(target, type):
        for name, value in list(vars(target).items()):
            if not name.startswith("_") and inspect.isfunction(value):
                setattr(target, name, in_ppl_settings(value))
        return target

    @functools.wraps(target)
    def run(*args, **kwargs):
        if jax.config.jax_enable_x64 and jax.config.jax_compilation_cache_dir is not None:
            return target(*args, **kwargs)  # a nested call: the settings are on (a fast path)
        with ppl_settings():
            return target(*args, **kwargs)

    run.in_ppl_settings = True  # what tests/test_jax_settings.py looks for
    return run  # type: ignore[return-value]


@contextmanager
def _compilation_cache() -> Iterator[None]:
    # The user's own cache folder, or ours already (a nested call): nothing to do. (Looked at
    # first: nested calls are many while a model is traced.)
    folder = None if jax.config.jax_compilation_cache_dir is not None else cache_folder()
    if folder is None:
        yield
        return
    before = {name: getattr(jax.config, name) for name in _CACHE_SETTINGS}
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
    jax.config.update("jax_compilation_cache_max_size", CACHE_MAX_BYTES)
    try:
        yield
    finally:
        for name, value in before.items():
            jax.config.update(name, value)
        compilation_cache.reset_cache()  # closed: later compilations outside ppl skip it


@dataclass(frozen=True)
class CacheInfo:
    """What the compilation cache folder holds: programs compiled by JAX's cache (``entries``)
    and the samplers' executables kept by ppl (``programs``, see :mod:`ppl.codegen.stored`)."""

    folder: Path
    entries: int
    size_bytes: int
    programs: int = 0


def cache_info(folder: Path) -> CacheInfo:
    """The number of programs JAX's cache and ppl keep in ``folder`` and the bytes their
    files take."""
    files = list(_cache_files(folder))
    entries = sum(1 for f in files if f.name.endswith(ENTRY_SUFFIX))
    programs = sum(1 for f in files if f.name.endswith(PROGRAM_SUFFIX))
    return CacheInfo(folder, entries, sum(f.stat().st_size for f in files), programs)


def clear_cache(folder: Path) -> int:
    """Delete the compiled programs in ``folder`` (only the files JAX's cache and ppl write: a
    folder named by ``PPL_CACHE_DIR`` may hold other things); returns how many compiled
    programs went (ppl's own executables, its ``.ppl-compiled`` files, go too). The
    folder itself is removed when nothing else is left in it."""
    removed = 0
    for path in _cache_files(folder):
        removed += path.name.endswith(ENTRY_SUFFIX)
        path.unlink(missing_ok=True)
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
    return removed


def _cache_files(folder: Path) -> Iterator[Path]:
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        if path.is_file() and (path.name.endswith((ENTRY_SUFFIX, ACCESS_TIME_SUFFIX,
                                                   GRAMMAR_SUFFIX, PROGRAM_SUFFIX))
                               or path.name == LOCK_FILE):
            yield path
