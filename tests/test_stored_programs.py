"""Compiled programs kept on disk (ppl/codegen/stored.py): a new model object (as in a new
process) runs the sampler and the starting-point search from their stored executables without
tracing or compiling them, gets the same draws, and never takes an executable made for other
settings, another model or another machine."""

import json
import os
import subprocess
import sys
import threading

import jax
import numpy as np
import pytest

import ppl
from ppl.cache_paths import PROGRAM_SUFFIX
from ppl.codegen import stored
from ppl.codegen.stored import _argument_signature
from ppl.jax_settings import ENTRY_SUFFIX, ppl_settings

MODEL = """
data y: vector[4]
mu ~ normal(0, 10)
sigma ~ exponential(1)
y ~ normal(mu, sigma)
"""
DATA = {"y": [0.5, 1.0, 1.5, 3.0]}
# init="laplace": the starting-point climbs run (and are stored) for this model too.
RUN = {"chains": 2, "draws": 30, "warmup": 30, "seed": 4, "progress": False, "init": "laplace"}
# Without the starting-point climbs: fewer programs to compile where they are not the point.
UNIFORM = {**RUN, "init": "uniform"}
pytestmark = pytest.mark.filterwarnings("ignore::ppl.errors.SamplingWarning")


@pytest.fixture
def cache(monkeypatch, tmp_path):
    folder = tmp_path / "cache"
    monkeypatch.setenv("PPL_CACHE_DIR", str(folder))
    return folder


@pytest.fixture
def traced(monkeypatch):
    """The identities of the programs traced (and lowered) from now on."""
    identities = []
    lower = stored.StoredProgram._lower

    def counted(self, args):
        if _argument_signature(args) not in self._lowered:
            identities.append(self.identity)
        return lower(self, args)

    monkeypatch.setattr(stored.StoredProgram, "_lower", counted)
    return identities


@pytest.fixture
def compiled(monkeypatch):
    """The identities of the programs compiled from now on."""
    identities = []
    compile_program = stored.StoredProgram._compile

    def counted(self, lowered, path):
        identities.append(self.identity)
        return compile_program(self, lowered, path)

    monkeypatch.setattr(stored.StoredProgram, "_compile", counted)
    return identities


def _mu(fit) -> np.ndarray:
    return np.asarray(fit["posterior"]["mu"])


def test_a_new_model_object_runs_the_stored_executables_with_the_same_draws(
        cache, traced, compiled):
    first = ppl.model(MODEL).sample(DATA, **RUN)
    names = {identity[2] for identity in compiled}
    assert names == {"hmc_chains", "value_and_grad"}  # sampler; climbs and their checks
    # every program compiled is kept, under the key a new process computes (those compiled
    # ahead on a thread too, where JAX's settings are not ppl's)
    assert len(list(cache.glob(f"*{PROGRAM_SUFFIX}"))) == len(compiled) == len(traced)
    traced.clear()
    compiled.clear()
    again = ppl.model(MODEL).sample(DATA, **RUN)
    assert traced == compiled == []  # nothing traced or compiled: every program came from disk
    np.testing.assert_array_equal(_mu(again), _mu(first))
    # New data of the same shapes: the same programs, an answer that follows the data.
    shifted = ppl.model(MODEL).sample({"y": [10.5, 11.0, 11.5, 13.0]}, **RUN)
    assert traced == compiled == []
    assert _mu(shifted).mean() > _mu(first).mean() + 5


def test_other_settings_or_another_model_never_take_a_stored_trace(cache, monkeypatch):
    ppl.model(MODEL).sample(DATA, **UNIFORM)  # the cache now holds this model's traces
    other_model = MODEL.replace("normal(0, 10)", "normal(0, 0.1)")
    for text, options in [(MODEL, {"target_accept": 0.95}), (other_model, {})]:
        settings = {**UNIFORM, **options}
        warm = ppl.model(text).sample(DATA, **settings)
        monkeypatch.setenv("PPL_CACHE_DIR", "")  # nothing kept on disk: plain jitted programs
        plain = ppl.model(text).sample(DATA, **settings)
        monkeypatch.setenv("PPL_CACHE_DIR", str(cache))
        np.testing.assert_array_equal(_mu(warm), _mu(plain), err_msg=str(options))


def test_a_chunk_traced_after_its_init_came_from_disk(cache, traced, monkeypatch):
    """NumPyro's sample kernel reads settings its init kernel sets while traced: with the init
    program from disk and the chunk program traced, the init kernel is traced abstractly
    first (without it, NumPyro's kernel fails an assertion)."""
    first = ppl.model(MODEL).sample(DATA, **UNIFORM)
    key = stored.program_key

    def chunk_not_stored(identity, args):
        return key(identity, args) + ("-new" if "chunk" in identity else "")

    monkeypatch.setattr(stored, "program_key", chunk_not_stored)
    traced.clear()
    again = ppl.model(MODEL).sample(DATA, **UNIFORM)
    assert [identity[3] for identity in traced] == ["chunk"]
    np.testing.assert_array_equal(_mu(again), _mu(first))


def test_an_unreadable_program_is_written_anew(cache, compiled):
    first = ppl.model(MODEL).sample(DATA, **UNIFORM)
    files = sorted(cache.glob(f"*{PROGRAM_SUFFIX}"))
    for path in files:
        path.write_bytes(b"not a program")
    for entry in cache.glob(f"*{ENTRY_SUFFIX}"):  # nor served by JAX's cache (tested below)
        entry.unlink()
    compiled.clear()
    again = ppl.model(MODEL).sample(DATA, **UNIFORM)
    assert len(compiled) == len(files)
    np.testing.assert_array_equal(_mu(again), _mu(first))
    assert all(path.read_bytes() != b"not a program" for path in files)


def test_a_stored_program_that_fails_when_run_is_compiled_anew_and_replaced(cache,
                                                                            monkeypatch):
    """An executable that loads but fails when run (the failure a copy of one that JAX's cache
    served showed: "Function ... not found") costs a compilation, not the fit: it is compiled
    again from the model, run, and written over the stored one."""
    x = np.linspace(0.0, 1.0, 5)

    def program():  # a new object, as in a new process
        return stored.StoredProgram(jax.numpy.cos, ("test", "broken"))

    with ppl_settings():
        program()(x)
        [path] = cache.glob(f"*{PROGRAM_SUFFIX}")
        read = stored._read

        def broken(where):
            loaded = read(where)
            if loaded is None:
                return None

            def fails(*args):
                raise RuntimeError("INTERNAL: Function kernel_3 not found")
            return fails

        monkeypatch.setattr(stored, "_read", broken)
        for entry in cache.glob(f"*{ENTRY_SUFFIX}"):  # nor served by JAX's cache
            entry.unlink()
        before = path.stat().st_mtime_ns
        np.testing.assert_allclose(program()(x), np.cos(x))
        assert path.stat().st_mtime_ns != before  # written anew
        monkeypatch.setattr(stored, "_read", read)
        np.testing.assert_allclose(program()(x), np.cos(x))  # the new one loads and runs


def test_a_program_that_cannot_be_stored_runs_compiled_in_this_process_only(cache):
    def host_sine(x):  # a host callback: its address means nothing in another process
        return jax.pure_callback(np.sin, jax.ShapeDtypeStruct(x.shape, x.dtype), x)

    with ppl_settings():
        program = stored.StoredProgram(host_sine, ("test", "host"))
        np.testing.assert_allclose(program(np.arange(3.0)), np.sin(np.arange(3.0)))
        assert not list(cache.glob(f"*{PROGRAM_SUFFIX}"))
        kept = stored.StoredProgram(jax.numpy.sin, ("test", "sine"))  # one that can be
        np.testing.assert_allclose(kept(np.arange(3.0)), np.sin(np.arange(3.0)))
    assert len(list(cache.glob(f"*{PROGRAM_SUFFIX}"))) == 1


def test_another_machine_never_takes_a_stored_program(cache, compiled, monkeypatch):
    """The key holds the machine the code was compiled for: a cache folder shared with a
    machine of another instruction set (a home folder on a network drive) is a miss there."""
    first = ppl.model(MODEL).sample(DATA, **UNIFORM)
    compiled.clear()
    machine = stored._machine()
    monkeypatch.setattr(stored, "_machine",
                        lambda: (*machine[:-1], "flags : fpu sse2 (another CPU)"))
    again = ppl.model(MODEL).sample(DATA, **UNIFORM)
    assert {identity[3] for identity in compiled} >= {"init", "chunk"}
    np.testing.assert_array_equal(_mu(again), _mu(first))


def test_the_least_recently_used_programs_go_first(tmp_path):
    for age, name in enumerate(("old", "middle", "new")):
        path = tmp_path / f"{name}{PROGRAM_SUFFIX}"
        path.write_bytes(b"x" * 100)
        stamp = 1_000_000 + age
        os.utime(path, (stamp, stamp))
    (tmp_path / "notes.txt").write_bytes(b"y" * 1000)  # not a program: never deleted
    stored.evict_programs(tmp_path, 250)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"middle{PROGRAM_SUFFIX}", f"new{PROGRAM_SUFFIX}", "notes.txt"])


def test_a_cache_folder_ppl_cannot_write_leaves_the_fit_as_it_is(monkeypatch, tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    monkeypatch.setenv("PPL_CACHE_DIR", str(blocked / "cache"))  # mkdir fails under a file
    with ppl_settings():
        program = stored.StoredProgram(lambda x: jax.numpy.sin(x) * 2, ("test", "blocked"))
        np.testing.assert_allclose(program(np.arange(3.0)), 2 * np.sin(np.arange(3.0)))


def test_the_sampler_is_compiled_ahead_on_threads_and_is_what_the_run_calls(
        cache, monkeypatch):
    """The init and chunk programs compile on threads while the starting points are found;
    the run then calls those compilations (neither is prepared a second time), and the draws
    are those of a run that compiles each when first called."""
    ahead, prepared = [], []
    compile_ahead, prepare = stored.StoredProgram.compile_ahead, stored.StoredProgram._prepare

    def spied_ahead(self, *args):
        ahead.append(self.identity[2:4])
        return compile_ahead(self, *args)

    def spied_prepare(self, args):
        prepared.append(self.identity[2:4])
        return prepare(self, args)

    monkeypatch.setattr(stored.StoredProgram, "compile_ahead", spied_ahead)
    monkeypatch.setattr(stored.StoredProgram, "_prepare", spied_prepare)
    first = ppl.model(MODEL).sample(DATA, **UNIFORM)
    assert set(ahead) == {("hmc_chains", "init"), ("hmc_chains", "chunk")}
    assert not [p for p in prepared if p[0] == "hmc_chains"]  # neither compiled again
    monkeypatch.setattr(stored.StoredProgram, "compile_ahead", lambda self, *args: None)
    monkeypatch.setenv("PPL_CACHE_DIR", str(cache / "another"))
    plain = ppl.model(MODEL).sample(DATA, **UNIFORM)
    np.testing.assert_array_equal(_mu(plain), _mu(first))


def test_a_compilation_ahead_that_fails_is_done_again_by_the_call(cache, monkeypatch):
    """Whatever goes wrong on the thread is left to the call that needs the program: it
    prepares the program itself (and would raise there, in the caller's thread)."""
    compile_program, threads = stored.StoredProgram._compile, []

    def fails_on_a_thread(self, lowered, path):
        threads.append(threading.current_thread().name)
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError("out of memory")
        return compile_program(self, lowered, path)

    monkeypatch.setattr(stored.StoredProgram, "_compile", fails_on_a_thread)
    with ppl_settings():
        program = stored.StoredProgram(lambda x: x * 2, ("test", "double"))
        program.compile_ahead(jax.ShapeDtypeStruct((3,), np.float64))
        assert float(program(np.ones(3))[1]) == 2.0
    assert threads == ["ppl-compile", threading.main_thread().name]


_SECOND_PROCESS = r"""
import json, sys
import numpy as np
import ppl
from ppl.codegen import stored

traced = []
lower = stored.StoredProgram._lower
stored.StoredProgram._lower = lambda self, args: (traced.append(self.identity[2:4]),
                                                  lower(self, args))[1]
fit = ppl.model(sys.argv[1]).sample(json.loads(sys.argv[2]), **json.loads(sys.argv[3]))
print(json.dumps({"traced": traced, "mu": np.asarray(fit["posterior"]["mu"]).tolist()}))
"""


def test_a_second_process_runs_the_model_without_tracing_it(cache, tmp_path):
    """As a second ``ppl run``: a fresh process, where nothing but ppl sets JAX's settings
    (the programs compiled ahead on threads, where they are not ppl's, are found too), and
    whose 2 devices hold the chains' programs while the starting-point climbs run on one."""
    environment = {**os.environ, "PPL_CACHE_DIR": str(cache), "PPL_HOST_DEVICES": "2",
                   "PYTHONPATH": os.pathsep.join(sys.path)}
    runs = []
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, "-c", _SECOND_PROCESS, MODEL, json.dumps(DATA),
             json.dumps(RUN)], env=environment, cwd=tmp_path, capture_output=True,
            text=True, timeout=600)
        assert done.returncode == 0, done.stderr
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    assert {tuple(program)[0] for program in runs[0]["traced"]} == {
        "hmc_chains", "value_and_grad"}  # sampler (2 devices), climbs' program (one)
    assert runs[1]["traced"] == []
    assert runs[1]["mu"] == runs[0]["mu"]


def test_a_program_jaxs_own_cache_served_is_run_but_not_stored(cache):
    """JAX's persistent cache hands back an executable that XLA cannot serialise again whole
    (its kernels are lost, and the copy fails with "Function ... not found" when run), so a
    program that JAX's cache served is run but not stored; a later one compiles it again."""
    x = np.linspace(0.0, 1.0, 5)
    expected = np.exp(x).sum() + np.log1p(x).sum()

    def program():  # a new object, as in a new process
        return stored.StoredProgram(lambda v: jax.numpy.exp(v).sum() + jax.numpy.log1p(v).sum(),
                                    ("test", "served"))

    with ppl_settings():
        np.testing.assert_allclose(program()(x), expected)  # compiled, kept by ppl and JAX
        for path in cache.glob(f"*{PROGRAM_SUFFIX}"):
            path.unlink()  # evicted from ppl's programs, still in JAX's cache
        np.testing.assert_allclose(program()(x), expected)  # served by JAX's cache
        np.testing.assert_allclose(program()(x), expected)


def test_a_new_version_of_ppl_is_not_served_its_programs_by_jaxs_cache(cache, monkeypatch):
    """A stored program's name holds ppl's digest: after an upgrade (the same module, a new
    key of ppl's) JAX's cache misses and XLA compiles it, so it is stored again."""
    x = np.linspace(0.0, 1.0, 5)
    def program():  # a new function each time, as in a new process (else JAX's memory has it)
        return stored.StoredProgram(lambda v: jax.numpy.sin(v), ("test", "upgraded"))

    with ppl_settings():
        program()(x)
        monkeypatch.setattr(stored, "_ppl_digest", lambda: "another version of ppl")
        program()(x)
    assert len(list(cache.glob(f"*{PROGRAM_SUFFIX}"))) == 2
