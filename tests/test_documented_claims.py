"""Claims of README.md and docs/ that no other test covers: a model file cannot run code, a
failed ODE solve gives NaN (which the sampler rejects), and the on-disk compilation cache."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

import ppl


@pytest.mark.parametrize("source", [
    'import os\nx ~ normal(0, 1)\n',
    'x = __import__("os")\n',
    'x = open("/etc/passwd")\n',
    'x ~ normal(0, 1)\ny = eval(x)\n',
])
def test_a_model_file_cannot_import_open_files_or_run_python(source, tmp_path):
    """README: 'a model file is data, not code'. Each attempt is a located model error, and
    nothing is run (the marker file is never written)."""
    marker = tmp_path / "ran"
    source = source.replace("/etc/passwd", str(marker))
    with pytest.raises(ppl.PPLError) as info:
        ppl.model(source).compile({})
    assert str(info.value).startswith("<string>:")
    assert not marker.exists()


def test_a_failed_ode_solve_gives_nan():
    """docs/language.md: a solve that fails (here: too few steps for a stiff rate) gives NaN,
    which the sampler rejects, rather than an exception."""
    src = """
function decay(t: real, z: vector[1], k: vector[1]): vector[1] = -k .* z
k: vector[1] ~ lognormal(0, 1)
z = ode_solve(decay, [2.0], 0, [1.0, 2.0], k, max_steps = 50)
"""
    compiled = ppl.model(src).compile({})
    fast = compiled.generated(jnp.array([np.log(1e6)]))["z"]
    assert np.all(np.isnan(np.asarray(fast)))
    slow = compiled.generated(jnp.array([np.log(1e-3)]))["z"]
    assert np.all(np.isfinite(np.asarray(slow)))


def test_compiled_samplers_are_cached_in_ppl_cache_dir_and_an_empty_value_disables_it(tmp_path):
    """README: compiled samplers are kept in PPL_CACHE_DIR (an empty value turns it off). Run in
    fresh processes, since the cache is chosen when ppl is imported."""
    script = ("import ppl; ppl.model('x ~ normal(0, 1)').sample({}, chains=1, draws=20, "
              "warmup=20, seed=1)")
    cache = tmp_path / "cache"
    for value in (str(cache), ""):
        env = os.environ | {"PPL_CACHE_DIR": value}
        done = subprocess.run([sys.executable, "-c", script], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
    assert cache.is_dir() and any(Path(cache).iterdir())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache"]  # nothing else written
