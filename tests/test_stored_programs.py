"""Traced programs kept on disk (ppl/codegen/stored.py): a new model object (as in a new
process) runs the sampler and the starting-point search from their exports without tracing
them, gets the same draws, and never takes an export made for other settings or another
model."""

import os

import jax
import numpy as np
import pytest

import ppl
from ppl.cache_paths import EXPORT_SUFFIX
from ppl.codegen import stored
from ppl.jax_settings import ppl_settings

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
def exports(monkeypatch):
    """The identities of the programs traced and exported from now on."""
    traced = []
    export = stored.StoredProgram._export

    def counted(self, args):
        traced.append(self.identity)
        return export(self, args)

    monkeypatch.setattr(stored.StoredProgram, "_export", counted)
    return traced


def _mu(fit) -> np.ndarray:
    return np.asarray(fit["posterior"]["mu"])


def test_a_new_model_object_runs_the_stored_traces_with_the_same_draws(cache, exports):
    first = ppl.model(MODEL).sample(DATA, **RUN)
    names = {identity[2] for identity in exports}
    assert {"hmc_chains", "quickly", "value_and_grad"} <= names  # sampler, climbs, init checks
    assert len(list(cache.glob(f"*{EXPORT_SUFFIX}"))) == len(exports)
    exports.clear()
    again = ppl.model(MODEL).sample(DATA, **RUN)
    assert exports == []  # nothing traced: every program came from disk
    np.testing.assert_array_equal(_mu(again), _mu(first))
    # New data of the same shapes: the same traces, an answer that follows the data.
    shifted = ppl.model(MODEL).sample({"y": [10.5, 11.0, 11.5, 13.0]}, **RUN)
    assert exports == []
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


def test_a_chunk_traced_after_its_init_came_from_disk(cache, exports, monkeypatch):
    """NumPyro's sample kernel reads settings its init kernel sets while traced: with the init
    program from disk and the chunk program traced, the init kernel is traced abstractly
    first (without it, NumPyro's kernel fails an assertion)."""
    first = ppl.model(MODEL).sample(DATA, **UNIFORM)
    key = stored.program_key

    def chunk_not_stored(identity, args):
        return key(identity, args) + ("-new" if "chunk" in identity else "")

    monkeypatch.setattr(stored, "program_key", chunk_not_stored)
    exports.clear()
    again = ppl.model(MODEL).sample(DATA, **UNIFORM)
    assert [identity[3] for identity in exports] == ["chunk"]
    np.testing.assert_array_equal(_mu(again), _mu(first))


def test_an_unreadable_export_is_written_anew(cache, exports):
    first = ppl.model(MODEL).sample(DATA, **UNIFORM)
    files = sorted(cache.glob(f"*{EXPORT_SUFFIX}"))
    for path in files:
        path.write_bytes(b"not an export")
    exports.clear()
    again = ppl.model(MODEL).sample(DATA, **UNIFORM)
    assert len(exports) == len(files)
    np.testing.assert_array_equal(_mu(again), _mu(first))
    assert all(path.read_bytes() != b"not an export" for path in files)


def test_a_program_jax_cannot_export_runs_as_a_jitted_one(cache):
    def host_sine(x):  # a host callback: not exportable
        return jax.pure_callback(np.sin, jax.ShapeDtypeStruct(x.shape, x.dtype), x)

    with ppl_settings():
        program = stored.StoredProgram(host_sine, ("test", "host"))
        np.testing.assert_allclose(program(np.arange(3.0)), np.sin(np.arange(3.0)))
    assert not list(cache.glob(f"*{EXPORT_SUFFIX}"))


def test_the_least_recently_used_exports_go_first(tmp_path):
    for age, name in enumerate(("old", "middle", "new")):
        path = tmp_path / f"{name}{EXPORT_SUFFIX}"
        path.write_bytes(b"x" * 100)
        stamp = 1_000_000 + age
        os.utime(path, (stamp, stamp))
    (tmp_path / "notes.txt").write_bytes(b"y" * 1000)  # not an export: never deleted
    stored.evict_exports(tmp_path, 250)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"middle{EXPORT_SUFFIX}", f"new{EXPORT_SUFFIX}", "notes.txt"])


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
    class Failing:
        def compile(self, **_):
            raise RuntimeError("out of memory")

    runner = stored.StoredProgram._runner

    def failing_lowered(self, args):
        program, exported = runner(self, args)
        return type("Runner", (), {"lower": lambda _, *a: Failing(),
                                   "__call__": lambda _, *a: program(*a)})(), exported

    monkeypatch.setattr(stored.StoredProgram, "_runner", failing_lowered)
    with ppl_settings():
        program = stored.StoredProgram(lambda x: x * 2, ("test", "double"))
        program.compile_ahead(jax.ShapeDtypeStruct((3,), np.float64))
        assert float(program(np.ones(3))[1]) == 2.0
