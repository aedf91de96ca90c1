"""Chains on every core: ``import ppl`` asks JAX for a CPU device per chain before JAX starts
(ppl/host_devices.py), NUTS then runs its chains in parallel by default, and when JAX started
first the chains run vectorised with one PerformanceWarning. The defaults are checked in fresh
interpreters, where nothing has started JAX."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import ppl
from ppl import host_devices
from ppl.errors import SamplingError

ROOT = Path(__file__).resolve().parents[1]
MODEL = """
data N: int
data y: real[N]
mu ~ normal(0, 1)
y ~ normal(mu, 1)
"""
DATA = {"N": 3, "y": [0.1, -0.4, 0.7]}

# Two short fits; prints the device count, each fit's chain method and the PerformanceWarnings.
FITS = f"""
import json, warnings
BEFORE
import ppl, jax
from ppl.errors import PerformanceWarning
model = ppl.model({MODEL!r})
methods = []
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("default")
    for seed in (1, 2):
        fit = model.sample({DATA!r}, chains=4, draws=30, warmup=30, seed=seed)
        methods.append(fit.attrs["chain_method"])
        assert fit["posterior"]["mu"].shape == (4, 30)
notes = [str(w.message) for w in caught if issubclass(w.category, PerformanceWarning)]
print(json.dumps({{"devices": jax.local_device_count(), "methods": methods, "notes": notes}}))
"""


def _fresh(tmp_path: Path, before: str = "", **env: str) -> dict:
    environment = {**os.environ, "PYTHONPATH": str(ROOT),
                   "PPL_CACHE_DIR": str(tmp_path / "cache"), **env}
    for name in ("PPL_HOST_DEVICES", "XLA_FLAGS"):
        if name not in env:
            environment.pop(name, None)
    done = subprocess.run([sys.executable, "-c", FITS.replace("BEFORE", before)],
                          env=environment, cwd=tmp_path, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_importing_ppl_first_runs_the_chains_in_parallel_on_a_device_each(tmp_path):
    seen = _fresh(tmp_path)
    assert seen["devices"] == max(host_devices.cores(), 4)
    assert seen["methods"] == ["parallel", "parallel"]
    assert seen["notes"] == []


def test_jax_started_first_falls_back_to_vectorised_chains_and_says_so_once(tmp_path):
    seen = _fresh(tmp_path, before="import jax; jax.numpy.zeros(1)")
    assert seen["devices"] == 1
    assert seen["methods"] == ["vectorized", "vectorized"]
    [note] = seen["notes"]
    assert "JAX started before ppl" in note and "xla_force_host_platform_device_count=" in note


def test_the_users_device_count_and_ppl_host_devices_are_kept(tmp_path):
    two = _fresh(tmp_path, XLA_FLAGS="--xla_force_host_platform_device_count=2")
    assert two["devices"] == 2 and two["methods"] == ["parallel", "parallel"]
    one = _fresh(tmp_path, PPL_HOST_DEVICES="1")
    assert one["devices"] == 1 and one["methods"] == ["vectorized", "vectorized"]
    assert one["notes"] == []  # one device was asked for: nothing to warn about


def test_the_flag_is_added_only_when_the_user_chose_nothing_and_jax_has_not_started(
        monkeypatch):
    monkeypatch.setattr(host_devices, "jax_started", lambda: False)
    environ = {"XLA_FLAGS": "--xla_dump_to=/tmp/x"}
    assert host_devices.request_host_devices(environ)
    count = max(host_devices.cores(), 4)
    assert environ["XLA_FLAGS"] == ("--xla_dump_to=/tmp/x "
                                    f"--xla_force_host_platform_device_count={count}")
    assert not host_devices.request_host_devices(environ)  # already there: unchanged
    assert environ["XLA_FLAGS"].count("device_count") == 1
    assert not host_devices.request_host_devices({"PPL_HOST_DEVICES": "1"})
    asked = {"PPL_HOST_DEVICES": "6"}
    assert host_devices.request_host_devices(asked)
    assert asked["XLA_FLAGS"] == "--xla_force_host_platform_device_count=6"
    monkeypatch.setattr(host_devices, "jax_started", lambda: True)
    late: dict[str, str] = {}
    assert not host_devices.request_host_devices(late) and late == {}


@pytest.mark.parametrize("chains, devices, used", [(4, 4, 4), (4, 2, 2), (8, 4, 4), (6, 4, 3),
                                                    (5, 4, 1), (2, 16, 2)])
def test_chains_are_spread_over_the_largest_divisor_of_their_number(chains, devices, used):
    from ppl.backends.chain_layout import devices_for

    assert devices_for(chains, devices) == used


def test_parallel_chains_on_one_device_is_an_error_that_says_what_to_do():
    import jax

    if jax.local_device_count() > 1:
        pytest.skip("this process has several devices")
    with pytest.raises(SamplingError) as raised:
        ppl.model(MODEL).sample(DATA, chains=2, draws=10, warmup=10, chain_method="parallel")
    assert "chain_method='parallel' needs more than one device" in str(raised.value)
    assert "chain_method='vectorized'" in str(raised.value)


GROUPED = """
import json, numpy as np, ppl
model = ppl.model({model!r})
out = {{}}
for method in ("parallel", "sequential"):
    fit = model.sample({data!r}, chains=4, draws=50, warmup=50, seed=3, chain_method=method)
    out[method] = np.asarray(fit["posterior"]["mu"]).tolist()
print(json.dumps(out))
"""


@pytest.mark.parametrize("devices", [2, 4])
def test_grouped_parallel_chains_are_the_chains_a_sequential_run_gives(tmp_path, devices):
    """Two devices for four chains: two chains vectorised on each device; four: one chain
    each, not vectorised. Chain c must be the chain c of a sequential run (same keys, same
    starting points), in the same order."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "PPL_CACHE_DIR": str(tmp_path / "c"),
                   "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}"}
    environment.pop("PPL_HOST_DEVICES", None)
    done = subprocess.run([sys.executable, "-c", GROUPED.format(model=MODEL, data=DATA)],
                          env=environment, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    import numpy as np

    np.testing.assert_allclose(out["parallel"], out["sequential"], rtol=1e-6)


PLACED_ONCE = """
import jax, numpy as np, ppl
model = ppl.model('''
data N: int
data x: real[N]
data y: real[N]
a ~ normal(0, 1)
b ~ normal(0, 1)
y ~ normal(a + b * x, 1)
''')
data = {"N": 2000, "x": np.linspace(-1, 1, 2000), "y": np.linspace(-1, 1, 2000)}
from ppl.codegen import stored
prepared = []  # programs traced and compiled at their call: compiled ahead for other arguments
original = stored.StoredProgram._prepare
stored.StoredProgram._prepare = lambda self, args: (prepared.append(self.identity),
                                                    original(self, args))[1]
with jax.transfer_guard_device_to_device("disallow"):
    fit = model.sample(data, chains=4, draws=60, warmup=150, seed=1, progress=False)
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from ppl.backends.chain_layout import replicated
import gc
with ppl.jax_settings.ppl_settings():  # float64, as in ppl's runs
    unaligned = np.linspace(-1, 1, 2001)[1:]  # 8 bytes past the start of its buffer
    shared = replicated(unaligned, NamedSharding(Mesh(np.array(jax.devices()), ("c",)),
                                                 PartitionSpec()))
gc.collect()
junk = [np.ones(2000) * k for k in range(100)]  # reuses freed memory, were the copy freed
pointers = {s.data.unsafe_buffer_pointer() for s in shared.addressable_shards}
assert all(np.array_equal(np.asarray(s.data), unaligned) for s in shared.addressable_shards)
print(fit.attrs["chain_method"], jax.local_device_count(),
      sum(1 for identity in prepared if identity and "hmc_chains" in identity), len(pointers))
"""


@pytest.mark.parametrize("devices", [2, 4])
def test_parallel_chains_copy_the_data_to_their_devices_once_not_at_every_chunk(
        tmp_path, devices):
    """The data go to every device once per run, by an explicit placement: a chunk program
    handed data on one device copied them to each device at every chunk (the logistic
    regression's 8 MB design matrix: 11 ms a chunk, four copies through the cache; 3 GB a
    chunk at N = 2e6). JAX's transfer guard refuses implicit copies between devices. The
    programs compiled ahead (while the starting points are found) are those the run calls:
    none is traced and compiled again at its call for arguments placed otherwise. On the CPU
    the devices share one copy of the data (each device's buffer aliases it), which stays
    alive and unchanged after the caller's references are gone."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "PPL_CACHE_DIR": str(tmp_path / "c"),
                   "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}"}
    environment.pop("PPL_HOST_DEVICES", None)
    done = subprocess.run([sys.executable, "-c", PLACED_ONCE], env=environment,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["parallel", str(devices), "0", "1"]


RECOVERED = """
import json, jax, jax.numpy as jnp, numpy as np
import ppl
from ppl.backends.hmc_chains import KernelConfig, run_chains

def stuck_beyond_three(u):  # a standard normal with a NaN gradient where u > 3
    x = u[0]
    return -0.5 * x ** 2 + jnp.sqrt(jnp.where(x > 3, 0.0 * x, 1.0))

with ppl.jax_settings.ppl_settings():
    points = jnp.array([[0.1], [0.5], [-0.5], [4.0]])
    out = {}
    for method in ("parallel", "vectorized"):
        run = run_chains(stuck_beyond_three, KernelConfig(dense=False), points,
                         jax.random.PRNGKey(0), warmup=200, draws=300, method=method)
        out[method] = {"recovered": run.recovered, "z": run.draws["z"][..., 0].tolist()}
print(json.dumps(out))
"""


def test_a_stuck_chain_among_parallel_chains_is_restarted_as_among_vectorised_ones(tmp_path):
    """The recovery at the end of warm-up copies a healthy chain's state into the stuck one;
    with the chains split over devices the copy must go back to its device and the run go on
    exactly as the vectorised run does."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "PPL_CACHE_DIR": str(tmp_path / "c"),
                   "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    environment.pop("PPL_HOST_DEVICES", None)
    done = subprocess.run([sys.executable, "-c", RECOVERED], env=environment,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    import numpy as np

    assert out["parallel"]["recovered"] == out["vectorized"]["recovered"]
    assert [chain for chain, _ in out["parallel"]["recovered"]] == [4]
    np.testing.assert_allclose(out["parallel"]["z"], out["vectorized"]["z"], rtol=1e-6)


ODE_PARALLEL = """
import json, warnings
import ppl
from ppl.errors import PerformanceWarning
model = ppl.model('''
data ts: real[3]
data y: real[3]
function decay(t: real, z: vector[1], k: real): vector[1] = -k * z
k ~ lognormal(0, 1)
z = ode_solve(decay, [2.0], 0, ts, k)
y[n] ~ normal(z[n, 1], 0.1) for n in 1:3
''')
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("default")
    fit = model.sample({"ts": [0.5, 1.0, 2.0], "y": [1.2, 0.75, 0.27]}, chains=2, draws=50,
                       warmup=50, seed=0, chain_method="parallel")
notes = [str(w.message) for w in caught if issubclass(w.category, PerformanceWarning)]
print(json.dumps({"method": fit.attrs["chain_method"], "notes": notes,
                  "k": float(fit["posterior"]["k"].mean())}))
"""


def test_an_ode_model_whose_programs_cannot_be_split_over_devices_runs_vectorised(tmp_path):
    """diffrax's checkpointed adjoint cannot be traced inside ``shard_map`` (equinox's closure
    conversion sees the solver's result code traced in one trace and not in the other): such
    a model's chains run vectorised on one device, with a PerformanceWarning, instead of the
    run stopping with a traceback."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "PPL_CACHE_DIR": str(tmp_path / "c"),
                   "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    environment.pop("PPL_HOST_DEVICES", None)
    done = subprocess.run([sys.executable, "-c", ODE_PARALLEL], env=environment,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["method"] == "vectorized"
    [note] = out["notes"]
    assert "cannot be split over the devices" in note
    assert 0.8 < out["k"] < 1.2  # y = 2 exp(-k t) with k about 1
