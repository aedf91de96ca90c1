"""Every documented option of every built-in backend changes what the backend does.

Each test below observes an option in the run itself: tree sizes, step counts, the spread of
the per-step bound estimates, the number of distinct draws, the tempering stages, and so on,
never only the attribute the option is recorded in. ``COVERAGE`` names, for every option of
every built-in backend, the test that does so (here or in another test module), and
``test_every_backend_option_has_an_effect_test`` fails when a backend gains an option without
one, or when a named test does not exist.

The runs are small (a conjugate normal model with 10 data points, a correlated 2-D Gaussian, a
two-mode density) and all seeds are fixed, so the outcomes are deterministic.
"""

from __future__ import annotations

import ast
import warnings
from pathlib import Path

import numpy as np
import pytest
from model_text import NORMAL_MEAN_MODEL, NORMAL_POSTERIOR_MEAN, NORMAL_POSTERIOR_SD, NORMAL_Y

import ppl
from ppl.backends import chain_layout

TESTS = Path(__file__).resolve().parent

NORMAL, Y = NORMAL_MEAN_MODEL, NORMAL_Y
DATA = {"N": len(Y), "y": Y}
POST_MEAN, POST_SD = NORMAL_POSTERIOR_MEAN, NORMAL_POSTERIOR_SD

CORRELATED = "x: vector[2] ~ multi_normal([0, 0], [[1, 0.99], [0.99, 1]])\n"

# +3 holds 99.9 % of the mass; a start below about -0.3 climbs to the minor mode at -3.
TWO_MODES = """
param x: real
target += log_mix(0.999, normal_lpdf(x, 3, 0.5), normal_lpdf(x, -3, 0.5))
"""
# With seed 0 the first uniform(-2, 2) start of the map, nuts and hmc backends is -1.25 (in
# the minor mode's basin) and the next three are above 0; with seed 1 the same holds for the
# smc backend's Laplace reference (-1.46, then 1.58, ...). See test_the_seeds_* below.
MAP_SEED, SMC_SEED = 0, 1


def _quiet(model, data, **kwargs):
    # Short runs on purpose: their R-hat and ESS warnings are not what these tests are about.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.sample(data, **kwargs)


def _normal(**kwargs):
    return _quiet(ppl.model(NORMAL), DATA, **kwargs)


def _mu(fit) -> np.ndarray:
    return np.asarray(fit.posterior["mu"]).ravel()


# --------------------------------------------------------------------------------------------
# The registry: (backend, option) -> "module::test" that observes its effect

_OTHER = {
    "mcmc": "test_backends_mcmc.py",
    "vi_map": "test_backends_vi_map.py",
    "guide_vi": "test_guide_vi.py",
    "here": "test_option_effects.py",
    "low_rank": "test_low_rank.py",
    "gpss": "test_gpss.py",
    "distributed": "test_distributed_mcmc.py",
}


def _at(where: str, test: str) -> str:
    return f"{_OTHER[where]}::{test}"


NUTS_OPTIONS_TEST = _at("mcmc", "test_nuts_options_change_the_run_and_are_recorded")
RHO_TEST = _at("distributed", "test_split_gibbs_rho_sets_the_coupling_and_its_bias")
CLUSTER_TEST = _at("distributed", "test_a_real_two_worker_cluster_gives_the_draws_of_one_worker")
COVERAGE: dict[tuple[str, str], str] = {
    ("consensus", "shards"): _at("distributed", "test_consensus_is_exact_for_a_gaussian_posterior"),
    ("consensus", "cluster"): CLUSTER_TEST,
    ("consensus", "workers"): CLUSTER_TEST,
    ("consensus", "target_accept"):
        _at("distributed", "test_consensus_target_accept_sets_the_shards_step_sizes"),
    ("split_gibbs", "shards"): RHO_TEST,
    ("split_gibbs", "cluster"): CLUSTER_TEST,
    ("split_gibbs", "workers"): CLUSTER_TEST,
    ("split_gibbs", "rho"): RHO_TEST,
    ("split_gibbs", "local_steps"):
        _at("distributed", "test_split_gibbs_local_steps_are_the_transitions_per_round"),
    ("split_gibbs", "bias_correction"): _at(
        "distributed", "test_split_gibbs_without_bias_correction_has_the_predicted_inflation"),
    ("nuts", "target_accept"): NUTS_OPTIONS_TEST,
    ("nuts", "max_tree_depth"): NUTS_OPTIONS_TEST,
    ("nuts", "dense_mass"): NUTS_OPTIONS_TEST,
    ("nuts", "chain_method"): _at("here", "test_chain_method_sets_how_the_chains_run"),
    ("nuts", "init"): _at("here", "test_init_sets_where_the_chains_start"),
    ("nuts", "adaptation"):
        _at("low_rank", "test_low_rank_takes_fewer_leapfrog_steps_than_a_diagonal_metric"),
    ("hmc", "trajectory_length"):
        _at("mcmc", "test_hmc_num_steps_and_trajectory_length_set_the_leapfrog_steps"),
    ("hmc", "num_steps"):
        _at("mcmc", "test_hmc_num_steps_and_trajectory_length_set_the_leapfrog_steps"),
    ("hmc", "target_accept"): _at("here", "test_hmc_target_accept_and_dense_mass"),
    ("hmc", "dense_mass"): _at("here", "test_hmc_target_accept_and_dense_mass"),
    ("hmc", "chain_method"): _at("here", "test_chain_method_sets_how_the_chains_run"),
    ("hmc", "init"): _at("here", "test_init_sets_where_the_chains_start"),
    ("vi", "guide"): _at("guide_vi", "test_structured_guide_beats_mean_field_on_eight_schools"),
    ("vi", "objective"):
        _at("guide_vi", "test_vi_objective_num_importance_and_alpha_change_the_bound"),
    ("vi", "num_importance"):
        _at("guide_vi", "test_vi_objective_num_importance_and_alpha_change_the_bound"),
    ("vi", "alpha"):
        _at("guide_vi", "test_vi_objective_num_importance_and_alpha_change_the_bound"),
    ("vi", "estimators"): _at("guide_vi", "test_vi_estimators_option_changes_the_gradient"),
    ("vi", "num_mc"): _at("guide_vi", "test_vi_init_learning_rate_and_num_mc"),
    ("vi", "learning_rate"): _at("guide_vi", "test_vi_init_learning_rate_and_num_mc"),
    ("vi", "init"): _at("guide_vi", "test_vi_init_learning_rate_and_num_mc"),
    ("vi", "max_steps"): _at("guide_vi", "test_vi_stopping_options_set_the_number_of_steps"),
    ("vi", "check_every"): _at("guide_vi", "test_vi_stopping_options_set_the_number_of_steps"),
    ("vi", "tol"): _at("guide_vi", "test_vi_stopping_options_set_the_number_of_steps"),
    ("vi", "plateaus"): _at("guide_vi", "test_vi_stopping_options_set_the_number_of_steps"),
    ("advi", "family"):
        _at("vi_map", "test_meanfield_underestimates_correlated_variance_fullrank_does_not"),
    ("advi", "objective"): _at("here", "test_advi_objective_num_importance_and_alpha"),
    ("advi", "num_mc"): _at("here", "test_advi_num_mc_sets_the_noise_of_the_bound"),
    ("advi", "num_importance"): _at("here", "test_advi_objective_num_importance_and_alpha"),
    ("advi", "alpha"): _at("here", "test_advi_objective_num_importance_and_alpha"),
    ("advi", "gradient"): _at("here", "test_advi_gradient_dreg_sticks_at_an_exact_q"),
    ("advi", "antithetic"): _at("here", "test_advi_antithetic_draws_cancel_the_linear_noise"),
    ("advi", "learning_rate"): _at("here", "test_advi_learning_rate_sets_how_far_q_moves"),
    ("advi", "max_steps"): _at("here", "test_advi_convergence_schedule"),
    ("advi", "check_every"): _at("here", "test_advi_convergence_schedule"),
    ("advi", "tol"): _at("here", "test_advi_convergence_schedule"),
    ("advi", "plateaus"): _at("here", "test_advi_convergence_schedule"),
    ("advi", "init_scale"): _at("here", "test_advi_init_and_init_scale_set_the_first_q"),
    ("advi", "init"): _at("here", "test_advi_init_and_init_scale_set_the_first_q"),
    ("map", "optimizer"): _at("here", "test_map_optimizer_and_its_settings"),
    ("map", "num_starts"): _at("here", "test_map_more_starts_find_the_major_mode"),
    ("map", "max_steps"): _at("here", "test_map_optimizer_and_its_settings"),
    ("map", "tol"): _at("here", "test_map_optimizer_and_its_settings"),
    ("map", "learning_rate"): _at("here", "test_map_optimizer_and_its_settings"),
    ("map", "laplace"): _at("vi_map", "test_laplace_draws_and_posterior_predictive"),
    ("map", "jacobian"): _at("vi_map", "test_map_gamma_poisson_with_and_without_jacobian"),
    ("pathfinder", "num_paths"): _at("here", "test_pathfinder_draws_come_from_the_paths_pool"),
    ("pathfinder", "draws_per_path"):
        _at("here", "test_pathfinder_draws_come_from_the_paths_pool"),
    ("pathfinder", "maxiter"): _at("here", "test_pathfinder_lbfgs_settings_shape_the_path"),
    ("pathfinder", "maxcor"): _at("here", "test_pathfinder_lbfgs_settings_shape_the_path"),
    ("pathfinder", "gtol"): _at("here", "test_pathfinder_lbfgs_settings_shape_the_path"),
    ("pathfinder", "ftol"): _at("here", "test_pathfinder_lbfgs_settings_shape_the_path"),
    ("pathfinder", "num_elbo_draws"):
        _at("here", "test_pathfinder_num_elbo_draws_sets_the_noise_of_the_elbo"),
    ("pathfinder", "importance_resampling"):
        _at("here", "test_pathfinder_importance_resampling_favours_heavy_draws"),
    ("smc", "num_particles"): _at("here", "test_smc_particles_and_final_mutation"),
    ("smc", "final_mutation"): _at("here", "test_smc_particles_and_final_mutation"),
    ("smc", "kernel"): _at("here", "test_smc_nuts_kernel_and_its_tree_depth"),
    ("smc", "max_tree_depth"): _at("here", "test_smc_nuts_kernel_and_its_tree_depth"),
    ("smc", "num_mcmc_steps"): _at("here", "test_smc_num_mcmc_steps_averages_the_acceptance"),
    ("smc", "target_ess"): _at("here", "test_smc_target_ess_target_accept_and_max_stages"),
    ("smc", "target_accept"): _at("here", "test_smc_target_ess_target_accept_and_max_stages"),
    ("smc", "max_stages"): _at("here", "test_smc_target_ess_target_accept_and_max_stages"),
    ("smc", "step_size"): _at("here", "test_smc_step_size_and_num_integration_steps"),
    ("smc", "num_integration_steps"):
        _at("here", "test_smc_step_size_and_num_integration_steps"),
    ("smc", "reference"): _at("here", "test_smc_reference_and_laplace_starts"),
    ("smc", "laplace_starts"): _at("here", "test_smc_reference_and_laplace_starts"),
    ("gpss", "angle"): _at("gpss", "test_gpss_angle_sets_the_direction_bracket"),
    ("gpss", "radius_window"): _at("gpss", "test_gpss_radius_window_and_max_steps_bound_the_loops"),
    ("gpss", "max_steps"): _at("gpss", "test_gpss_radius_window_and_max_steps_bound_the_loops"),
    ("gpss", "standardise"): _at("gpss", "test_gpss_standardise_and_dense_decorrelate"),
    ("gpss", "dense"): _at("gpss", "test_gpss_standardise_and_dense_decorrelate"),
    ("gpss", "init"): _at("gpss", "test_gpss_init_sets_where_the_chains_start"),
}


def _builtin_backends() -> dict:
    return {name: b for name, b in ppl.available_backends().items()
            if type(b).__module__.startswith("ppl.backends.")}


def _test_functions(module: str) -> set[str]:
    # Read with ast rather than imported: importing a test module a second time, outside
    # pytest, would run its module-level set-up again for nothing.
    tree = ast.parse((TESTS / module).read_text())
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}


def test_every_backend_option_has_an_effect_test():
    backends = _builtin_backends()
    assert {"nuts", "hmc", "advi", "map", "pathfinder", "smc", "gpss"} <= set(backends)
    declared = {(name, option.name) for name, backend in backends.items()
                for option in backend.options}
    missing = sorted(declared - set(COVERAGE))
    assert not missing, f"options without a test of their effect (add one to COVERAGE): {missing}"
    stale = sorted(set(COVERAGE) - declared)
    assert not stale, f"COVERAGE names options no backend has: {stale}"
    functions = {module: _test_functions(module) for module in _OTHER.values()}
    dangling = sorted(target for target in COVERAGE.values()
                      if target.split("::")[1] not in functions[target.split("::")[0]])
    assert not dangling, f"COVERAGE points at tests that do not exist: {dangling}"


# --------------------------------------------------------------------------------------------
# nuts and hmc


def test_the_seeds_start_one_chain_in_the_minor_mode():
    import jax

    from ppl.backends.base import finite_initial_points

    compiled = ppl.model(TWO_MODES).compile({})
    init_key, _ = jax.random.split(jax.random.PRNGKey(MAP_SEED))
    starts = np.asarray(finite_initial_points(compiled, init_key, 4))[:, 0]
    assert starts[0] < -0.5 and np.all(starts[1:] > 0)
    # The smc backend's Laplace reference climbs from points drawn with a key split once more.
    init_key, _ = jax.random.split(jax.random.PRNGKey(SMC_SEED))
    mode_key, _ = jax.random.split(init_key)
    starts = np.asarray(finite_initial_points(compiled, mode_key, 4))[:, 0]
    assert starts[0] < -0.5 and starts[1] > 0


@pytest.mark.parametrize("backend", ["nuts", "hmc"])
def test_init_sets_where_the_chains_start(backend):
    """A chain that starts at -1.25 (init="uniform") climbs to the minor mode and stays there;
    from the Laplace draws at the major mode (init="laplace") none does. A model without a
    proper prior has no prior to start from (init="prior")."""
    model = ppl.model(TWO_MODES)
    runs = {init: _quiet(model, {}, backend=backend, chains=2, draws=20, warmup=20,
                         seed=MAP_SEED, init=init)
            for init in ("uniform", "laplace")}
    stuck = {init: np.asarray(fit.posterior["x"]).max(axis=1) < 0 for init, fit in runs.items()}
    assert stuck["uniform"].tolist() == [True, False]
    assert not stuck["laplace"].any()
    with pytest.raises(ppl.SamplingError):
        _quiet(model, {}, backend=backend, chains=2, draws=10, warmup=10, init="prior")


def test_hmc_target_accept_and_dense_mass():
    model = ppl.model(CORRELATED)

    def run(**options):
        return _quiet(model, {}, backend="hmc", chains=1, draws=50, warmup=150, seed=8,
                      **options)

    loose = run(dense_mass=True, target_accept=0.6)
    careful = run(dense_mass=True, target_accept=0.99)
    diagonal = run(dense_mass=False, target_accept=0.6)
    step = {name: float(np.asarray(fit["sampler_state"]["step_size"]).ravel()[0])
            for name, fit in [("loose", loose), ("careful", careful)]}
    assert step["careful"] < 0.5 * step["loose"]
    assert np.asarray(careful["sample_stats"]["acceptance_rate"]).mean() > 0.9
    metric = np.asarray(loose["sampler_state"]["inverse_mass_matrix"])[0]
    assert metric.shape == (2, 2) and metric[0, 1] / np.sqrt(metric[0, 0] * metric[1, 1]) > 0.9
    assert np.asarray(diagonal["sampler_state"]["inverse_mass_matrix"]).shape == (1, 2)
    # A diagonal metric cannot undo the correlation: a fixed trajectory length then needs a
    # step size as small as the narrow direction, so many more leapfrog steps per draw.
    steps = {name: float(np.asarray(fit["sample_stats"]["n_steps"]).mean())
             for name, fit in [("dense", loose), ("diagonal", diagonal)]}
    assert steps["diagonal"] > 3 * steps["dense"]


class _Spy:
    """Stands in for the ``jax`` module inside :mod:`ppl.backends.chain_layout`, counting how
    the chains' programs are mapped over chains."""

    def __init__(self, real):
        self._real, self.calls = real, []

    def __getattr__(self, name):
        attribute = getattr(self._real, name)
        if name in ("vmap", "shard_map"):
            def mapped(*args, **kwargs):
                self.calls.append(name)
                return attribute(*args, **kwargs)
            return mapped
        return attribute


@pytest.mark.parametrize("backend", ["nuts", "hmc"])
def test_chain_method_sets_how_the_chains_run(backend, monkeypatch):
    """Vectorised chains run as one program mapped over the chains, sequential ones as one
    program per chain, parallel ones split over the devices (shard_map); one device here, so
    "parallel" with two chains is refused before anything is compiled. The chains are the same
    either way (tests/test_host_devices.py runs parallel chains in processes with devices)."""
    import jax

    model = ppl.model(NORMAL)
    draws, calls = {}, {}
    for method in ("vectorized", "sequential"):
        spy = _Spy(jax)
        monkeypatch.setattr(chain_layout, "jax", spy)
        fit = _quiet(model, DATA, backend=backend, chains=2, draws=20, warmup=20, seed=2,
                     chain_method=method)
        draws[method], calls[method] = _mu(fit), spy.calls
    assert calls["vectorized"].count("vmap") >= 2 and "shard_map" not in calls["vectorized"]
    assert calls["sequential"] == []
    np.testing.assert_allclose(draws["vectorized"], draws["sequential"], rtol=1e-8)
    if jax.local_device_count() < 2:
        spy = _Spy(jax)
        monkeypatch.setattr(chain_layout, "jax", spy)
        with pytest.raises(ppl.SamplingError, match="needs more than one device"):
            _quiet(model, DATA, backend=backend, chains=2, draws=10, warmup=10,
                   chain_method="parallel")
        assert spy.calls == []


# --------------------------------------------------------------------------------------------
# advi
#
# With learning_rate=1e-9 the variational distribution q stays where it started, so the
# per-step bound estimates of vi_trace are independent draws of one estimator at one q: their
# mean and spread show what the estimator options do. Seed 0 starts q (init="random") at
# mu = -1.25, far from the posterior (mean 1.20, sd 0.46).

FROZEN = dict(backend="advi", init="random", learning_rate=1e-9, max_steps=200,
              check_every=200, chains=1, draws=2000, seed=0)
RANDOM_START = -1.2545542


def _trace(fit, name="elbo") -> np.ndarray:
    return np.asarray(fit["vi_trace"][name]).ravel()


@pytest.fixture(scope="module")
def frozen():
    """The frozen fit with the default estimator (the ELBO, 8 antithetic estimates per step)
    and init_scale=0.1."""
    return _normal(**FROZEN, init_scale=0.1)


def test_advi_init_and_init_scale_set_the_first_q(frozen):
    wide = _normal(**FROZEN, init_scale=0.8)
    laplace = _normal(**{**FROZEN, "init": "laplace"})
    for fit, scale in ((frozen, 0.1), (wide, 0.8)):
        assert abs(_mu(fit).mean() - RANDOM_START) < 0.05
        assert _mu(fit).std() == pytest.approx(scale, rel=0.05)
    # The Laplace approximation of a Gaussian posterior is the posterior itself.
    assert abs(_mu(laplace).mean() - POST_MEAN) < 0.05
    assert _mu(laplace).std() == pytest.approx(POST_SD, rel=0.05)


def test_advi_learning_rate_sets_how_far_q_moves(frozen):
    moving = _normal(**{**FROZEN, "learning_rate": 0.05})
    # Most of the way to the posterior mean (1.20): the average of the chunk's iterates,
    # which is what the fit returns, still includes the first ones.
    assert _mu(moving).mean() > RANDOM_START + 1.5
    climb = _trace(moving)[-20:].mean() - _trace(moving)[:20].mean()
    assert climb > 10 and abs(_trace(frozen)[-20:].mean() - _trace(frozen)[:20].mean()) < 1


def test_advi_num_mc_sets_the_noise_of_the_bound():
    one = _normal(**FROZEN, num_mc=1, antithetic=False)
    many = _normal(**FROZEN, num_mc=16, antithetic=False)
    # Averaging 16 independent estimates divides the variance by 16.
    ratio = _trace(one).var() / _trace(many).var()
    assert 8 < ratio < 32


def test_advi_antithetic_draws_cancel_the_linear_noise():
    # With init_scale equal to the posterior sd, log p - log q is linear in the standard normal
    # draw eps, so a mirrored pair (eps, -eps) averages to a constant.
    exact_width = dict(FROZEN, init_scale=float(POST_SD), num_mc=2)
    mirrored = _normal(**exact_width, antithetic=True)
    independent = _normal(**exact_width, antithetic=False)
    assert _trace(independent).var() > 1.0
    assert _trace(mirrored).var() < 1e-6 * _trace(independent).var()


def test_advi_objective_num_importance_and_alpha(frozen):
    """At a fixed q far from the posterior the bounds are ordered: ELBO < Renyi(alpha=0.8) <
    Renyi(alpha=0.2) < IWELBO, and the IWELBO grows with the number of importance draws."""
    def bound(**options):
        fit = _normal(**FROZEN, init_scale=0.1, **options)
        return _trace(fit, "objective").mean(), fit

    elbo = _trace(frozen, "objective").mean()
    iw2, _ = bound(objective="iwelbo", num_importance=2)
    iw16, iw16_fit = bound(objective="iwelbo", num_importance=16)
    renyi_08, _ = bound(objective="renyi", alpha=0.8, num_importance=16)
    renyi_02, _ = bound(objective="renyi", alpha=0.2, num_importance=16)
    assert elbo < renyi_08 - 0.1 < renyi_02 - 0.6 < iw16 - 0.7
    assert iw2 < iw16 - 0.5
    # The plain ELBO estimate from the same draws does not depend on the bound optimised.
    assert abs(_trace(iw16_fit).mean() - _trace(frozen).mean()) < 0.2
    # The ELBO is its own objective: both traces are the same numbers.
    np.testing.assert_allclose(_trace(frozen, "objective"), _trace(frozen))


def test_advi_gradient_dreg_sticks_at_an_exact_q():
    """Started at the exact posterior (the Laplace approximation of a Gaussian), the
    doubly-reparameterised gradient is nearly zero and q stays nearly exact, so the
    log-weights of its draws are nearly constant; the plain reparameterisation gradient is
    noisy there and moves q off it."""
    exact = dict(backend="advi", max_steps=200, check_every=200, chains=1, draws=500, seed=0)
    dreg = _normal(**exact, gradient="dreg")
    reparam = _normal(**exact, gradient="reparam")
    weights = {name: np.asarray(fit.sample_stats["log_weight"]).var()
               for name, fit in (("dreg", dreg), ("reparam", reparam))}
    assert weights["dreg"] < 0.01 * weights["reparam"]
    assert _trace(dreg)[100:].std() < 0.05 * _trace(reparam)[100:].std()


def test_advi_convergence_schedule():
    """With a huge tol every chunk after the first is a plateau, so a fit stops after exactly
    (plateaus + 1) chunks of check_every steps; max_steps stops it earlier, rounded up to
    whole chunks; a tiny tol leaves only the statistical plateau test, which a moving fit does
    not pass as early."""
    base = dict(backend="advi", init="random", chains=1, draws=100, seed=0)
    steps = {}
    for name, options in {"c30_p2": dict(check_every=30, plateaus=2, tol=1e6),
                          "c70_p1": dict(check_every=70, plateaus=1, tol=1e6),
                          "capped": dict(check_every=40, plateaus=3, tol=1e6, max_steps=100),
                          "strict": dict(check_every=30, plateaus=2, tol=1e-12)}.items():
        fit = _normal(**base, **options)
        steps[name] = fit.attrs["vi_steps"], fit.attrs["vi_converged"]
        assert _trace(fit).size == steps[name][0]
    assert steps["c30_p2"] == (90, 1)
    assert steps["c70_p1"] == (140, 1)
    assert steps["capped"] == (120, 0)
    assert steps["strict"][0] > 90


# --------------------------------------------------------------------------------------------
# map


def test_map_more_starts_find_the_major_mode():
    model = ppl.model(TWO_MODES)
    one = _quiet(model, {}, backend="map", num_starts=1, seed=MAP_SEED)
    four = _quiet(model, {}, backend="map", num_starts=4, seed=MAP_SEED)
    assert one.posterior["x"].item() == pytest.approx(-3, abs=0.01)
    assert four.posterior["x"].item() == pytest.approx(3, abs=0.01)
    assert len(four.attrs["map_start_objectives"]) == 4
    assert four.attrs["map_objective"] > one.attrs["map_objective"] + 5


def test_map_optimizer_and_its_settings():
    model = ppl.model(NORMAL)
    compiled = model.compile(DATA)

    def run(**options):
        fit = _quiet(model, DATA, backend="map", chains=1, seed=0, **options)
        mode = fit.posterior["mu"].item()
        gradient = float(np.asarray(compiled.jitted_value_and_grad(np.array([mode]))[1])[0])
        return fit.attrs["map_steps"], fit.attrs["map_converged"], mode, abs(gradient)

    lbfgs = run()
    adam = run(optimizer="adam")
    loose = run(optimizer="adam", tol=0.5)
    capped = run(optimizer="adam", max_steps=5)
    slow = run(optimizer="adam", learning_rate=1e-4, max_steps=50)
    fast = run(optimizer="adam", learning_rate=0.5, max_steps=50)
    # L-BFGS solves a quadratic in a few steps; Adam's step-size-limited steps need many.
    assert lbfgs[0] <= 5 and adam[0] > 50
    assert lbfgs[1] == adam[1] == 1 and abs(lbfgs[2] - POST_MEAN) < 1e-6
    assert abs(adam[2] - POST_MEAN) < 1e-5
    assert loose[0] < adam[0] and 1e-3 < loose[3] < 0.5
    assert capped[:2] == (5, 0) and abs(capped[2] - POST_MEAN) > 0.5
    # Adam with a tiny step stays near seed 0's uniform start
    assert abs(slow[2] - RANDOM_START) < 0.01 and abs(fast[2] - POST_MEAN) < 0.1


# --------------------------------------------------------------------------------------------
# pathfinder


def _pathfinder(model, data, **options):
    return _quiet(model, data, backend="pathfinder", chains=1, draws=300, seed=0, **options)


def _elbo(fit) -> float:
    return float(np.max(fit.attrs["path_elbo"]))


@pytest.fixture(scope="module")
def short_path():
    """One L-BFGS iteration on a strongly correlated Gaussian: a poor approximation."""
    return _pathfinder(ppl.model(CORRELATED), {}, draws_per_path=150, maxiter=1)


def test_pathfinder_draws_come_from_the_paths_pool():
    fit = _pathfinder(ppl.model(NORMAL), DATA, num_paths=3, draws_per_path=4)
    # 300 draws resampled from a pool of 3 paths x 4 draws: each of the 12 appears.
    assert len(np.unique(_mu(fit))) == 12
    assert len(fit.attrs["path_elbo"]) == 3


def test_pathfinder_lbfgs_settings_shape_the_path(short_path):
    """On a strongly correlated Gaussian the full L-BFGS path ends in the exact approximation
    (ELBO = log Z = 0); a path cut short (maxiter, ftol) or not started (gtol) ends in a far
    worse one, and so, less badly, does a history too short to see the correlation (maxcor)."""
    model = ppl.model(CORRELATED)
    full = _elbo(_pathfinder(model, {}, draws_per_path=150))
    assert abs(full) < 0.005
    assert _elbo(short_path) < full - 10
    for options in (dict(ftol=1e3), dict(gtol=1e3)):
        assert _elbo(_pathfinder(model, {}, draws_per_path=150, **options)) < full - 10, options
    assert _elbo(_pathfinder(model, {}, draws_per_path=150, maxcor=1)) < full - 0.01


def test_pathfinder_num_elbo_draws_sets_the_noise_of_the_elbo():
    # Eight paths to the same skewed (non-Gaussian) posterior: their ELBO estimates differ by
    # the Monte Carlo noise of num_elbo_draws draws (and by the best iterate being picked by it).
    model = ppl.model("data y: int[8]\nlam ~ gamma(3, 2)\ny ~ poisson(lam)\n")
    data = {"y": [2, 4, 1, 3, 5, 2, 0, 3]}
    spread = {n: np.std(_pathfinder(model, data, num_paths=8, draws_per_path=20,
                                    num_elbo_draws=n).attrs["path_elbo"])
              for n in (1, 200)}
    assert spread[1] > 3 * spread[200]


def test_pathfinder_importance_resampling_favours_heavy_draws(short_path):
    # The poor approximation's importance ratios vary a lot: resampling by them picks draws
    # with high ratios, and few distinct ones; uniform picking does neither.
    uniform = _pathfinder(ppl.model(CORRELATED), {}, draws_per_path=150, maxiter=1,
                          importance_resampling=False)
    ratio = {name: np.asarray(fit.sample_stats["log_importance_ratio"]).ravel()
             for name, fit in (("resampled", short_path), ("uniform", uniform))}
    assert ratio["resampled"].mean() > ratio["uniform"].mean() + 1.0
    assert len(np.unique(ratio["resampled"])) < 0.5 * len(np.unique(ratio["uniform"]))


# --------------------------------------------------------------------------------------------
# smc


def _smc(model=None, data=None, **options):
    model = ppl.model(NORMAL) if model is None else model
    return _quiet(model, DATA if data is None else data, backend="smc", chains=1, draws=200,
                  seed=0, **options)


def _smc_trace(fit, name) -> np.ndarray:
    return np.asarray(fit["smc_trace"][name]).ravel()


@pytest.fixture(scope="module")
def smc_default():
    """The defaults: 200 particles from the prior, HMC moves (10 of 10 leapfrog steps each
    per stage), target_ess 0.5, a final mutation."""
    return _smc()


def test_smc_particles_and_final_mutation(smc_default):
    """Particles moved at lambda = 1 are all distinct; without that move the output is a
    weighted resample of the particles, with repeats."""
    unmoved = _smc(final_mutation=False)
    assert len(np.unique(_mu(smc_default))) == 200
    assert len(np.unique(_mu(unmoved))) < 190
    # The extra stage holds lambda at 1 and adds nothing to the evidence.
    assert _smc_trace(smc_default, "lambda")[-2:].tolist() == [1.0, 1.0]
    assert _smc_trace(smc_default, "log_evidence_increment")[-1] == 0.0
    assert _smc_trace(unmoved, "lambda").size == unmoved.attrs["num_stages"]


def test_smc_nuts_kernel_and_its_tree_depth(smc_default):
    """NUTS reports its trees' sizes, which max_tree_depth caps. (The shallow run also has 40
    particles for 200 draws: the output repeats them.)"""
    nuts = _smc(kernel="nuts")
    shallow = _smc(kernel="nuts", max_tree_depth=1, num_particles=40)
    assert "n_steps" not in smc_default.sample_stats  # HMC's trajectories have no trees
    assert np.asarray(nuts.sample_stats["n_steps"]).max() >= 3
    assert np.asarray(shallow.sample_stats["n_steps"]).max() == 1
    assert 30 < len(np.unique(_mu(shallow))) <= 40


def test_smc_num_mcmc_steps_averages_the_acceptance():
    # Each particle's acceptance rate is the mean over its num_mcmc_steps transitions of the
    # last stage: over 10 of them it varies much less between particles than over one (about
    # sqrt(10) times less). The acceptance is near 1 on this posterior, so the spread is set by
    # the few particles that rejected: 1000 of them, as 200 left the ratio at 1.9 to 3.2
    # depending on the random stream (seeds 0-2 with 1000: 2.4 to 3.4).
    spread = {n: np.asarray(_quiet(ppl.model(NORMAL), DATA, backend="smc", chains=1, draws=1000,
                                   seed=0, num_mcmc_steps=n).sample_stats["acceptance_rate"]).std()
              for n in (1, 10)}
    assert spread[1] > 2 * spread[10]


def test_smc_target_ess_target_accept_and_max_stages(smc_default):
    keen = _smc(target_ess=0.9)
    careful = _smc(target_ess=0.9, target_accept=0.99)
    # The first stage is chosen to keep target_ess * num_particles effective particles.
    for fit, target in ((smc_default, 0.5), (keen, 0.9)):
        assert _smc_trace(fit, "ess")[0] == pytest.approx(target * 200, rel=0.05)
    assert keen.attrs["num_stages"] > smc_default.attrs["num_stages"] + 2
    # The step size is steered towards target_accept: smaller steps, higher acceptance.
    assert _smc_trace(careful, "step_size")[-1] < 0.5 * _smc_trace(keen, "step_size")[-1]
    assert _smc_trace(careful, "acceptance_rate")[-3:].mean() > _smc_trace(
        keen, "acceptance_rate")[-3:].mean() + 0.1
    with pytest.raises(ppl.SamplingError, match="max_stages=2"):
        _smc(target_ess=0.9, max_stages=2)


class _KernelSpy:
    """Stands in for ``blackjax`` inside :mod:`ppl.backends.smc`, recording the number of
    leapfrog steps each HMC transition is built with."""

    def __init__(self, real):
        self._real, self.steps = real, []
        spy = self

        class HMC:
            init = real.hmc.init

            @staticmethod
            def build_kernel(*args, **kwargs):
                kernel = real.hmc.build_kernel(*args, **kwargs)

                def recording(*kernel_args):
                    spy.steps.append(kernel_args[-1])
                    return kernel(*kernel_args)
                return recording

        self.hmc = HMC

    def __getattr__(self, name):
        return getattr(self._real, name)


def test_smc_step_size_and_num_integration_steps(smc_default, monkeypatch):
    """Above a step of 2 (in the units of the particles' spread) the leapfrog integrator is
    unstable and no proposal is accepted; at the default it nearly always is. Without a
    step_size the first one keeps the trajectory (num_integration_steps steps) at most 2
    long."""
    import blackjax

    from ppl.backends import smc

    # Started from the posterior itself (the Laplace reference of a Gaussian), one stage of
    # tempering reaches it, whatever the moves do: see test_smc_reference_and_laplace_starts.
    unstable = _smc(step_size=2.5, reference="laplace")
    assert _smc_trace(unstable, "acceptance_rate")[0] < 0.2
    assert _smc_trace(smc_default, "acceptance_rate")[0] > 0.9
    spy = _KernelSpy(blackjax)
    monkeypatch.setattr(smc, "blackjax", spy)
    fit = _smc(num_integration_steps=40)
    assert set(spy.steps) == {40}
    assert _smc_trace(fit, "step_size")[0] == pytest.approx(2 / 40)
    assert _smc_trace(smc_default, "step_size")[0] == pytest.approx(2 / 10)


def test_smc_reference_and_laplace_starts(smc_default):
    """From the Laplace approximation of a Gaussian posterior, which is the posterior itself,
    one stage reaches lambda = 1; from the prior (the default for this model, whose priors are
    proper) it takes several. On two modes the Laplace reference from one start sits at the
    minor mode, from four at the major one."""
    laplace = _smc(reference="laplace")
    assert smc_default.attrs["smc_reference"] == "prior"
    assert smc_default.attrs["num_stages"] >= 2 and laplace.attrs["num_stages"] == 1
    assert abs(_mu(laplace).mean() - POST_MEAN) < 4 * POST_SD / np.sqrt(100)
    model = ppl.model(TWO_MODES)
    one = _quiet(model, {}, backend="smc", chains=1, draws=100, seed=SMC_SEED, laplace_starts=1)
    four = _quiet(model, {}, backend="smc", chains=1, draws=100, seed=SMC_SEED,
                  laplace_starts=4)
    assert one.attrs["smc_reference"] == "laplace"
    assert np.median(np.asarray(one.posterior["x"])) < 0
    assert np.median(np.asarray(four.posterior["x"])) > 0
    assert four.attrs["laplace_map_objective"] > one.attrs["laplace_map_objective"] + 5
