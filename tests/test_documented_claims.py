"""Claims of README.md and docs/*.md that no other test covers, grouped by the page that makes
them; each test's docstring quotes the claim in a few words. (The generated pages,
docs/distributions.md and docs/functions.md, are checked by the registry-driven reference
tests.) Runs are tiny and seeded: one chain or two, a hundred draws."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from model_text import HMM_MODEL
from scipy import stats

import ppl
from ppl.cli import main

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
EIGHT = str(ROOT / "examples" / "eight_schools.ppl")
EIGHT_DATA = str(ROOT / "examples" / "eight_schools.json")


def _quiet(call, *args, **kwargs):
    """``call(*args, **kwargs)`` with warnings silenced (short runs warn about their ESS)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return call(*args, **kwargs)


def _compiled(source: str, data: dict | None = None, **kwargs):
    return _quiet(ppl.model(source).compile, data or {}, **kwargs)


def _fenced_after(text: str, heading: str, fence: str = "") -> str:
    """The first code block with info string ``fence`` after ``heading`` in ``text``."""
    tail = text.split(heading, 1)[1]
    return re.search(rf"^```{fence}\n(.*?)^```", tail, re.S | re.M).group(1)


class _Stop(Exception):
    """Raised by a spy to stop a run once it has seen what it needed."""


# ============================================================================== README.md


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


def test_compiled_samplers_are_cached_in_ppl_cache_dir_and_an_empty_value_disables_it(tmp_path):
    """README: compiled samplers are kept in PPL_CACHE_DIR (an empty value turns it off). Run in
    fresh processes, so that no cache opened earlier in this one decides it."""
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


def test_the_readme_broadcasting_error_is_what_ppl_prints():
    """README: the `(N,1)` versus `(N)` bug 'is an error here', with the message shown."""
    readme = (ROOT / "README.md").read_text()
    shown = re.search(r"^```\n(model\.ppl:5:6: error: .*?)^```", readme, re.S | re.M).group(1)
    source = ("data N: int\ndata X_col: matrix[N, 1]\ndata x: vector[N]\n"
              "alpha ~ normal(0, 1)\nmu = alpha + X_col + x\n")
    with pytest.raises(ppl.ModelError) as info:
        ppl.model(source, "model.ppl")
    assert str(info.value) + "\n" == shown


def test_statements_may_come_in_any_order():
    """README/language.md: 'statements can come in any order; the compiler orders them by
    dependency'. The same model written backwards has the same density."""
    forwards = ("data N: int\ndata y: vector[N]\nmu ~ normal(0, 5)\ns ~ half_normal(1)\n"
                "m = 2 * mu\ny ~ normal(m, s)\n")
    backwards = "\n".join(reversed(forwards.strip().splitlines())) + "\n"
    data = {"N": 3, "y": [0.5, 1.0, 2.0]}
    values = {"mu": jnp.asarray(0.4), "s": jnp.asarray(1.3)}
    densities = [float(c.log_density(c.unconstrain(values)))
                 for c in (_compiled(forwards, data), _compiled(backwards, data))]
    expected = (stats.norm.logpdf(0.4, 0, 5) + stats.halfnorm.logpdf(1.3) + np.log(1.3)
                + stats.norm.logpdf(data["y"], 0.8, 1.3).sum())
    assert densities == pytest.approx([expected, expected], rel=1e-12)


def test_element_wise_statements_compile_to_vectorised_jax_not_a_loop_over_rows():
    """README/language.md: `y[n] ~ normal(mu[g[n]], s) for n in 1:N` compiles to vectorised JAX,
    never a Python loop: the traced program is the same size for 3 rows and for 60."""
    source = ("data N: int\ndata g: int[N] in [1, 2]\ndata y: vector[N]\n"
              "mu: vector[2] ~ normal(0, 1)\ns ~ half_normal(1)\n"
              "eta[n] = mu[g[n]] * 2 for n in 1:N\ny[n] ~ normal(eta[n], s) for n in 1:N\n")

    def equations(n: int) -> int:
        compiled = _compiled(source, {"N": n, "g": [1 + i % 2 for i in range(n)],
                                      "y": np.zeros(n)})
        return len(jax.make_jaxpr(compiled.log_density)(jnp.zeros(compiled.dimension)).eqns)

    assert equations(3) == equations(60)


def test_how_it_is_built_names_files_that_exist():
    """README 'How it is built': every folder and module it names exists, and the grammar is
    also shipped inside the package."""
    block = _fenced_after((ROOT / "README.md").read_text(), "## How it is built")
    folder = ROOT
    named = []
    for line in block.splitlines():
        head, _, rest = line.partition(" ")
        if head:
            named.append(head)
            folder = ROOT / head if head.endswith("/") else folder
        words = re.findall(r"[\w/]+\.(?:py|lark|md)\b", rest if head else line)
        named += [w if "/" in w else str((folder / w).relative_to(ROOT)) for w in words]
    assert len(named) > 40
    missing = [n for n in named if not (ROOT / n).exists()]
    assert not missing, missing
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    shipped = project["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]
    assert shipped["grammar/ppl.lark"] == "ppl/grammar/ppl.lark"


def test_python_3_12_or_newer_is_required():
    """README: 'Needs Python 3.12 or newer'."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["requires-python"] == ">=3.12"


def test_slow_statistical_suites_run_only_with_m_slow():
    """README: 'Slow statistical suites (simulation-based calibration) run with pytest -m
    slow': the default options leave them out, and the SBC test is marked slow."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["tool"]["pytest"]["ini_options"]["addopts"] == "-m 'not slow'"
    text = (ROOT / "tests" / "test_posteriors.py").read_text()
    assert re.search(r"@pytest\.mark\.slow\ndef test_simulation_based_calibration\(", text)


def test_the_conformance_suite_is_skipped_without_its_folder(tmp_path):
    """README: the conformance suite reads `../shared/conformance/`, is skipped when that folder
    is absent, and `PPL_CONFORMANCE_DIR` points elsewhere."""
    sys.path.insert(0, str(ROOT / "tests" / "conformance"))
    try:
        import conformance_kit
    finally:
        sys.path.remove(str(ROOT / "tests" / "conformance"))
    if not os.environ.get("PPL_CONFORMANCE_DIR"):
        assert conformance_kit.KIT == ROOT.parent / "shared" / "conformance"
    env = os.environ | {"PPL_CONFORMANCE_DIR": str(tmp_path / "absent")}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
                           str(ROOT / "tests" / "conformance")], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"\n\d+ skipped in ", done.stdout) and "passed" not in done.stdout
    assert f"conformance kit not found at {tmp_path / 'absent'}" in done.stdout


SHIFTED = "data N: int\ndata y: vector[N]\nmu ~ normal(0, 5)\nshift = mu + 1\ny ~ normal(mu, 1)\n"


@pytest.mark.parametrize("backend, options", [
    ("hmc", {}),
    ("map", {}),
    ("advi", {"max_steps": 200, "check_every": 100}),
])
def test_every_backend_returns_the_same_datatree_shape_and_predicts(backend, options):
    """README: 'Every backend returns the same DataTree shape (constrained posterior with the
    deterministic quantities ...), and posterior predictive draws work after any of them'
    (nuts, smc and pathfinder: tests/test_cli.py and tests/test_backends_smc_pathfinder.py).
    README's table: hmc's trajectory length is pi/2 by default."""
    data = {"N": 3, "y": [0.5, 1.0, 1.5]}
    fit = _quiet(ppl.model(SHIFTED).sample, data, backend=backend, chains=1, draws=50,
                 warmup=50, seed=1, posterior_predictive=True, **options)
    assert {"posterior", "sample_stats", "observed_data", "posterior_predictive"} <= set(
        fit.children)
    draws = fit.posterior.sizes["draw"]
    np.testing.assert_allclose(fit.posterior["shift"], fit.posterior["mu"] + 1)
    assert fit.posterior_predictive["y"].shape == (1, draws, 3)
    assert np.all(np.isfinite(fit.posterior_predictive["y"]))
    np.testing.assert_array_equal(fit.observed_data["y"], data["y"])
    if backend == "hmc":
        step = float(np.asarray(fit["sampler_state"]["step_size"]).ravel()[0])
        assert np.unique(fit.sample_stats["n_steps"]).tolist() == [int(np.ceil(np.pi / 2 / step))]


# ========================================================================= docs/language.md


def test_indices_slices_operators_and_comprehensions_give_the_documented_values():
    """language.md: indices are 1-based and slices include both ends (`x[2:N]`, `X[2:, 1:3]`,
    `X[:, j]`), multi-indexing gives one element per index, comparisons give 0/1, `.*` and `./`
    are element-wise (also of matrices), so is `*` of two vectors; `%`, `^` (grouping to the
    right, binding tighter than unary minus), `&& || !`; `[expr for k in 1:K]` builds an
    array."""
    source = """data N: int
data x: vector[N]
data X: matrix[N, 3]
data g: int[2]
a = x[2]
b = X[2, 3]
col = X[:, 2]
s = x[2:N]
S = X[2:, 1:2]
mi = x[g]
cmp = (x > 2) .* x
ew = x * x
arr = [x[k] * k for k in 1:N]
md = 7 % 3
pw = 2 ^ 3 ^ 2
neg = -2 ^ 2
lg = (1 && 0) + (1 || 0) + !0
cmps = [1 == 1, 1 != 1, 1 < 2, 2 <= 1, 2 > 1, 1 >= 1]
em = X .* X
dv = x ./ x
mu ~ normal(a + b + sum(col) + sum(s) + sum(S) + sum(mi) + sum(cmp) + sum(ew) + sum(arr) \\
            + md + pw + neg + lg + sum(cmps) + sum(em) + sum(dv), 1)
"""
    X = np.arange(12.0).reshape(4, 3)
    data = _compiled(source, {"N": 4, "x": [1.0, 2.0, 3.0, 4.0], "X": X, "g": [4, 1]}).data
    got = {k: np.asarray(data[k]).tolist() for k in
           ("a", "b", "col", "s", "S", "mi", "cmp", "ew", "arr", "md", "pw", "neg", "lg",
            "cmps", "dv")}
    assert got == {"a": 2.0, "b": 5.0, "col": [1.0, 4.0, 7.0, 10.0], "s": [2.0, 3.0, 4.0],
                   "S": [[3.0, 4.0], [6.0, 7.0], [9.0, 10.0]], "mi": [4.0, 1.0],
                   "cmp": [0.0, 0.0, 3.0, 4.0], "ew": [1.0, 4.0, 9.0, 16.0],
                   "arr": [1.0, 4.0, 9.0, 16.0], "md": 1, "pw": 512.0, "neg": -4.0, "lg": 2,
                   "cmps": [1, 0, 1, 0, 1, 1], "dv": [1.0, 1.0, 1.0, 1.0]}
    np.testing.assert_array_equal(data["em"], X * X)  # `.*` of matrices: element-wise


def test_real_arrays_are_vectors_and_matrices():
    """language.md: `real[N]` and `vector[N]` are the same type, and so are `real[N, K]` and
    `matrix[N, K]` (`A * b` of a `real[N, K]` is the matrix product)."""
    source = ("data N: int\ndata K: int\ndata y: real[N]\ndata v: vector[N]\n"
              "data A: real[N, K]\ndata b: vector[K]\nz = y + v\nw = A * b\nu = dot(y, v)\n"
              "mu ~ normal(sum(z) + sum(w) + u, 1)\n")
    data = _compiled(source, {"N": 2, "K": 3, "y": [1.0, 2.0], "v": [3.0, 4.0],
                              "A": [[1, 2, 3], [4, 5, 6]], "b": [1.0, 0.0, 1.0]}).data
    assert np.asarray(data["z"]).tolist() == [4.0, 6.0]
    assert np.asarray(data["w"]).tolist() == [4.0, 10.0]
    assert float(data["u"]) == 11.0


def test_interval_bounds_are_closed_and_strict_bounds_strict():
    """language.md: `data p: real in [0, 1]` is a closed interval; `> 0` excludes 0. A value
    outside is an error that names the entry."""
    model = ppl.model("data p: real in [0, 1]\ndata q: real > 0\nx ~ normal(p + q, 1)\n")
    for p in (0.0, 1.0):
        model.bind({"p": p, "q": 1.0})
    with pytest.raises(ppl.DataError) as info:
        model.bind({"p": 0.5, "q": 0.0})
    assert info.value.diagnostics[0].message == "data 'q' violates its lower bound: value 0.0"
    with pytest.raises(ppl.DataError, match="data 'p' violates its upper bound"):
        model.bind({"p": 1.5, "q": 1.0})


def test_keywords_and_type_names_cannot_be_names():
    """language.md: 'Keywords (`data`, `param`, `for`, `in`, `target`) and type names (`int`,
    `real`, `vector`, `matrix`) cannot be used as names'."""
    bullet = re.search(r"Keywords \((.*?)\) and type names \((.*?)\)",
                       " ".join((DOCS / "language.md").read_text().split()))
    words = re.findall(r"`(\w+)`", bullet.group(1) + bullet.group(2))
    assert len(words) == 9
    for word in words:
        with pytest.raises(ppl.ModelError) as info:
            ppl.model(f"data {word}: real\n", "m.ppl")
        assert str(info.value).startswith(f"m.ppl:1:6: error: '{word}' is a reserved word")


def test_data_is_checked_before_anything_is_compiled(monkeypatch):
    """language.md: 'the data's values are checked against the declared type and bounds
    before anything is compiled'."""
    def no_compiling(*args, **kwargs):
        raise AssertionError("compiled before the data was checked")

    monkeypatch.setattr(sys.modules["ppl.model"], "compile_graph", no_compiling)
    model = ppl.model("data N: int >= 1\ndata y: vector[N]\nmu ~ normal(0, 1)\n"
                      "y ~ normal(mu, 1)\n")
    for call in (model.compile, model.sample):
        with pytest.raises(ppl.DataError, match="data 'N' violates its lower bound"):
            call({"N": 0, "y": []})


def test_an_element_wise_definition_equals_multi_indexing():
    """language.md: `eta[n] = a[g[n]] + b * x[n] for n in 1:N` defines a vector element by
    element; multi-indexing `a[g] + b * x` gives the same result in one expression."""
    source = ("data N: int\ndata G: int\ndata g: int[N] in [1, G]\ndata x: vector[N]\n"
              "a: vector[G] ~ normal(0, 1)\nb ~ normal(0, 1)\n"
              "eta[n] = a[g[n]] + b * x[n] for n in 1:N\nalt = a[g] + b * x\n")
    compiled = _compiled(source, {"N": 5, "G": 3, "g": [3, 1, 2, 3, 1],
                                  "x": [0.5, -1.0, 2.0, 0.0, 1.5]})
    values = compiled.generated(jnp.array([0.3, -0.7, 1.1, 0.4]))
    np.testing.assert_array_equal(values["eta"], values["alt"])
    np.testing.assert_allclose(values["eta"], np.array([1.1, 0.3, -0.7, 1.1, 0.3])
                               + 0.4 * np.array([0.5, -1.0, 2.0, 0.0, 1.5]))


def _function_bullet() -> str:
    text = (DOCS / "language.md").read_text()
    return re.search(r"^- Functions: (.*?)(?=^- |^\n)", text, re.S | re.M).group(1)


def test_the_listed_functions_exist_and_have_the_listed_shapes():
    """language.md: 'exp, log, ... (element-wise); sum, mean, ... (reductions); softmax, ...
    (vector to vector); dot(x, y); pow, fmin, fmax, min(x, y), max(x, y) (element-wise
    binary)'. Each function of each group, read from the page, exists and gives the shape the
    group says on vectors of 3."""
    from ppl.library import FUNCTIONS

    shape_of = {"element-wise": (3,), "reductions": (), "vector to vector": (3,),
                "element-wise binary": (3,), "": ()}
    calls = {}
    for segment in " ".join(_function_bullet().split()).rstrip(".").split(";"):
        kind = re.search(r"\(([a-z -]+)\)$", segment.strip())
        names = segment[: kind.start()] if kind else segment
        for token in re.findall(r"[A-Za-z_]\w*(?:\([^)]*\))?", names):
            name = token.split("(")[0]
            assert name in FUNCTIONS, name
            binary = (kind is None or kind.group(1) == "element-wise binary"
                      or token.endswith("(x, y)"))
            calls[f"{name}(x, y)" if binary else f"{name}(x)"] = shape_of[
                kind.group(1) if kind else ""]
    assert len(calls) == 33 and calls["dot(x, y)"] == () and calls["min(x)"] == ()
    lines = [f"f{i} = {call}" for i, call in enumerate(calls)]
    source = "data x: vector[3]\ndata y: vector[3]\n" + "\n".join(lines) + "\n"
    data = _compiled(source, {"x": [0.2, 0.5, 0.7], "y": [0.6, 0.1, 0.9]}).data
    for i, (call, shape) in enumerate(calls.items()):
        assert np.shape(data[f"f{i}"]) == shape, call
        assert np.all(np.isfinite(data[f"f{i}"])), call


def test_the_listed_distributions_take_the_listed_arguments():
    """language.md 'Distributions': `normal(mu, sigma)`, `student_t(nu, mu, sigma)`, ...: each
    name and argument list on the page is the registry's (so named arguments work as shown)."""
    from ppl.library import DISTRIBUTIONS

    section = (DOCS / "language.md").read_text().split("## Distributions", 1)[1]
    section = section.split("\n## ", 1)[0].split("Arguments may be named", 1)[0]
    listed = re.findall(r"`(\w+)\(([^)`]*)\)`", section)
    assert len(listed) >= 25
    for name, arguments in listed:
        assert name in DISTRIBUTIONS, name
        assert [a.strip() for a in arguments.split(",") if a.strip()] == list(
            DISTRIBUTIONS[name].params), name


def test_bounded_data_is_simulated_truncated():
    """language.md: with `data y: real[N] > 0` and `y ~ normal(mu, sigma)`, 'the prior
    predictive draws `y` truncated' (untruncated, a third of these draws would be negative)."""
    model = ppl.model("data y: real[3] > 0\nmu ~ normal(0, 1)\ny ~ normal(mu, 1)\n")
    prior = _quiet(model.sample_prior_predictive, {}, draws=200, seed=1)
    y = np.asarray(prior["prior_predictive"]["y"])
    assert y.shape == (1, 200, 3) and np.all(y > 0)


def test_bounds_on_integers_and_on_multivariate_draws_add_no_normaliser():
    """language.md: 'Bounds on integer quantities and on multivariate draws are the support
    only: there is no normaliser for them'."""
    compiled = _compiled("data N: int\ndata k: int[N] in [0, 3]\nlam ~ gamma(2, 1)\n"
                         "k ~ poisson(lam)\n", {"N": 3, "k": [0, 2, 3]})
    _, likelihood = compiled.log_density_parts(compiled.unconstrain({"lam": jnp.asarray(1.7)}),
                                               jacobian=False)
    assert float(likelihood) == pytest.approx(stats.poisson.logpmf([0, 2, 3], 1.7).sum())
    compiled = _compiled("x: vector[2] < 0 ~ multi_normal([0, 0], [[1, 0.5], [0.5, 1]])\n")
    x = np.array([-0.3, -1.2])
    prior, _ = compiled.log_density_parts(compiled.unconstrain({"x": jnp.asarray(x)}),
                                          jacobian=False)
    cov = [[1, 0.5], [0.5, 1]]
    assert float(prior) == pytest.approx(stats.multivariate_normal([0, 0], cov).logpdf(x))


def test_the_unnormalised_form_written_by_hand_is_stans():
    """language.md: `param theta: real > 0` with `target += normal_lpdf(theta, mu, 1)` is Stan's
    `theta ~ normal(mu, 1)` on theta > 0: the density without the truncation normaliser."""
    source = "mu ~ normal(0, 3)\nparam theta: real > 0\ntarget += normal_lpdf(theta, mu, 1)\n"
    compiled = _compiled(source)
    u = compiled.unconstrain({"mu": jnp.asarray(-2.0), "theta": jnp.asarray(0.5)})
    prior, likelihood = compiled.log_density_parts(u, jacobian=False)
    assert float(prior + likelihood) == pytest.approx(
        stats.norm.logpdf(-2.0, 0, 3) + stats.norm.logpdf(0.5, -2.0, 1))


def test_a_conditional_evaluates_only_the_chosen_branch():
    """language.md: '`if c then a else b` evaluates only the chosen branch when `c` is a
    scalar': log(mu) at mu < 0 (NaN, with a NaN gradient) is never computed."""
    compiled = _compiled("mu ~ normal(0, 1)\ntarget += if mu > 0 then log(mu) else 0\n")
    u = jnp.array([-0.5])
    assert float(compiled.log_density(u)) == pytest.approx(stats.norm.logpdf(-0.5))
    assert float(jax.grad(compiled.log_density)(u)[0]) == pytest.approx(0.5)


def test_a_prior_on_a_constrained_type_is_the_density_restricted_to_the_set():
    """language.md: 'A prior written for it is the density restricted to the set' (no
    normaliser): `mu: ordered[2] ~ normal(0, 2)` has the plain normal density at mu1 < mu2."""
    compiled = _compiled("mu: ordered[2] ~ normal(0, 2)\n")
    mu = np.array([-0.5, 1.25])
    prior, _ = compiled.log_density_parts(compiled.unconstrain({"mu": jnp.asarray(mu)}),
                                          jacobian=False)
    assert float(prior) == pytest.approx(stats.norm.logpdf(mu, 0, 2).sum(), rel=1e-12)


HMM = HMM_MODEL


def test_a_hidden_markov_chain_is_summed_out_in_linear_time_with_no_pointwise_likelihood():
    """language.md: a chain is 'summed out by the forward algorithm (linear in T)' (2^400
    state sequences here), and 'a chain's observations are not separable, so they have none'
    (no pointwise log-likelihood)."""
    y = np.random.default_rng(0).normal(size=400)
    compiled = _compiled(HMM, {"T": 400, "y": y})
    u = compiled.initial_point(jax.random.PRNGKey(0))
    assert np.isfinite(float(jax.jit(compiled.log_density)(u)))
    assert compiled.pointwise_log_likelihood(u) == {}


def test_distribution_and_function_names_are_only_special_where_called():
    """language.md: 'distribution and function names are only special where they are
    called': `normal`, `exp` and `sum` may name quantities."""
    compiled = _compiled("data normal: real\nexp = 2\ndata sum: real\n"
                         "y ~ normal(normal + exp + sum, 1)\n", {"normal": 0.5, "sum": 1.0})
    u = jnp.array([0.0])
    assert float(compiled.log_density(u)) == pytest.approx(stats.norm.logpdf(0, 3.5, 1))


ODE = """
data ts: real[2]
function decay(t: real, z: vector[1], r: real): vector[1] = -r .* z
smooth = ode_solve(decay, [2.0], 0, ts, 0.7)
smooth_documented = ode_solve(decay, [2.0], 0, ts, 0.7, rtol = 1e-6, atol = 1e-6, max_steps = 4096)
smooth_tighter = ode_solve(decay, [2.0], 0, ts, 0.7, rtol = 1e-9)
stiff = ode_solve(decay, [2.0], 0, ts, 1e4)
stiff_documented = ode_solve(decay, [2.0], 0, ts, 1e4, max_steps = 4096)
stiff_more_steps = ode_solve(decay, [2.0], 0, ts, 1e4, max_steps = 8192)
"""


def test_ode_solve_options_default_to_the_documented_values_with_dormand_prince(monkeypatch):
    """language.md: `ode_solve` uses 'diffrax's adaptive Dormand-Prince 5(4) method; options
    `rtol`, `atol` (default 1e-6) and `max_steps` (4096)'. The defaults give exactly what the
    explicit values give, and a stiff solve that needs more than 4096 steps fails (NaN) by
    default but not with more steps."""
    import diffrax

    made = []

    class Spy(diffrax.Dopri5):
        def __init__(self, *args, **kwargs):
            made.append(self)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(diffrax, "Dopri5", Spy)
    data = _compiled(ODE, {"ts": [1.0, 2.0]}).data
    z = {name: np.asarray(data[name])[:, 0] for name in data
         if name.startswith(("smooth", "stiff"))}
    np.testing.assert_array_equal(z["smooth"], z["smooth_documented"])
    assert not np.array_equal(z["smooth"], z["smooth_tighter"])
    np.testing.assert_allclose(z["smooth"], 2 * np.exp(-0.7 * np.array([1.0, 2.0])), rtol=1e-4)
    assert np.all(np.isnan(z["stiff"])) and np.all(np.isnan(z["stiff_documented"]))
    assert np.all(np.isfinite(z["stiff_more_steps"]))
    assert len(made) >= 6  # every solve went through Dormand-Prince


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


def test_a_dim_given_as_a_count_has_the_coordinates_1_to_n():
    """language.md: a `dim`'s labels come from the data, 'a list of distinct labels, or a
    count n for 1..n', and become the coordinates of the results."""
    model = ppl.model("data g: dim\ndata h: dim\na: vector[g] ~ normal(0, 1)\n"
                      "b: vector[h] ~ normal(0, 1)\n")
    prior = model.sample_prior_predictive({"g": 3, "h": ["x", "y"]}, draws=5)
    assert prior["prior"]["a"].dims == ("chain", "draw", "g")
    assert prior["prior"]["g"].values.tolist() == [1, 2, 3]
    assert prior["prior"]["h"].values.tolist() == ["x", "y"]


# ===================================================================== docs/python-api.md


def test_render_draws_a_model_warning():
    """python-api.md: '`model.warnings` holds the likely mistakes ...;
    `ppl.errors.render(w, model.source)` draws one'."""
    model = ppl.model("data N: int\nmu ~ normal(0, 1)\n", "m.ppl")
    (warning,) = model.warnings
    assert ppl.errors.render(warning, model.source) == (
        "m.ppl:1:6: warning: data 'N' is declared but never used\n"
        "   1 | data N: int\n"
        "            ^\n"
        "  hint: remove the declaration or use it")








def _documented_signatures() -> dict[str, str]:
    text = (DOCS / "python-api.md").read_text()
    table = text.split("## `Model`", 1)[1].split("\n\n", 2)[1]
    return {m.group(1): m.group(2) for m in re.finditer(r"^\| `(\w+)\((.*?)\)` \|", table, re.M)}


def _signature_text(function) -> str:
    import inspect

    parts, star = [], False
    for p in list(inspect.signature(function).parameters.values())[1:]:
        if p.kind is p.KEYWORD_ONLY and not star:
            parts.append("*")
            star = True
        if p.kind is p.VAR_KEYWORD:
            parts.append("**options" if p.name == "backend_options" else f"**{p.name}")
        elif p.default is p.empty:
            parts.append(p.name)
        else:
            default = f'"{p.default}"' if isinstance(p.default, str) else repr(p.default)
            parts.append(f"{p.name}={default}")
    return ", ".join(parts)


def test_the_documented_model_methods_have_the_documented_signatures():
    """python-api.md's table of `Model` methods: names, order, defaults and keyword-only
    arguments are the code's (so `chains=4, draws=1000, ...` are the defaults used)."""
    documented = _documented_signatures()
    assert set(documented) == {"sample", "sample_prior_predictive", "log_marginal_likelihood",
                               "resume", "predict", "validate", "compile", "bind", "ir",
                               "graph_ir", "graph"}
    for name, text in documented.items():
        assert text == _signature_text(getattr(ppl.Model, name)), name


def test_sample_runs_the_documented_defaults(monkeypatch):
    """python-api.md/README: `sample(data)` runs `nuts` with 4 chains of 1000 draws after 1000
    warm-up iterations, seed 0, no progress bar and `max_tree_depth` 10 (at most 1024 leapfrog
    steps): what reaches the sampler is what the explicit values give. Without asking, no
    predictive, pointwise or prior group is made, and the draws are double precision."""
    from ppl.backends import nuts

    seen = []

    def spy(log_density, config, points, key, warmup, draws, method, progress=False,
            *args, **kwargs):
        seen.append((np.shape(points)[0], warmup, draws, progress, config.algo,
                     config.max_tree_depth, np.asarray(jax.random.key_data(key)).tolist()))
        raise _Stop

    model = ppl.model("x ~ normal(0, 1)\n")
    monkeypatch.setattr(nuts, "run_chains", spy)
    for args in ((), ({}, "nuts", 4, 1000, 1000, 0), ({}, "nuts", 4, 1000, 1000, 1)):
        with pytest.raises(_Stop):
            model.sample(*args)
    assert seen[0] == seen[1] != seen[2]
    assert seen[0][:6] == (4, 1000, 1000, False, "NUTS", 10)
    monkeypatch.undo()
    fit = _quiet(model.sample, {}, chains=1, draws=10, warmup=10)
    assert set(fit.children) == {"posterior", "sample_stats", "sampler_state"}
    assert fit.posterior["x"].dtype == np.float64


def test_sample_prior_predictive_draws_500_with_seed_0_by_default():
    """python-api.md: `sample_prior_predictive(data, draws=500, seed=0)` gives the `prior` and
    `prior_predictive` groups; observed variables may be left out (they are simulated)."""
    model = ppl.model("data y: real\nmu ~ normal(0, 1)\ny ~ normal(mu, 1)\n")
    default = model.sample_prior_predictive({})
    assert set(default.children) == {"prior", "prior_predictive"}
    assert default["prior"]["mu"].shape == (1, 500)
    np.testing.assert_array_equal(default["prior"]["mu"],
                                  model.sample_prior_predictive({}, 500, 0)["prior"]["mu"])
    assert not np.array_equal(default["prior"]["mu"],
                              model.sample_prior_predictive({}, 500, 1)["prior"]["mu"])


@pytest.fixture(scope="module")
def eight_fit():
    """Eight schools: 2 chains of 60 draws, with the posterior predictive and the pointwise
    log-likelihood."""
    data = json.loads(Path(EIGHT_DATA).read_text())
    fit = _quiet(ppl.load(EIGHT).sample, data, chains=2, draws=60, warmup=100, seed=3,
                 posterior_predictive=True, log_likelihood=True, init="uniform")
    return fit, data


def test_resume_continues_a_fit_read_back_from_a_file(eight_fit, tmp_path):
    """python-api.md: `resume` 'works on partial fits and on fits read back from a file',
    continuing each chain with its adapted step size (no new warm-up)."""
    fit, data = eight_fit
    ppl.summary.save(fit, tmp_path / "fit.nc")
    more = _quiet(ppl.load(EIGHT).resume, ppl.load_fit(tmp_path / "fit.nc"), data, draws=20)
    assert more.posterior.sizes["draw"] == 80
    np.testing.assert_array_equal(more.posterior["mu"][:, :60], fit.posterior["mu"])
    steps = np.asarray(more.sample_stats["step_size"])
    np.testing.assert_allclose(steps[:, 60:], steps[:, 59:60] * np.ones((1, 20)))
    assert more.posterior_predictive.sizes["draw"] == 80  # the groups the fit has, extended


def test_allow_missing_data_samples_the_left_out_data_with_the_parameters():
    """python-api.md: with `allow_missing_data=True` 'the left-out data is then sampled along
    with the parameters' (here y ~ normal(mu, 1) with no data: y's posterior is its prior
    predictive, sd sqrt(2))."""
    model = ppl.model("data y: real\nmu ~ normal(0, 1)\ny ~ normal(mu, 1)\n")
    fit = _quiet(model.sample, {}, chains=1, draws=300, warmup=150, seed=2,
                 allow_missing_data=True, init="uniform")
    y = np.asarray(fit.posterior["y"]).ravel()
    ess = float(ppl.summary.summary_rows(fit, ["y"])[0]["ess_bulk"])
    assert abs(y.mean()) < 4 * np.sqrt(2 / ess)
    assert "observed_data" not in fit.children


def test_log_marginal_likelihood_needs_every_declared_data_entry():
    """python-api.md: `sample`, `compile`, `bind` and `log_marginal_likelihood` raise a
    `ppl.DataError` at the declaration for data left out, with the key it was probably meant
    to be."""
    model = ppl.model("data y: real\nmu ~ normal(0, 1)\ny ~ normal(mu, 1)\n", "m.ppl")
    with pytest.raises(ppl.DataError) as info:
        model.log_marginal_likelihood({"Y": 1.0})
    assert str(info.value).startswith("m.ppl:1:1: error: data 'y' is declared but not supplied")
    assert info.value.diagnostics[0].hint == "the data has 'Y': did you mean 'y'?"


TOO_BIG = "data N: int\nx: vector[N] ~ normal(0, 1)\ndata y: real\ny ~ normal(x[1], 1)\n"


@pytest.mark.parametrize("call", ["compile", "sample_prior_predictive",
                                  "log_marginal_likelihood"])
def test_every_entry_point_refuses_a_run_too_big_for_memory(call, monkeypatch):
    """python-api.md: 'Before anything is compiled, `sample`, `compile`,
    `sample_prior_predictive` and `log_marginal_likelihood` estimate the memory' and refuse
    with a `ModelError` at the statement that takes the most (`sample`:
    tests/test_hardening.py)."""
    def no_compiling(*args, **kwargs):
        raise AssertionError("compiled although the memory check should have refused it")

    monkeypatch.setattr(sys.modules["ppl.model"], "compile_graph", no_compiling)
    model = ppl.model(TOO_BIG, "m.ppl")
    with pytest.raises(ppl.ModelError) as info:
        getattr(model, call)({"N": 10**9, "y": 0.5}, memory_limit="1GB")
    assert str(info.value).startswith("m.ppl:2:1: error: this run would need about ")
    assert "GB of memory, more than the memory limit of 1 GB" in str(info.value)


def test_memory_limit_off_forms_and_the_default_of_half_the_machine(monkeypatch):
    """python-api.md: the limit is `memory_limit=` ('16GB', '1.5GiB', '500MB' or 'off'), else
    `PPL_MEMORY_LIMIT`, else half the machine's memory (its physical memory, or a control
    group's limit when lower)."""
    import ppl.memory

    model = ppl.model("x: vector[1000] ~ normal(0, 1)\n")
    with pytest.raises(ppl.ModelError):
        model.compile({}, memory_limit="10kB")
    assert model.compile({}, memory_limit="off").dimension == 1000
    monkeypatch.setenv("PPL_MEMORY_LIMIT", "10kB")
    with pytest.raises(ppl.ModelError):
        model.compile({})
    monkeypatch.setenv("PPL_MEMORY_LIMIT", "off")
    assert model.compile({}).dimension == 1000
    monkeypatch.delenv("PPL_MEMORY_LIMIT")
    limits = [os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")]
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        text = Path(path).read_text().strip() if Path(path).is_file() else ""
        limits += [int(text)] if text.isdigit() else []
    assert ppl.memory.memory_limit() == min(limits) / 2


def test_the_memory_estimate_of_the_documented_regression():
    """python-api.md: three copies per chain of every quantity while the log density and its
    gradient are evaluated, plus the stored draws (parameters twice, deterministics, discrete
    parameters and generated quantities once); 'a length-N `mu` of a regression with N = 10^6
    takes 16 GB over 2 x 1000 draws', and the observed variables count once more for each of
    `posterior_predictive` and `log_likelihood`."""
    from ppl.memory import Quantity, RunShape, estimate

    quantities = [Quantity("x", "data", 10**6), Quantity("y", "observed", 10**6),
                  Quantity("a", "latent", 1), Quantity("mu", "deterministic", 10**6),
                  Quantity("z", "discrete", 10), Quantity("g", "generated", 10)]
    plain = estimate(quantities, RunShape(chains=2, draws=1000), itemsize=8)
    assert plain.stored["mu"] == 16e9 and "y" not in plain.stored and "x" not in plain.stored
    assert plain.stored["a"] == 2 * 2 * 1000 * 8
    assert plain.stored["z"] == plain.stored["g"] == 2 * 1000 * 8 * 10
    assert plain.evaluation == 2 * 3 * 8 * (3 * 10**6 + 1 + 20)
    one = estimate(quantities, RunShape(chains=2, draws=1000, predictive=True), itemsize=8)
    both = estimate(quantities, RunShape(chains=2, draws=1000, predictive=True,
                                         log_likelihood=True), itemsize=8)
    assert one.stored["y"] == 16e9 and both.stored["y"] == 2 * 16e9


def test_deterministics_are_left_out_largest_first_until_the_run_fits():
    """python-api.md: 'When it exceeds the memory limit, deterministics are left out of
    `posterior`, largest first, until the run fits, and a `SamplingWarning` names each one'
    (one left out here, then both; the parameter is never left out)."""
    from ppl.memory import Quantity, RunShape, estimate, plan

    quantities = [Quantity("a", "latent", 10), Quantity("small", "deterministic", 1000),
                  Quantity("big", "deterministic", 100_000), Quantity("mid", "observed", 10)]
    run = RunShape(chains=2, draws=100)
    full = estimate(quantities, run, 8)
    without_big = full.total - full.stored["big"]
    one = plan(quantities, run, 8, without_big, None)
    assert one.left_out == ("big",) and len(one.notes) == 1 and "'big' was left out" in (
        one.notes[0])
    both = plan(quantities, run, 8, without_big - full.stored["small"], None)
    assert both.left_out == ("big", "small")
    with pytest.raises(ppl.ModelError, match="more than the memory limit"):
        plan(quantities, run, 8, without_big - full.stored["small"] - 1, None)


def test_auto_init_climbs_from_max_8_or_twice_the_chains_points(monkeypatch):
    """python-api.md: `init="auto"`: for a model with a sum over alternatives ..., 'L-BFGS
    climbs from max(8, 2 x chains) uniform(-2, 2) points'; any other model starts at the
    uniform points without climbing."""
    from ppl.backends import base

    counts = []
    real = base._climbs

    def spy(model, starts):
        counts[-1] += len(starts)
        return real(model, starts)

    monkeypatch.setattr(base, "_climbs", spy)
    mixture = _compiled("x ~ normal(0, 1)\ntarget += log_mix(0.5, normal_lpdf(x, 1, 1), "
                        "normal_lpdf(x, -1, 1))\n")
    plain = _compiled("x ~ normal(0, 1)\n")
    for compiled in (mixture, plain):
        for chains in (2, 6):
            counts.append(0)
            base.initial_points(compiled, jax.random.PRNGKey(0), chains, init="auto")
    assert counts == [8, 12, 0, 0]


def test_above_200_dimensions_the_uniform_points_are_used():
    """python-api.md: 'Above 200 unconstrained dimensions ... the uniform points are used'
    (at 200, two modes make `auto` start the chains at their Laplace draws instead)."""
    from ppl.backends.base import initial_points

    def starts_at_uniform_points(dimension: int) -> bool:
        compiled = _compiled(f"z: vector[{dimension - 1}] ~ normal(0, 1)\nparam x: real\n"
                             "target += log_mix(0.5, normal_lpdf(x, 3, 0.5), "
                             "normal_lpdf(x, -3, 0.5))\n")
        key = jax.random.PRNGKey(0)
        return np.array_equal(initial_points(compiled, key, 2, init="auto"),
                              initial_points(compiled, key, 2, init="uniform"))

    assert not starts_at_uniform_points(200)
    assert starts_at_uniform_points(201)


def test_separated_modes_are_reported_only_from_1_percent_of_the_mass(monkeypatch):
    """python-api.md: a warning for 'separated modes that each hold at least 1% of the
    estimated mass': 3% is reported, 0.5% is not, though the climbs found it both times."""
    from ppl.backends import base

    found = []
    real = base.separated_modes_note

    def spy(groups, *args):
        found.append(len(groups))
        return real(groups, *args)

    monkeypatch.setattr(base, "separated_modes_note", spy)
    notes = {}
    for weight in (0.97, 0.995):
        compiled = _compiled(f"param x: real\ntarget += log_mix({weight}, normal_lpdf(x, 3, "
                             "0.5), normal_lpdf(x, -3, 0.5))\n")
        notes[weight] = base.laplace_start(compiled, jax.random.PRNGKey(0), 2)[1]
    assert found == [2, 2]
    assert len(notes[0.97]) == 1 and "found 2 separated modes" in notes[0.97][0]
    assert "3% of the estimated mass" in notes[0.97][0]
    assert notes[0.995] == []


def test_a_chain_restarted_at_the_end_of_warmup_is_recorded_and_warned(monkeypatch):
    """python-api.md: a chain that cannot move at the end of warm-up 'is restarted from the
    adapted state ... of a healthy chain; the fit records it in
    `fit.attrs["recovered_chains"]` and warns', and the chains' final positions, step sizes and
    mass matrices are kept in the group `sampler_state`. Chain 2 starts at x = 4, where the
    gradient is NaN."""
    from ppl.backends import nuts

    real = nuts.starting_points

    def one_bad_start(model, key, chains, init):
        points, notes = real(model, key, chains, "uniform")
        return jnp.asarray(points).at[1, 0].set(4.0), notes

    monkeypatch.setattr(nuts, "starting_points", one_bad_start)
    model = ppl.model("x ~ normal(0, 1)\ntarget += sqrt(if x > 3 then 0 * x else 1)\n")
    # init="prior": through starting_points (uniform starts are checked by the init program,
    # which would replace the bad one before warm-up)
    fit, issued = _sample_recording(model, chains=2, draws=50, warmup=100, seed=0,
                                    init="prior")
    assert any(w.startswith("chain 2 was restarted from chain 1's adapted state") for w in issued)
    assert fit.attrs["recovered_chains"] == "2 from 1"
    x = np.asarray(fit.posterior["x"])
    assert np.mean(x[1, 1:] != x[1, :-1]) > 0.5  # the restarted chain moves
    assert set(fit["sampler_state"].data_vars) == {"position", "step_size",
                                                   "inverse_mass_matrix"}


def _sample_recording(model, data=None, **kwargs):
    """``model.sample`` and the text of the ``SamplingWarning``s it issued."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = model.sample(data or {}, **kwargs)
    return fit, [str(w.message) for w in caught if issubclass(w.category, ppl.SamplingWarning)]


def test_results_have_the_documented_groups_dimensions_and_coordinates(eight_fit):
    """python-api.md 'Results' (and architecture.md 'Infer'/'Results'): groups `posterior`
    (latent and deterministic quantities), `sample_stats` (diverging, tree_depth, step_size,
    energy, ...), `observed_data`, and on request `posterior_predictive` and `log_likelihood`;
    dimensions named after the sizes, coordinates from 1 (`.sel(J=1)`)."""
    fit, _ = eight_fit
    assert {"posterior", "sample_stats", "observed_data", "posterior_predictive",
            "log_likelihood"} <= set(fit.children)
    assert set(fit.posterior.data_vars) == {"mu", "tau", "theta_raw", "theta"}
    assert {"diverging", "tree_depth", "step_size", "energy"} <= set(fit.sample_stats.data_vars)
    theta = fit["posterior"]["theta"]
    assert theta.dims == ("chain", "draw", "J") and theta["J"].values.tolist() == list(
        range(1, 9))
    np.testing.assert_array_equal(theta.sel(J=1), theta[:, :, 0])
    assert fit.posterior_predictive["y"].dims == ("chain", "draw", "J")
    assert fit.log_likelihood["y"].shape == (2, 60, 8)


def test_arviz_plots_and_diagnostics_work_on_a_fit(eight_fit):
    """README/python-api.md: 'Every ArviZ plot and diagnostic works on it' (a few of each,
    including those that read `sample_stats` and `log_likelihood`)."""
    import arviz as az
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fit, _ = eight_fit
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summary = az.summary(fit)
        assert {"mean", "sd", "ess_bulk", "r_hat"} <= set(summary.columns)
        assert len(summary) == 2 + 8 + 8
        assert np.isfinite(az.loo(fit).elpd)
        for plot in (az.plot_trace_dist, az.plot_energy, az.plot_forest, az.plot_ppc_dist):
            plot(fit)
    plt.close("all")


def test_flat_draws_names_elements_stan_style():
    """python-api.md: `ppl.summary.flat_draws(fit)`: 'Stan-style names (`theta[1]`, `L[2,1]`)
    -> chains x draws lists'."""
    from arviz_base import from_dict

    L = np.arange(2 * 3 * 4).reshape(1, 2, 3, 4).astype(float)
    fit = from_dict({"posterior": {"L": L, "mu": np.zeros((1, 2))}}, index_origin=1)
    draws = ppl.summary.flat_draws(fit)
    assert set(draws) == {"mu", *(f"L[{i},{j}]" for i in (1, 2, 3) for j in (1, 2, 3, 4))}
    assert draws["L[2,1]"] == [[L[0, 0, 1, 0], L[0, 1, 1, 0]]]


def test_every_backend_lists_its_options_in_its_description(capsys):
    """python-api.md: `ppl.available_backends()` maps each installed backend's name to it, 'its
    `description` lists its options'; cli.md: `ppl backends` lists each 'with its options'."""
    assert main(["backends"]) == 0
    printed = capsys.readouterr().out
    backends = ppl.available_backends()
    assert {"nuts", "hmc", "advi", "smc", "map", "pathfinder"} <= set(backends)
    for name, backend in backends.items():
        assert backend.name == name
        for option in backend.options:
            assert re.search(rf"\b{option.name}\b", backend.description), (name, option.name)
        line = next(line for line in printed.splitlines() if line.split()[0] == name)
        assert backend.description in line


def test_log_density_with_takes_other_data_of_the_same_shapes():
    """python-api.md: 'The integer scalars (sizes such as `N`) stay static; every other value
    is in `compiled.traced_data`, and `compiled.log_density_with(u, data)` evaluates the log
    density with other values of the same shapes (`jax.vmap` it over stacked data sets)'."""
    model = ppl.model("data N: int\ndata y: vector[N]\nmu ~ normal(0, 5)\ny ~ normal(mu, 1)\n")
    compiled = model.compile({"N": 3, "y": [0.5, 1.0, 2.0]})
    assert set(compiled.traced_data) == {"y"}
    u = jnp.array([0.3])
    sets = np.array([[1.0, 2.0, 3.0], [-1.0, 0.0, 4.0]])
    stacked = jax.vmap(compiled.log_density_with, in_axes=(None, 0))(u, {"y": jnp.asarray(sets)})
    for i, y in enumerate(sets):
        expected = stats.norm.logpdf(0.3, 0, 5) + stats.norm.logpdf(y, 0.3, 1).sum()
        assert float(compiled.log_density_with(u, {"y": jnp.asarray(y)})) == pytest.approx(
            expected, rel=1e-12)
        assert float(stacked[i]) == pytest.approx(expected, rel=1e-12)


def test_a_graph_that_cannot_be_drawn_is_a_render_error(tmp_path, monkeypatch):
    """python-api.md: `ppl.ir.render.RenderError` (a `PPLError`) for a graph that cannot be
    drawn, such as an image without Graphviz: `.svg/.png/.pdf need Graphviz's dot`."""
    from ppl.ir import render

    monkeypatch.setenv("PATH", "")
    for suffix in ("svg", "png", "pdf"):
        with pytest.raises(render.RenderError) as info:
            render.write(ppl.load(EIGHT).graph_ir(), tmp_path / f"model.{suffix}")
        assert isinstance(info.value, ppl.PPLError)
        assert "the Graphviz program 'dot' is not installed" in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_sampling_warnings_of_any_backend_are_python_warnings_that_can_be_errors():
    """python-api.md: '`sample` (every backend) issues each warning about the fit as a Python
    warning of class `ppl.SamplingWarning` ... and records the list ... in
    `fit.attrs["warnings"]`'; `warnings.simplefilter("error", ppl.SamplingWarning)` turns them
    into exceptions. Here ADVI stopped after 100 steps, before it converged."""
    model = ppl.model("data y: real\nmu ~ normal(0, 1)\ny ~ normal(mu, 1)\n")
    options = {"backend": "advi", "chains": 1, "draws": 50, "seed": 0, "max_steps": 100,
               "check_every": 100}
    fit, issued = _sample_recording(model, {"y": 0.5}, **options)
    assert any(w.startswith("ADVI did not converge") for w in issued)
    assert issued == json.loads(fit.attrs["warnings"])
    with warnings.catch_warnings():
        warnings.simplefilter("error", ppl.SamplingWarning)
        with pytest.raises(ppl.SamplingWarning, match="ADVI did not converge"):
            model.sample({"y": 0.5}, **options)


# ============================================================================ docs/cli.md


def _cli_table(heading: str) -> list[list[str]]:
    """The rows (cells stripped) of the first table after ``heading`` in docs/cli.md."""
    tail = (DOCS / "cli.md").read_text().split(heading, 1)[1]
    rows = re.search(r"^\|.*?(?=^[^|])", tail, re.S | re.M).group(0).strip().splitlines()
    return [[c.strip() for c in row.strip("|").split("|")] for row in rows[2:]]


def test_every_command_help_lists_its_documented_flags(capsys):
    """cli.md: '`ppl COMMAND --help` lists every flag': those of the `ppl run` table and the
    `--data` / `-o` of check, ir and graph."""
    flags = {"run": [f for row in _cli_table("## `ppl run`")
                     for f in re.findall(r"`(-[-\w]+)", row[0])],
             "check": ["--data", "--guide"], "ir": ["--data"],
             "graph": ["--data", "--output", "-o"]}
    assert len(flags["run"]) == 14
    for command, expected in flags.items():
        with pytest.raises(SystemExit) as info:
            main([command, "--help"])
        assert info.value.code == 0
        shown = capsys.readouterr().out
        for flag in expected:
            assert re.search(rf"(^|[\s,]){re.escape(flag)}\b", shown), (command, flag)


def test_ppl_run_passes_the_documented_defaults(monkeypatch):
    """cli.md/README: `--backend` nuts, `--chains` 4, `--draws` 1000, `--warmup` 1000, `--seed`
    0, `--predictive` off, and the progress bar shown unless `--no-progress`."""
    seen = []

    def spy(self, data=None, **kwargs):
        seen.append(kwargs)
        raise _Stop

    monkeypatch.setattr(ppl.Model, "sample", spy)
    for extra in ([], ["--no-progress"]):
        with pytest.raises(_Stop):
            main(["run", EIGHT, "--data", EIGHT_DATA, *extra])
    assert seen[0] == {"backend": "nuts", "chains": 4, "draws": 1000, "warmup": 1000,
                       "seed": 0, "progress": True, "posterior_predictive": False,
                       "var_names": None}
    assert seen[1]["progress"] is False


def test_ppl_run_prints_progress_then_the_summary_table_and_its_warnings(tmp_path, capsys,
                                                                        monkeypatch):
    """README/cli.md: `ppl run` shows a progress bar (unless `--no-progress`), then a summary
    table of mean, sd, 94% HDI, bulk and tail ESS and R-hat per quantity, then warnings (here:
    low ESS, from 30 draws)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.ppl").write_text("data y: real\nmu ~ normal(0, 1)\ny ~ normal(mu, 1)\n")
    (tmp_path / "d.json").write_text('{"y": 0.5}')
    args = ["run", "m.ppl", "--data", "d.json", "--chains", "1", "--draws", "30", "--warmup",
            "30", "-o", "init=uniform"]
    outputs = []
    for extra in ([], ["--no-progress"]):
        assert main([*args, *extra]) == 0
        outputs.append(capsys.readouterr())
    shown, hidden = outputs
    assert re.search(r"sampling .* 60/60", shown.err) and "60/60" not in hidden.err
    assert _header_words(shown.out) == ["parameter", "mean", "sd", "hdi 3%", "hdi 97%",
                                        "ess bulk", "ess tail", "r_hat"]
    assert "│ mu " in shown.out
    assert "warning: low effective sample size for mu" in shown.err
    assert shown.err.index("60/60") < shown.err.index("warning:")


def _header_words(printed: str) -> list[str]:
    """The column titles of the first table in ``printed``, a title wrapped over several
    header lines joined again."""
    lines = [line for line in printed.split("┏", 1)[1].split("┡", 1)[0].splitlines()
             if line.startswith("┃")]
    cells = [[c.strip() for c in line.strip("┃").split("┃")] for line in lines]
    return [" ".join(w for w in column if w) for column in zip(*cells, strict=True)]


@pytest.mark.parametrize("window", ["warm-up", "second Ctrl-C"])
def test_ctrl_c_during_warmup_writes_nothing_and_exits_130(window, tmp_path, capsys,
                                                           monkeypatch):
    """cli.md: 'Ctrl-C during warm-up, or a second Ctrl-C, stops at once: nothing is written,
    exit `130`'."""
    from contextlib import contextmanager

    from ppl.backends import hmc_chains

    @contextmanager
    def interrupted():
        if window == "second Ctrl-C":
            raise KeyboardInterrupt
        yield lambda: True

    monkeypatch.setattr(hmc_chains, "interruptible", interrupted)
    output = tmp_path / "draws.nc"
    code = main(["run", EIGHT, "--data", EIGHT_DATA, "--chains", "1", "--warmup", "5000",
                 "--no-progress", "-o", "init=uniform", "--output", str(output)])
    assert code == 130
    assert list(tmp_path.iterdir()) == []
    captured = capsys.readouterr()
    assert "interrupted" in captured.err and "posterior summary" not in captured.out


def test_ppl_run_refuses_a_run_too_big_for_the_memory_limit(tmp_path, capsys, monkeypatch):
    """cli.md: 'a run that does not fit ... stops with an error (exit code 1) at the statement
    that takes the most, with the estimate in GB. The limit is the environment variable
    `PPL_MEMORY_LIMIT`'."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PPL_MEMORY_LIMIT", "500MB")
    (tmp_path / "m.ppl").write_text("mu ~ normal(0, 1)\nx: vector[100000] ~ normal(mu, 1)\n")
    assert main(["run", "m.ppl", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert re.match(r"m\.ppl:2:1: error: this run would need about [\d.]+ GB of memory, more "
                    r"than the memory limit of 0\.5 GB: 'x' has 100,000 values", err)
    assert "Traceback" not in err


def test_ppl_ir_prints_the_documented_dump(capsys):
    """cli.md 'ppl check and ppl ir': the `$ ppl ir examples/eight_schools.ppl` block."""
    shown = re.search(r"^```\n\$ ppl ir examples/eight_schools\.ppl\n(.*?)^```",
                      (DOCS / "cli.md").read_text(), re.S | re.M).group(1)
    assert main(["ir", EIGHT]) == 0
    assert capsys.readouterr().out == shown


def test_ppl_graph_writes_dot_source_to_a_gv_file_without_graphviz(tmp_path, capsys,
                                                                  monkeypatch):
    """cli.md: '`.dot` (or `.gv`) is the DOT source, written by ppl itself'."""
    from ppl.ir import render

    monkeypatch.setenv("PATH", "")
    out = tmp_path / "model.gv"
    assert main(["graph", EIGHT, "-o", str(out)]) == 0
    assert out.read_text() == render.to_dot(ppl.load(EIGHT).graph_ir())


ALL_KINDS = """
data N: int >= 1
data y: vector[N]
data x: vector[N]
xm = mean(x)
w: simplex[2] ~ dirichlet([1, 1])
mu: ordered[2] ~ normal(0, 3)
z[n] ~ categorical(w) for n in 1:N
y[n] ~ normal(mu[z[n]] + xm, 1) for n in 1:N
m2 = mu[2] - mu[1]
target += -square(mu[1])
generated yr[n] ~ normal(mu[z[n]], 1) for n in 1:N
"""


def test_ppl_graph_draws_each_node_kind_as_the_table_says():
    """cli.md 'How the graph is drawn': data a box, transformed data a dashed box, a latent an
    ellipse, observed a grey filled ellipse, deterministic a dashed ellipse, a factor an
    octagon (and the rest of the table's rows)."""
    from ppl.ir import render

    graph = ppl.model(ALL_KINDS).graph_ir()
    kinds = {node.kind: node.name for node in graph.nodes}
    dot = render.to_dot(graph)
    rows = _cli_table("How the graph is drawn:")
    assert len(rows) == len(kinds) == 8
    for node, drawing in rows:
        kind = {"transformed": "transformed_data", "`target": "factor"}.get(
            node.split()[0], node.split()[0])
        name = kinds[kind]
        line = re.search(rf'^\s*"?{re.escape(name)}"? \[label=.*$', dot, re.M).group(0)
        bracket = re.sub(r'label="(?:[^"\\]|\\.)*"', "", line.split(" [", 1)[1])
        attributes = dict(re.findall(r'(\w+)=("[^"]*"|[^\s\]]+)', bracket))
        words = drawing.replace(",", "").split()
        expected = {"shape": words[-1]}
        styles = [w for w in words if w in ("dashed", "dotted", "filled")]
        if styles:
            expected["style"] = styles[0]
        if "grey" in words:
            expected["fillcolor"] = '"#d0d0d0"'
        if "double" in words:
            expected["peripheries"] = "2"
        assert attributes == expected, (node, line)


def test_prior_runs_summarise_mean_sd_and_hdi_and_ignore_the_fitting_flags(tmp_path, capsys):
    """cli.md `--prior`: '`--draws` independent draws from the prior and the prior predictive,
    summarised (mean, sd, 94% HDI); ... `--chains`, `--warmup`, `--backend`, `--predictive` and
    `-o` are not used'."""
    data = json.loads(Path(EIGHT_DATA).read_text())
    del data["y"]
    (tmp_path / "d.json").write_text(json.dumps(data))
    common = ["run", EIGHT, "--data", str(tmp_path / "d.json"), "--prior", "--draws", "40",
              "--seed", "3"]
    assert main([*common, "--output", str(tmp_path / "plain.json")]) == 0
    plain = capsys.readouterr().out
    assert main([*common, "--chains", "3", "--warmup", "7", "--backend", "map",
                 "--predictive", "-o", "no_such_option=1",
                 "--output", str(tmp_path / "flags.json")]) == 0
    assert capsys.readouterr().out.replace("flags.json", "plain.json") == plain
    assert _header_words(plain) == ["quantity", "mean", "sd", "hdi 3%", "hdi 97%"]
    first, second = (ppl.load_fit(tmp_path / f"{n}.json") for n in ("plain", "flags"))
    assert first["prior"]["mu"].shape == (1, 40)
    np.testing.assert_array_equal(first["prior_predictive"]["y"],
                                  second["prior_predictive"]["y"])


def _summary_fit(chains: int = 2):
    from arviz_base import from_dict

    rng = np.random.default_rng(0)
    return from_dict({"posterior": {"mu": rng.normal(size=(chains, 50))}}, index_origin=1)


@pytest.mark.parametrize("r_hat, ess_bulk, ess_tail, expected", [
    (1.0105, 500, 500, ["R-hat above 1.01 for mu"]),
    (1.0095, 500, 500, []),
    (1.0, 199, 500, ["low effective sample size for mu"]),
    (1.0, 500, 199, ["low effective sample size for mu"]),
    (1.0, 200, 200, []),
])
def test_r_hat_and_ess_warnings_start_at_the_documented_limits(r_hat, ess_bulk, ess_tail,
                                                               expected, monkeypatch):
    """cli.md: warnings for 'R-hat above 1.01 and low bulk or tail ESS (below 100 per chain)'
    (2 chains here: below 200)."""
    from ppl import summary

    monkeypatch.setattr(summary, "summary_rows", lambda fit, names=None, kind="all": [
        {"name": "mu", "r_hat": r_hat, "ess_bulk": ess_bulk, "ess_tail": ess_tail}])
    notes = summary.sampler_warnings(_summary_fit())
    assert [n.split(":")[0] for n in notes] == expected


def _divergent_fit(percentiles: dict[str, float]):
    """2 x 1000 draws, every 10th divergent; each quantity's divergent draws at the given
    percentile of its other draws."""
    from arviz_base import from_dict

    rng = np.random.default_rng(1)
    mask = np.zeros(2000, bool)
    mask[::10] = True
    posterior = {}
    for name, p in percentiles.items():
        values = np.empty(2000)
        values[~mask] = rng.permutation(np.arange(1.0, 1801.0))
        values[mask] = p * 1800 + 0.5
        posterior[name] = values.reshape(2, 1000)
    stats = {"diverging": mask.reshape(2, 1000)}
    return from_dict({"posterior": posterior, "sample_stats": stats}, index_origin=1)


def test_divergences_name_quantities_beyond_the_30th_or_70th_percentile_and_at_most_three():
    """cli.md: 'A quantity is named when the average is at most the 30th or at least the 70th
    percentile and this is beyond chance ...; at most three are named'."""
    from ppl.summary import divergence_locations

    fit = _divergent_fit({"a": 0.35, "b": 0.29, "c": 0.72, "d": 0.66})
    assert [loc.name for loc in divergence_locations(fit)] == ["c", "b"]  # most extreme first
    fit = _divergent_fit({"e": 0.10, "f": 0.04, "g": 0.95, "h": 0.08, "i": 0.2})
    assert [loc.name for loc in divergence_locations(fit)] == ["f", "g", "h"]
    note = ppl.summary.sampler_warnings(fit)[0]
    assert note.startswith("200 of 2000 draws diverged, concentrated at small values of f ")
    assert note.count("values of") == 3


def test_a_netcdf_output_is_read_by_xarray(eight_fit, tmp_path):
    """cli.md: `.nc` is 'netCDF-4 with one group per DataTree group ... ArviZ and xarray read
    it: `xarray.open_datatree(FILE)`'."""
    import xarray as xr

    fit, _ = eight_fit
    ppl.summary.save(fit, tmp_path / "fit.nc")
    with xr.open_datatree(tmp_path / "fit.nc") as tree:
        assert set(tree.children) == set(fit.children)
        np.testing.assert_array_equal(tree["posterior"]["theta"], fit["posterior"]["theta"])


def test_the_json_output_has_the_documented_coordinates_and_types(eight_fit, tmp_path):
    """cli.md 'Output files': `data` in the order of `dims`, coordinates starting at 1, `dtype`
    a NumPy type name (`float64`, `int64`, `bool`)."""
    fit, _ = eight_fit
    ppl.summary.save(fit, tmp_path / "fit.json")
    text = json.loads((tmp_path / "fit.json").read_text())
    posterior = text["groups"]["posterior"]
    assert posterior["coords"]["chain"] == {"dims": ["chain"], "dtype": "int64", "shape": [2],
                                            "data": [1, 2]}
    assert posterior["coords"]["J"]["data"] == list(range(1, 9))
    theta = posterior["variables"]["theta"]
    assert (theta["dims"], theta["dtype"], theta["shape"]) == (["chain", "draw", "J"],
                                                               "float64", [2, 60, 8])
    assert theta["data"][1][5][7] == float(fit.posterior["theta"][1, 5, 7])
    assert text["groups"]["sample_stats"]["variables"]["diverging"]["dtype"] == "bool"


# ==================================================================== docs/architecture.md


def test_the_lower_stage_names_every_node_kind():
    """architecture.md: lowering produces a `Graph` with the node kinds listed in its row."""
    from ppl.ir.graph import KINDS

    row = next(line for line in (DOCS / "architecture.md").read_text().splitlines()
               if line.startswith("| lower |"))
    listed = re.findall(r"`(\w+)`", row.split("`Graph`", 1)[1])
    assert sorted(listed) == sorted(KINDS)
    assert {node.kind for node in ppl.model(ALL_KINDS).graph_ir().nodes} == set(KINDS)


def test_the_built_in_backends_live_in_the_documented_modules():
    """README/architecture.md: the backends live in `ppl/backends/`, one module each, except
    `nuts` and `hmc`, which share `nuts.py`."""
    from ppl.backends.registry import builtin_backends

    modules = {name: type(b).__module__ for name, b in builtin_backends().items()}
    assert modules == {"nuts": "ppl.backends.nuts", "hmc": "ppl.backends.nuts",
                       "advi": "ppl.backends.advi", "map": "ppl.backends.map",
                       "smc": "ppl.backends.smc", "pathfinder": "ppl.backends.pathfinder",
                       "gpss": "ppl.backends.gpss", "vi": "ppl.backends.vi",
                       "consensus": "ppl.backends.consensus",
                       "split_gibbs": "ppl.backends.split_gibbs"}
    for page in (ROOT / "README.md", DOCS / "architecture.md"):
        assert "`nuts` and `hmc` share" in " ".join(page.read_text().split()), page.name


def test_the_parse_stage_gives_the_documented_definition_of_theta():
    """architecture.md 'Parse': 'The definition of `theta` becomes (spans left out)
    `Define(...)`'; `ast.Program` holds frozen dataclasses, and `ast.py` the walkers
    `children`, `walk`, `free_names`, `calls`, `self_references`."""
    import dataclasses

    from ppl.frontend import ast
    from ppl.frontend.parse import parse
    from ppl.source import Source

    page = (DOCS / "architecture.md").read_text()
    shown = re.search(r"^```\n(Define\(.*?)^```", page, re.S | re.M).group(1)
    expected = eval(" ".join(shown.split()), {}, vars(ast))  # spans compare equal by design
    program = parse(Source(Path(EIGHT).read_text()))
    (theta,) = [s for s in program.statements if isinstance(s, ast.Define)]
    assert theta == expected and theta.expr.right.right.id == "theta_raw"
    assert dataclasses.is_dataclass(theta) and type(theta).__dataclass_params__.frozen
    walkers = re.search(r"the walkers (.*?)\)", page).group(1)
    for name in re.findall(r"`(\w+)`", walkers):
        assert callable(getattr(ast, name)), name


def test_the_documented_guide_fits_the_centred_eight_schools(tmp_path, capsys):
    """language.md 'Variational guides': the guide 'Gaussian over the hierarchy with a
    per-school scale' fits the centred eight schools with the vi backend (a guide may declare
    the model's data again); cli.md: `--guide FILE` is 'the variational guide of --backend
    vi', 'an error with another backend'."""
    centred = EIGHT_DATA_MODEL_CENTRED
    guide = _fenced_after((DOCS / "language.md").read_text(), "### Variational guides", "ppl")
    data = json.loads(Path(EIGHT_DATA).read_text())
    fit = _quiet(ppl.model(centred).sample, data, backend="vi", guide=guide, chains=1,
                 draws=500, max_steps=2000, num_mc=4, seed=1)
    assert set(fit["vi_params"].data_vars) == {"mu_loc", "mu_scale", "tau_loc", "tau_scale",
                                               "m", "s"}
    assert fit.attrs["vi_converged"] == 1 and fit.attrs["vi_pareto_k"] < 0.7
    path = tmp_path / "guide.ppl"
    path.write_text(guide)
    model_path = tmp_path / "centred.ppl"
    model_path.write_text(centred)
    args = ["run", str(model_path), "--data", EIGHT_DATA, "--draws", "100", "--chains", "1",
            "--no-progress", "--guide", str(path), "-o", "max_steps=400"]
    assert _quiet(main, [*args, "--backend", "vi"]) == 0
    assert "tau" in capsys.readouterr().out
    assert main([*args, "--backend", "nuts"]) == 2
    assert "--guide is for --backend vi" in capsys.readouterr().err


EIGHT_DATA_MODEL_CENTRED = """
data J: int >= 1
data y: real[J]
data sigma: real[J] > 0
mu ~ normal(0, 5)
tau ~ half_cauchy(5)
theta: vector[J] ~ normal(mu, tau)
y ~ normal(theta, sigma)
"""
