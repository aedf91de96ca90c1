"""Diagnostics that explain: every message of the "diagnostics that explain" issue, triggered by
a model (or a fit) built to trigger it, with its text, its position and its hint.

Static warnings (``ppl check``) are located: the tests assert ``line:col``. Sampler warnings are
about a fit, not a place in the source; most are tested on hand-made ArviZ DataTrees, whose
sample statistics give exact control, and divergences also on one small real run.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest
from arviz_base import from_dict
from rich.console import Console

import ppl
from ppl.cli import main
from ppl.errors import render
from ppl.frontend.lint import lint
from ppl.summary import divergence_locations, mean_positions, print_summary, sampler_warnings

ROOT = Path(__file__).resolve().parents[1]
DIVERGED_HINT = ("the posterior has regions the sampler cannot explore; try target_accept=0.95 "
                 "or a non-centred parameterisation")
START_HINT = ("check the arguments' supports (a scale must be positive, a probability in "
              "[0, 1]) and the data against the distribution's support")


def warnings_of(text: str) -> list[tuple[str, int, int, str]]:
    """``(message, line, column, hint)`` of each warning of a model."""
    model = ppl.model(text, "m.ppl")
    assert all(w.severity == "warning" for w in model.warnings)
    return [(w.message, w.span.line, w.span.column, w.hint) for w in model.warnings]


# ------------------------------------------------------------------ constraint vs support


SUPPORT_CASES = [
    ("sigma: real > -1 ~ lognormal(0, 1)\n",
     ("'sigma' is declared `real > -1`, which allows values below 0, where its prior lognormal "
      "has zero density", 1, 13,
      "declare it `sigma: real > 0` to match lognormal's support (x > 0), or pick a prior "
      "defined on the whole declared range")),
    ("p: real > 0 ~ beta(2, 2)\n",
     ("'p' is declared `real > 0`, which allows values above 1, where its prior beta has zero "
      "density", 1, 9,
      "declare it `p: real in [0, 1]` to match beta's support (0 < x < 1), or pick a prior "
      "defined on the whole declared range")),
    ("data K: int\nc: ordered[K] ~ exponential(1)\n",
     ("'c' is declared `ordered[K]`, which allows values below 0, where its prior exponential "
      "has zero density", 2, 4,
      "declare it `c: positive_ordered[K]` to match exponential's support (x > 0), or pick a "
      "prior defined on the whole declared range")),
    ("s: real > 0 ~ uniform(0, 10)\n",
     ("'s' is declared `real > 0`, which allows values above 10, where its prior "
      "uniform(0, 10) has zero density", 1, 9,
      "declare it `s: real in [0, 10]` to match uniform's support (0 < x < 10), or pick a "
      "prior defined on the whole declared range")),
    ("data K: int\ndata a: vector[K]\nparam p: vector[K] > 0\np ~ dirichlet(a)\n",
     ("'p' is declared `vector[K] > 0`, which allows values off the simplex, where its prior "
      "dirichlet has zero density", 3, 20,
      "declare it `p: simplex[K]` to match dirichlet's support (the simplex), or pick a prior "
      "defined on the whole declared range")),
    ("lo = -1\nx: real in [lo, 2] ~ beta(2, 2)\n",  # a bound by a constant definition
     ("'x' is declared `real in [lo, 2]`, which allows values below 0 and above 1, where its "
      "prior beta has zero density", 2, 9,
      "declare it `x: real in [0, 1]` to match beta's support (0 < x < 1), or pick a prior "
      "defined on the whole declared range")),
    ("data K: int\nx: positive_ordered[K] ~ beta(2, 2)\n",
     ("'x' is declared `positive_ordered[K]`, which allows values above 1, where its prior "
      "beta has zero density", 2, 4,
      "declare it with a type whose values lie in beta's support (0 < x < 1), or pick a prior "
      "defined on all of its values")),
]


@pytest.mark.parametrize("text,expected", SUPPORT_CASES, ids=[t.split("\n")[-2]
                                                              for t, _ in SUPPORT_CASES])
def test_constraint_that_disagrees_with_the_prior_support(text, expected):
    assert warnings_of(text) == [expected]


@pytest.mark.parametrize("text", [
    "x: real ~ exponential(1)\n",                      # no bounds: the support is used
    "theta: real > 0 ~ normal(0, 1)\n",                # narrower than the support: truncation
    "p: real in [0.2, 0.8] ~ beta(2, 2)\n",
    "s: real in [0, 10] ~ uniform(0, 10)\n",
    "data K: int\ndata a: vector[K]\np: simplex[K] ~ dirichlet(a)\n",
    "data K: int\nc: positive_ordered[K] ~ normal(0, 1)\n",
    "data K: int\nL: cholesky_factor_corr[K] ~ lkj_corr_cholesky(2)\n",
    "data K: int\nL: matrix[K, K] ~ lkj_corr_cholesky(2)\n",
    "data lo: real\ns: real > lo ~ gamma(2, 2)\nz = s + lo\n",  # not a constant: skipped
    "data b: real\ns: real > 0 ~ uniform(0, b)\n",               # support not known: skipped
])
def test_constraints_that_fit_the_support_are_fine(text):
    assert warnings_of(text) == []


# ------------------------------------------------------------------ unused definitions


def test_definition_of_the_data_that_nothing_uses():
    text = ("data x: vector[3]\ndata y: vector[3]\nmu ~ normal(0, 1)\ny ~ normal(mu + x, 1)\n"
            "lx = log(x)\n")
    assert warnings_of(text) == [("'lx' is defined but never used", 5, 1,
                                  "remove the definition, or use it in the model")]


def test_a_chain_of_unused_definitions_names_the_user():
    text = "data x: real\na = log(x)\nb = 2 * a\nmu ~ normal(0, 1)\n"
    assert warnings_of(text) == [
        ("'a' is only used by 'b', which is never used", 2, 1,
         "remove the definition, or use it in the model"),
        ("'b' is defined but never used", 3, 1, "remove the definition, or use it in the model"),
    ]


def test_definitions_of_parameters_are_outputs():
    """A definition that depends on a parameter is reported in the results: it is used."""
    text = "data x: real\na = log(x)\nmu ~ normal(0, 1)\nshifted = mu + a\n"
    assert warnings_of(text) == []


def test_function_never_called():
    text = ("function f(x: real): real = x + 1\nfunction g(x: real): real = 2 * f(x)\n"
            "function h(x: real): real = x\nmu ~ normal(h(0), 1)\n")
    assert warnings_of(text) == [
        ("function 'f' is only called by 'g', which is never called", 1, 10,
         "remove the function, or call it"),
        ("function 'g' is defined but never called", 2, 10, "remove the function, or call it"),
    ]


def test_a_function_passed_to_ode_solve_is_called():
    text = """data T: int
data ts: vector[T]
function rhs(t: real, z: vector[1], th: vector[1]): vector[1] = -th .* z
k: vector[1] ~ lognormal(0, 1)
z = ode_solve(rhs, [1.0], 0.0, ts, k)
"""
    assert warnings_of(text) == []


# ------------------------------------------------------------------ the checker's own warnings


def test_data_declared_but_never_used_is_reported_once():
    text = "data N: int\nmu ~ normal(0, 1)\n"
    assert warnings_of(text) == [("data 'N' is declared but never used", 1, 6,
                                  "remove the declaration or use it")]


def test_data_used_only_by_an_unused_definition_gets_one_warning():
    """The definition is the mistake; the data it reads is not reported as well."""
    text = "data N: int\nhalf = N / 2\nmu ~ normal(0, 1)\n"
    assert [w[0] for w in warnings_of(text)] == ["'half' is defined but never used"]


def test_parameter_with_no_prior():
    assert warnings_of("param mu: real\ntarget += -mu^2\n") == [
        ("parameter 'mu' has no distribution, so its prior is improper and flat on its support",
         1, 7, "give it a prior, e.g. mu ~ normal(0, 10), if flat is not meant")]


def test_bounded_parameter_with_no_prior_is_uniform_not_improper():
    assert warnings_of("param p: real in [0, 1]\nparam w: simplex[3]\n"
                       "target += log(p) + log(w[1])\n") == [
        ("parameter 'p' has no distribution, so its prior is uniform on its bounded support",
         1, 7, "give 'p' a prior distribution if uniform is not meant"),
        ("parameter 'w' has no distribution, so its prior is uniform on its bounded support",
         2, 7, "give 'w' a prior distribution if uniform is not meant")]


def test_check_command_prints_the_warnings(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.ppl").write_text(
        "data N: int\ndata x: vector[N]\ndata y: vector[N]\np: real > 0 ~ beta(2, 2)\n"
        "y ~ normal(p * x, 1)\nlx = log(x)\nfunction f(x: real): real = x\n")
    assert main(["check", "m.ppl"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "m.ppl: OK\n"
    assert captured.err == """\
m.ppl:4:9: warning: 'p' is declared `real > 0`, which allows values above 1, where its prior \
beta has zero density
   4 | p: real > 0 ~ beta(2, 2)
               ^^^
  hint: declare it `p: real in [0, 1]` to match beta's support (0 < x < 1), or pick a prior \
defined on the whole declared range
m.ppl:6:1: warning: 'lx' is defined but never used
   6 | lx = log(x)
       ^^
  hint: remove the definition, or use it in the model
m.ppl:7:10: warning: function 'f' is defined but never called
   7 | function f(x: real): real = x
                ^
  hint: remove the function, or call it
"""


def _shipped_models() -> list[tuple[str, str]]:
    """Every model that ships: conformance, tutorial and example files, and docs blocks."""
    files = [*sorted((ROOT / "tests" / "conformance" / "models").glob("*.ppl")),
             *sorted((ROOT / "tutorials" / "models").glob("*.ppl")),
             *sorted((ROOT / "examples").glob("*.ppl"))]
    models = [(str(p.relative_to(ROOT)), p.read_text()) for p in files]
    fence = re.compile(r"^```ppl[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = path.read_text(encoding="utf-8")
        for match in fence.finditer(text):
            line = text[: match.start()].count("\n") + 2
            models.append((f"{path.relative_to(ROOT)}:{line}", match.group(1)))
    return models


def test_shipped_models_raise_no_lint_warnings():
    models = _shipped_models()
    assert len(models) > 20
    for name, text in models:
        model = ppl.model(text, name)
        found = lint(model.checked)
        assert found == (), "\n".join(render(d, model.source) for d in found)


# ------------------------------------------------------------------ a bad starting point


def _start_error(text: str, data: dict) -> ppl.SamplingError:
    with pytest.raises(ppl.SamplingError) as info:
        ppl.model(text, "start.ppl").sample(data, chains=1, draws=10, warmup=10)
    return info.value


def _shown_value(message: str, name: str) -> float:
    match = re.search(rf"\(e\.g\. with {name} = (-?[0-9.]+)\)$", message)
    assert match, message
    return float(match.group(1))


def test_a_start_at_minus_infinity_names_the_statement_and_the_values():
    error = _start_error("data y: real\nmu ~ normal(0, 1)\ny ~ uniform(mu + 10, mu + 20)\n",
                         {"y": 0.0})
    (d,) = error.diagnostics
    assert d.message.startswith("the log-density of this statement is -inf at every random "
                                "starting point tried (e.g. with mu = ")
    assert abs(_shown_value(d.message, "mu")) <= 2  # a uniform(-2, 2) start
    assert (d.span.line, d.span.column) == (3, 1)
    assert d.hint == START_HINT
    assert str(error).splitlines()[1:3] == ["   3 | y ~ uniform(mu + 10, mu + 20)",
                                            "       " + "^" * 29]


def test_a_start_at_nan_names_the_statement_and_the_values():
    error = _start_error("mu ~ normal(0, 1)\ntarget += log(mu - 10)\n", {})
    (d,) = error.diagnostics
    assert d.message.startswith("the log-density of this statement is nan at every random "
                                "starting point tried (e.g. with mu = ")
    assert abs(_shown_value(d.message, "mu")) <= 2
    assert (d.span.line, d.span.column) == (2, 1)
    assert d.hint == START_HINT


def test_a_start_at_nan_from_an_invalid_argument_names_the_statement():
    # NumPyro validates arguments eagerly outside jit; the explanation must not trip on it.
    error = _start_error("data y: real\nmu ~ normal(0, 1)\ny ~ normal(mu, -exp(mu))\n",
                         {"y": 1.0})
    (d,) = error.diagnostics
    assert d.message.startswith("the log-density of this statement is nan")
    assert (d.span.line, d.span.column) == (3, 1)


def test_invalid_data_in_a_distribution_names_the_statement():
    error = _start_error("data y: real\ndata s: real\nmu ~ normal(0, 1)\ny ~ normal(mu, s)\n",
                         {"y": 1.0, "s": -1.0})
    (d,) = error.diagnostics
    assert d.message.startswith("the log-density of this statement is nan")
    assert (d.span.line, d.span.column) == (4, 1)


def test_run_command_prints_the_bad_start(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.ppl").write_text("mu ~ normal(0, 1)\ntarget += log(mu - 10)\n")
    assert main(["run", "m.ppl", "--chains", "1", "--draws", "10", "--warmup", "10",
                 "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("m.ppl:2:1: error: the log-density of this statement is nan at every "
                          "random starting point tried (e.g. with mu = ")
    assert f"  hint: {START_HINT}" in err


# ------------------------------------------------------------------ sampler warnings


def _fit(posterior: dict, stats: dict, attrs: dict | None = None, **kwargs):
    """A DataTree like the one ``Model.sample`` returns, from hand-made arrays."""
    return from_dict({"posterior": posterior, "sample_stats": stats},
                     attrs={"/": attrs or {}}, index_origin=1, **kwargs)


def _iid(rng, *shape, chains: int = 2, draws: int = 500) -> np.ndarray:
    return rng.normal(size=(chains, draws) + shape)


def _clean_stats(rng, chains: int = 2, draws: int = 500) -> dict:
    return {"diverging": np.zeros((chains, draws), bool),
            "energy": _iid(rng, chains=chains, draws=draws),
            "n_steps": np.full((chains, draws), 7), "tree_depth": np.full((chains, draws), 3)}


# Ten divergent draws, none adjacent, in both chains (flat index = chain * 500 + draw).
DIVERGENT = [37, 120, 199, 260, 333, 555, 610, 702, 850, 961]


def _concentrated_fit(seed: int = 0):
    """Divergent draws at the 3rd percentile of tau and the 91st of theta[2]; mu, theta[1] and
    theta[3] are the same for divergent and other draws."""
    rng = np.random.default_rng(seed)
    mask = np.zeros(1000, bool)
    mask[DIVERGENT] = True
    tau = np.empty(1000)
    tau[~mask] = 0.1 * rng.permutation(np.arange(1, 991))
    tau[mask] = 0.1 * 29.5  # above 29 of the 990 other draws: 2.93%
    theta = rng.normal(size=(1000, 3))
    theta[~mask, 1] = rng.permutation(np.arange(1, 991))
    theta[mask, 1] = 901.5  # above 901 of 990: 91.0%
    stats = _clean_stats(rng)
    stats["diverging"] = mask.reshape(2, 500)
    posterior = {"mu": _iid(rng), "tau": tau.reshape(2, 500), "theta": theta.reshape(2, 500, 3)}
    return _fit(posterior, stats), stats["diverging"]


def test_a_clean_fit_has_no_warnings():
    """Independent draws: 4 x 1000 of them keep R-hat well below 1.01 whatever the seed."""
    rng = np.random.default_rng(1)
    size = {"chains": 4, "draws": 1000}
    posterior = {"mu": _iid(rng, **size), "theta": _iid(rng, 3, **size)}
    assert sampler_warnings(_fit(posterior, _clean_stats(rng, **size),
                                 {"max_tree_depth": 10})) == []


def test_divergences_name_the_parameters_they_concentrate_in():
    fit, _ = _concentrated_fit()
    assert sampler_warnings(fit)[0] == (
        "10 of 1000 draws diverged, concentrated at small values of tau (divergent draws at the "
        "3rd percentile of the other draws on average) and large values of theta[2] (91st "
        f"percentile): {DIVERGED_HINT}")


def test_divergence_locations_are_scale_free():
    """Percentiles do not change under a monotone transform: tau and log(tau) agree."""
    fit, diverging = _concentrated_fit()
    tau = np.asarray(fit["posterior"]["tau"]).reshape(-1, 1)
    flat = diverging.reshape(-1)
    on_scale = mean_positions(tau[flat], tau[~flat])
    on_log_scale = mean_positions(np.log(tau[flat]), np.log(tau[~flat]))
    assert on_scale == pytest.approx(on_log_scale)
    assert on_scale[0] == pytest.approx(29 / 990)
    (loc_tau, loc_theta) = divergence_locations(fit, diverging)
    assert (loc_tau.name, loc_theta.name) == ("tau", "theta[2]")
    assert loc_tau.z < -3 and loc_theta.z > 3


def test_divergence_labels_follow_the_coordinates():
    rng = np.random.default_rng(2)
    mask = np.zeros((2, 500), bool)
    mask.flat[DIVERGENT] = True
    theta = _iid(rng, 3)
    theta[..., 2] = np.where(mask, -10.0, np.abs(theta[..., 2]))  # divergent draws at the bottom
    fit = _fit({"theta": theta}, {"diverging": mask}, dims={"theta": ["school"]},
               coords={"school": ["a", "b", "c"]})
    assert [loc.name for loc in divergence_locations(fit, mask)] == ["theta[c]"]
    assert "small values of theta[c] (divergent draws below the 1st percentile" in (
        sampler_warnings(fit)[0])
    out, err = io.StringIO(), io.StringIO()
    print_summary(fit, Console(file=out, width=200), Console(file=err, width=400))
    assert "warning: 10 of 1000 draws diverged, concentrated at small values of theta[c] (" in (
        err.getvalue())  # a label is not taken for a style tag


def test_few_divergences_name_nothing():
    """Two divergences, however extreme, cannot show a concentration."""
    rng = np.random.default_rng(3)
    mask = np.zeros((2, 500), bool)
    mask[0, [10, 300]] = True
    tau = np.where(mask, 1e-6, np.exp(_iid(rng)))
    fit = _fit({"tau": tau}, {"diverging": mask})
    assert divergence_locations(fit, mask) == []
    assert sampler_warnings(fit)[0] == f"2 of 1000 draws diverged: {DIVERGED_HINT}"


def test_divergences_with_constant_and_nan_quantities():
    """A constant quantity and a quantity whose draws are all NaN are skipped; NaN draws of
    another quantity are left out, and its concentration is still found."""
    rng = np.random.default_rng(4)
    mask = np.zeros((2, 500), bool)
    mask.flat[DIVERGENT] = True
    tau = np.where(mask, 0.01, 1 + np.exp(_iid(rng)))
    tau[1, :50] = np.nan
    tau.flat[DIVERGENT[0]] = np.nan
    posterior = {"c": np.ones((2, 500)), "gone": np.full((2, 500), np.nan), "tau": tau}
    fit = _fit(posterior, {"diverging": mask})
    assert [loc.name for loc in divergence_locations(fit, mask)] == ["tau"]


def test_all_draws_divergent_name_nothing():
    rng = np.random.default_rng(5)
    mask = np.ones((2, 500), bool)
    fit = _fit({"tau": np.exp(_iid(rng))}, {"diverging": mask})
    assert divergence_locations(fit, mask) == []
    assert sampler_warnings(fit)[0] == f"1000 of 1000 draws diverged: {DIVERGED_HINT}"


def test_r_hat_above_the_limit():
    rng = np.random.default_rng(6)
    mu = _iid(rng)
    mu[1] += 1.0  # the second chain sits elsewhere
    notes = sampler_warnings(_fit({"mu": mu, "ok": _iid(rng)}, _clean_stats(rng)))
    assert ("R-hat above 1.01 for mu: the chains disagree; run longer or check the model"
            in notes)


def test_low_bulk_and_tail_ess():
    rng = np.random.default_rng(7)
    walk = np.zeros((2, 500))
    for t in range(1, 500):  # AR(1) with coefficient 0.99: a few effective draws per chain
        walk[:, t] = 0.99 * walk[:, t - 1] + rng.normal(size=2)
    notes = sampler_warnings(_fit({"x": walk, "ok": _iid(rng)}, _clean_stats(rng)))
    assert "low effective sample size for x: estimates are noisy; draw more" in notes


def test_low_e_bfmi():
    rng = np.random.default_rng(8)
    stats = _clean_stats(rng)
    stats["energy"][1] = np.cumsum(0.01 * rng.normal(size=500))  # energy barely moves
    notes = sampler_warnings(_fit({"mu": _iid(rng)}, stats))
    assert notes == ["low E-BFMI (< 0.3) in chain 2: the momentum resampling explores the "
                     "energy poorly, typical of heavy tails or funnels; reparameterise"]


def test_max_tree_depth_hits():
    rng = np.random.default_rng(9)
    stats = _clean_stats(rng)
    stats["tree_depth"][0, :7] = 10
    notes = sampler_warnings(_fit({"mu": _iid(rng)}, stats, {"max_tree_depth": 10}))
    assert notes == ["7 draws hit the maximum tree depth: sampling is inefficient; consider "
                     "rescaling or reparameterising"]


def test_divergences_of_a_real_funnel_concentrate_at_small_scales():
    """Neal's funnel in eight dimensions: NUTS diverges in the neck, where v is small. The
    detector is conservative (divergences come in runs), so the run is 4 chains x 1000 draws;
    with a fixed seed. (The half-Cauchy hierarchy used before reaches the neck in some seeds
    only: it is a test of luck, not of the detector. With 300 draws a chain stuck in the neck
    decided it: jax 0.12.1's draws named nothing at the seed where 0.12.0.1's named v. With
    1000, seeds 1 to 3 named v at the 10th to 20th percentile under both. Since the chunk
    program is compiled at LLVM level 1 (other last bits), seeds 1, 3 and 5 of 1-8 give 1-18
    divergences and name nothing, the other five name v at the 11th-15th percentile: seed 6
    gives 137, so that the detector, not the count, is what is tested. target_accept is kept
    at 0.8: "auto" raises it here, and fewer divergences test the detector less.)"""
    funnel = "v ~ normal(0, 3)\ntheta: vector[8] ~ normal(0, exp(v / 2))\n"
    fit = ppl.model(funnel).sample({}, chains=4, draws=1000, warmup=500, seed=6,
                                   target_accept=0.8)
    diverging = np.asarray(fit["sample_stats"]["diverging"])
    assert diverging.sum() >= 10
    first = divergence_locations(fit, diverging)[0]
    assert first.name == "v" and first.percentile < 30
    note = next(n for n in sampler_warnings(fit) if "diverged" in n)
    assert re.fullmatch(
        r"\d+ of 4000 draws diverged, concentrated at small values of v \(divergent draws "
        r"(at the \d+(st|nd|rd|th)|below the 1st) percentile of the other draws on average\)"
        r"[^:]*: " + re.escape(DIVERGED_HINT), note), note


def test_smc_particles_are_not_judged_as_mcmc_chains():
    """SMC's ``diverging`` marks particles whose final mutation had a divergent (so rejected)
    proposal, and its particles are resampled copies, adjacent after systematic resampling:
    neither is a Markov chain that diverged or stuck, so neither gives the MCMC warnings."""
    rng = np.random.default_rng(3)
    copies = np.repeat(rng.normal(size=250), 4)[None]  # each particle resampled four times
    stats = {"diverging": np.ones((1, 1000), bool), "acceptance_rate": np.full((1, 1000), 0.7)}
    notes = sampler_warnings(_fit({"mu": copies}, stats, {"backend": "smc"}))
    assert not [n for n in notes if "diverged" in n or "stuck" in n], notes
    # the same arrays from an MCMC backend give both warnings
    notes = sampler_warnings(_fit({"mu": copies}, stats, {"backend": "nuts"}))
    assert any("diverged" in n for n in notes) and any("stuck" in n for n in notes), notes


def test_user_text_in_the_summary_is_never_markup():
    """Labels come from the data: `[/]` raised rich's MarkupError (the fit was lost before
    --output), `alpha[b]` printed as `alpha`, `[link=...]` made a terminal hyperlink."""
    import io

    from rich.console import Console

    from ppl.summary import print_summary

    labels = ["a[/]", "[link=file:///etc/passwd]x", "alpha[b]"]
    fit = ppl.model("data G: dim\nalpha: vector[G] ~ normal(0, 1)\n").sample(
        {"G": labels}, chains=1, draws=30, warmup=30)
    out = io.StringIO()
    print_summary(fit, Console(file=out, width=200), Console(file=out, width=200))
    text = out.getvalue()
    for label in labels:
        assert f"alpha[{label}]" in text


def test_approximations_warn_on_their_own_diagnostics():
    """ADVI that did not converge, draws that are not finite, and draws that all coincide (a
    collapsed approximation: Pathfinder once returned 600 copies of one point as 'ess 600')."""
    rng = np.random.default_rng(5)
    good = rng.normal(size=(1, 400))
    notes = sampler_warnings(_fit({"mu": good}, {"lp": good}, {"backend": "advi",
                                                                "vi_converged": 0}))
    assert any(n.startswith("ADVI did not converge") for n in notes), notes
    broken = good.copy()
    broken[0, :7] = np.nan
    notes = sampler_warnings(_fit({"mu": broken}, {"lp": good}, {"backend": "pathfinder"}))
    assert any(n.startswith("7 of 400 draws of mu are not finite") for n in notes), notes
    notes = sampler_warnings(_fit({"mu": np.full((1, 400), 0.3), "s": good}, {"lp": good},
                                  {"backend": "pathfinder"}))
    assert any(n.startswith("all 400 draws of mu are the same value") for n in notes), notes
    clean = sampler_warnings(_fit({"mu": good}, {"lp": good}, {"backend": "advi",
                                                                "vi_converged": 1}))
    assert not [n for n in clean if "converge" in n or "finite" in n or "same value" in n]
