"""The public model object: source text -> checked program, then data -> compiled model -> fit."""

from __future__ import annotations

import dataclasses
import json
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np

from ppl import data as data_module
from ppl import memory, recording
from ppl.backends.base import RunSettings
from ppl.backends.registry import get_backend
from ppl.binding import bind_data, declarations
from ppl.codegen.missing import missing_counts
from ppl.codegen.model import CompiledModel, compile_graph
from ppl.codegen.programs import ProgramCache, release_programs_when_crowded
from ppl.display import GraphDisplay
from ppl.errors import (
    ModelError,
    ModelWarning,
    PPLError,
    SamplingError,
    SamplingWarning,
    error,
    read_text_file,
    render,
    warn_user,
)
from ppl.frontend.check import check
from ppl.frontend.parse import parse
from ppl.frontend.symbols import CheckedModel
from ppl.ir.graph import Graph
from ppl.ir.lower import lower
from ppl.ir.pretty import dump
from ppl.jax_settings import in_ppl_settings
from ppl.labels import encode_labels
from ppl.source import Source

if TYPE_CHECKING:
    import graphviz

_DTYPES = {"float64": jnp.float64, "float32": jnp.float32}


@in_ppl_settings  # its public methods run in 64-bit (see ppl.jax_settings)
class Model(GraphDisplay):
    """A parsed and checked model. Bind data with :meth:`compile`, fit with :meth:`sample`.

    In Jupyter a model displays as its graph (see :meth:`graph`).
    """

    def __init__(self, source: Source):
        self.source = source
        self.program = parse(source)
        self.checked: CheckedModel = check(self.program, source)
        # Compiled programs take the data as arguments: bindings to data of the same shapes
        # share them (a second fit with new data compiles nothing).
        self._programs = ProgramCache()

    @property
    def warnings(self):
        """Likely mistakes found without data (unused data, parameters without a prior)."""
        return self.checked.warnings

    def _declarations(self):
        return declarations(self.checked)

    def _prepared(self, data: Any) -> dict[str, Any]:
        """The data as a mapping, with label columns given for indices replaced by their codes
        (and the labels of the dims they point into filled in, see :mod:`ppl.labels`)."""
        return encode_labels(self._declarations(), data_module.as_mapping(data), self.source)

    def bind(self, data: Any = None, *, allow_missing_data: bool = False
             ) -> tuple[CheckedModel, dict, list]:
        """Check the model again with the data's sizes and validate the data.

        Every declared data entry must be supplied (sizes may be inferred from the arrays);
        with ``allow_missing_data`` data that has a distribution may be left out, to be
        simulated."""
        return bind_data(self.checked, self._prepared(data),
                         allow_missing_data=allow_missing_data)

    def compile(self, data: Any = None, precision: str = "float64", *,
                allow_missing_data: bool = False, memory_limit: Any = None) -> CompiledModel:
        """Bind ``data`` (dict or DataFrame) and compile the model to JAX functions.

        Declared data left out of ``data`` is a :class:`~ppl.DataError`; with
        ``allow_missing_data=True`` data that has a distribution may be left out and becomes a
        simulated (latent) quantity. A model whose log density would not fit in
        ``memory_limit`` (bytes, or a text such as ``"16GB"``; by default ``PPL_MEMORY_LIMIT``
        or half the machine's memory, see :mod:`ppl.memory`) is a :class:`~ppl.ModelError`
        before anything is allocated."""
        return self._compile(data, precision, allow_missing_data, memory.RunShape(),
                             memory_limit)[0]

    def _compile(self, data: Any, precision: str, allow_missing_data: bool,
                 run: memory.RunShape, memory_limit: Any, var_names: Any = None
                 ) -> tuple[CompiledModel, memory.Plan]:
        """:meth:`compile`, checking first that a run of shape ``run`` fits in memory; the
        plan says which quantities to leave out of the stored draws: those the recording rule
        (:mod:`ppl.recording`, adjusted by ``var_names``) leaves out, then deterministics that
        would not fit in memory."""
        if precision not in _DTYPES:
            raise SamplingError([error(f"unknown precision '{precision}'",
                                       hint="use 'float64' (default) or 'float32'")])
        limit = memory.memory_limit(memory_limit)
        checked, arrays, notes = self.bind(data, allow_missing_data=allow_missing_data)
        data_module.warn_all(notes, self.source)
        graph = lower(checked, supplied=set(arrays))
        unrecorded = recording.decide(graph, var_names).left_out
        # From the declared sizes alone, before the data is converted or anything compiled;
        # what is not recorded takes no memory for draws. An array completed with imputed
        # entries is stored like a deterministic (and like one, left out of the draws when
        # they would not fit).
        completed = [dataclasses.replace(q, kind="deterministic")
                     for q in memory.quantities_of(graph) if q.name in missing_counts(arrays)]
        quantities = [q for q in memory.quantities_of(graph) + completed
                      if q.name not in unrecorded]
        plan = memory.plan(quantities, run, jnp.dtype(_DTYPES[precision]).itemsize, limit,
                           self.source)
        plan = dataclasses.replace(plan, left_out=unrecorded + plan.left_out)
        release_programs_when_crowded()  # before this model's programs are compiled
        labels = data_module.dimension_labels(self._declarations(), self._prepared(data),
                                              self.source)
        return compile_graph(graph, arrays, _DTYPES[precision], labels, self._programs), plan

    def graph_ir(self, data: Any = None) -> Graph:
        """The graph IR (sizes concrete and observed-ness decided when data is given)."""
        if data is None:
            return lower(self.checked)
        # A picture of the data given: what it leaves out is drawn as simulated (latent).
        checked, arrays, _ = self.bind(data, allow_missing_data=True)
        return lower(checked, supplied=set(arrays))

    def ir(self, data: Any = None) -> str:
        """The text dump of the graph IR (sizes concrete when data is given)."""
        return dump(self.graph_ir(data))

    def graph(self, data: Any = None) -> graphviz.Digraph:
        """The model graph as a ``graphviz.Digraph``: node kinds drawn distinctly, plates for
        indexed families. ``.source`` is its DOT text; ``.render()`` and Jupyter display need
        Graphviz's ``dot`` program. ``ppl.ir.render.write`` writes it to a file."""
        from ppl.ir.render import digraph

        return digraph(self.graph_ir(data))

    def sample(self, data: Any = None, backend: str = "nuts", chains: int = 4,
               draws: int = 1000, warmup: int = 1000, seed: int = 0, *,
               posterior_predictive: bool = False, log_likelihood: bool = False,
               prior: bool = False, progress: bool = False, precision: str = "float64",
               allow_missing_data: bool = False, memory_limit: Any = None,
               var_names: Any = None, **backend_options: Any):
        """Fit the model and return an ArviZ DataTree.

        Groups: ``posterior`` (parameters, and the other quantities the recording rule keeps:
        those with at most ``ppl.recording.SMALL`` elements, see the language reference),
        ``sample_stats``, ``observed_data`` and ``constant_data`` (the data); with
        ``posterior_predictive=True`` draws of the observed variables, with
        ``log_likelihood=True`` their pointwise log-likelihood (for LOO and az.compare), with
        ``prior=True`` also ``prior`` and ``prior_predictive`` (``chains * draws`` draws).
        ``backend_options`` go to the backend (for NUTS: ``target_accept``, ``max_tree_depth``,
        ``dense_mass``, ``chain_method``, ``init``: ``"auto"``, ``"laplace"``, ``"uniform"``
        or ``"prior"``, see :func:`ppl.backends.base.initial_points`).

        Every declared data entry must be in ``data``: one left out is a :class:`~ppl.DataError`
        rather than a quantity silently simulated from its prior. ``allow_missing_data=True``
        simulates left-out data that has a distribution (it is sampled with the parameters).

        ``var_names`` adjusts what is recorded: a name adds a deterministic, discrete or
        generated quantity that the rule leaves out (``var_names=["mu"]``), ``"~name"``
        leaves one out; parameters are always recorded.

        The memory the run needs is estimated first (:mod:`ppl.memory`): deterministics whose
        draws would not fit in ``memory_limit`` (bytes or ``"16GB"``; by default the
        environment variable ``PPL_MEMORY_LIMIT``, else half the machine's memory) are left
        out of ``posterior`` with a warning, and a run that does not fit even without them is
        a :class:`~ppl.ModelError` at the statement that takes the most.
        """
        _check_counts(chains=chains, draws=draws, warmup=warmup)
        check_seed(seed)
        parallel = backend_options.get("num_particles") or chains * draws \
            if backend == "smc" else chains  # SMC evaluates its particles side by side
        run = memory.RunShape(chains, draws, parallel if isinstance(parallel, int) else chains,
                              posterior_predictive, log_likelihood)
        compiled, plan = self._compile(data, precision, allow_missing_data, run, memory_limit,
                                       var_names)
        if compiled.dimension == 0:
            raise SamplingError([error("the model has no parameters to sample",
                                       hint="every quantity is data; add a parameter with '~'")],
                                self.source)
        _check_no_discrete_latents(compiled)
        chosen = get_backend(backend)
        settings = RunSettings(chains, draws, warmup, seed, progress)
        self._show_check_warnings()
        with self._located():
            result = chosen.run(compiled, settings, **backend_options)
        result = dataclasses.replace(result, notes=tuple(result.notes) + plan.notes)
        # ArviZ, xarray and pandas (0.45 s to import) only after the draws: not on the way
        # to the first draw
        from ppl.results import to_datatree

        fit = to_datatree(compiled, result, posterior_predictive=posterior_predictive,
                          log_likelihood=log_likelihood, seed=seed, backend=chosen.name,
                          leave_out=plan.left_out)
        fit.attrs["backend_options"] = json.dumps(_recordable(backend_options))
        if prior:
            # modulo: the derived seed stays a valid one when seed is MAX_SEED
            simulated = self.sample_prior_predictive(data, draws=chains * draws,
                                                     seed=(seed + 2) % (MAX_SEED + 1),
                                                     memory_limit=memory_limit,
                                                     var_names=var_names)
            for group in simulated.children:
                fit[group] = simulated[group]
        return _report(fit)

    def resume(self, fit, data: Any = None, draws: int = 1000, seed: int | None = None, *,
               posterior_predictive: bool | None = None, log_likelihood: bool | None = None,
               progress: bool = False, precision: str = "float64"):
        """``fit`` with ``draws`` more draws per chain, continuing each chain from where it
        stopped, with its adapted step size and mass matrix (no new warm-up).

        ``fit`` is a NUTS or HMC fit of this model (also a partial one, stopped by Ctrl-C, or
        one read back with :func:`ppl.load_fit`); ``data`` must be the data it was fitted to.
        The result holds the old draws followed by the new ones, with warnings recomputed.
        ``seed`` defaults to the fit's seed plus one (the fit records the last seed used;
        after 2^32 - 1 comes 0).
        Groups that ``fit`` has (``posterior_predictive``, ``log_likelihood``) are extended
        too, unless turned off.
        """
        import xarray as xr

        from ppl.results import backend_notes, to_datatree

        _check_counts(draws=draws)
        backend_name = str(fit.attrs.get("backend", ""))
        chosen = get_backend(backend_name) if backend_name else None
        if chosen is None or not hasattr(chosen, "resume") or "sampler_state" not in fit.children:
            raise SamplingError([error(
                f"this fit (backend '{backend_name or 'unknown'}') cannot be resumed",
                hint="resume a fit made by the nuts or hmc backend with ppl 0.1 or later")],
                self.source)
        compiled = self.compile(data, precision)
        state = {k: np.asarray(v) for k, v in fit["sampler_state"].to_dataset().items()}
        if state["position"].shape[-1] != compiled.dimension:
            raise SamplingError([error(
                f"this fit has {state['position'].shape[-1]} unconstrained parameters but the "
                f"model with this data has {compiled.dimension}",
                hint="pass the data the fit was made with")], self.source)
        chains = state["position"].shape[0]
        seed = (int(fit.attrs.get("seed", 0)) + 1) % (MAX_SEED + 1) if seed is None else seed
        check_seed(seed)
        options = json.loads(fit.attrs.get("backend_options", "{}"))
        settings = RunSettings(chains, draws, 0, seed, progress)
        with self._located():
            result = chosen.resume(compiled, state, settings, **options)
        wanted = {"posterior_predictive": posterior_predictive,
                  "log_likelihood": log_likelihood}
        wanted = {k: (k in fit.children) if v is None else v for k, v in wanted.items()}
        # Deterministics the fit left out of its draws (see ppl.memory) stay left out.
        absent = tuple(n for n in compiled.posterior_names if n not in fit["posterior"])
        more = to_datatree(compiled, result, seed=seed, backend=chosen.name, leave_out=absent,
                           **wanted)
        combined = fit.copy()
        for group in more.children:
            if group == "sampler_state" or group not in fit.children \
                    or "draw" not in fit[group].dims:
                combined[group] = more[group]
                continue
            joined = xr.concat([fit[group].to_dataset(), more[group].to_dataset()], dim="draw")
            combined[group] = xr.DataTree(joined.assign_coords(
                draw=np.arange(joined.sizes["draw"])))
        for group in ("posterior_predictive", "log_likelihood"):
            if group in combined.children and group not in more.children:
                del combined[group]  # no draws for the new part: dropped, not left short
        attrs = dict(fit.attrs)
        attrs.pop("partial", None)
        attrs.update({k: v for k, v in more.attrs.items() if k != "backend_notes"})
        attrs["backend_notes"] = json.dumps(backend_notes(fit) + backend_notes(more))
        combined.attrs = attrs
        if more.attrs.get("partial"):
            combined.attrs["partial"] = 1
        return _report(combined)

    def predict(self, fit, data: Any = None, *, seed: int = 0, predictions: bool = True,
                precision: str = "float64"):
        """Predictions for new data from ``fit`` (a fit of this model), without refitting:
        for every posterior draw, the observed quantities left out of ``data`` are drawn
        and the deterministic and generated quantities computed, given the new data (PyMC's
        ``set_data`` + ``sample_posterior_predictive``, cmdstanpy's ``generate_quantities``).

        ``data`` holds the new values (new covariates ``x``, of another length ``N``); what
        it leaves out is taken from the fit's ``constant_data`` group, except sizes it
        changes and the arrays declared with them. A parameter whose size the new data
        would change (``theta: vector[J]`` with a new ``J``) is a :class:`~ppl.DataError`.
        Returns a DataTree with the groups ``predictions`` (the draws, dims ``chain`` and
        ``draw`` as in the fit) and ``predictions_constant_data`` (the data used), ArviZ's
        names for out-of-sample predictions; with ``predictions=False``,
        ``posterior_predictive`` and ``constant_data`` instead."""
        from ppl import predict as predicting

        check_seed(seed)
        with self._located():
            return predicting.predict(self, fit, data, seed=seed, predictions=predictions,
                                      precision=precision)

    @contextmanager
    def _located(self):
        """A backend's error without a place is shown with the model's file name."""
        try:
            yield
        except PPLError as exc:
            raise (exc.with_source(self.source) if exc.source is None else exc) from None

    def _show_check_warnings(self) -> None:
        """The checker's warnings (likely mistakes), issued once per model object."""
        if not getattr(self, "_check_warnings_shown", False):
            for diagnostic in self.checked.warnings:
                warn_user(render(diagnostic, self.source), ModelWarning)
            self._check_warnings_shown = True

    def sample_prior_predictive(self, data: Any = None, draws: int = 500, seed: int = 0, *,
                                memory_limit: Any = None, var_names: Any = None):
        """Simulate parameters and observables from the prior (``prior`` and
        ``prior_predictive`` groups). Observed variables may be left out of ``data``: they
        are simulated. What is recorded follows the same rule and ``var_names`` as
        :meth:`sample`; deterministics whose draws would not fit in ``memory_limit`` are left
        out."""
        from ppl.results import prior_datatree

        _check_counts(draws=draws)
        check_seed(seed)
        # The draws are simulated side by side and every simulated quantity is kept.
        run = memory.RunShape(chains=1, draws=draws, parallel=1, predictive=True)
        compiled, plan = self._compile(data, "float64", True, run, memory_limit, var_names)
        keys = jax.random.split(jax.random.PRNGKey(seed), draws)

        def draw(key):  # what is left out is not computed either (the jit drops it)
            return {k: v for k, v in compiled.prior_draw(key).items() if k not in plan.left_out}

        samples = jax.jit(jax.vmap(draw))(keys)
        for note in plan.notes:
            warn_user(note, SamplingWarning)
        return prior_datatree(compiled, {k: np.asarray(v) for k, v in samples.items()})

    def log_marginal_likelihood(self, data: Any = None, *, num_particles: int = 2000,
                                seed: int = 0, precision: str = "float64",
                                memory_limit: Any = None, **smc_options: Any) -> float:
        """The log marginal likelihood ``log p(data)``, estimated by adaptive tempered SMC.

        The estimate is relative to the normalised prior (a prior truncated by declared bounds
        counts as renormalised to them); ``factor`` statements count as likelihood. Every
        parameter needs a proper prior. ``smc_options`` go to the ``smc`` backend (``kernel``,
        ``num_mcmc_steps``, ``target_ess``, ...). A model without parameters gives its exact
        log-likelihood. SMC starts from the prior here (``reference="prior"``), so an improper
        prior is an error rather than an estimate relative to an arbitrary constant.
        """
        from ppl.backends.smc import SMC

        smc_options.setdefault("reference", "prior")
        _check_counts(num_particles=num_particles)
        check_seed(seed)
        run = memory.RunShape(chains=1, draws=num_particles, parallel=num_particles)
        compiled, _ = self._compile(data, precision, False, run, memory_limit)
        if compiled.dimension == 0:
            return float(compiled.log_likelihood(jnp.zeros((0,), compiled.dtype)))
        settings = RunSettings(chains=1, draws=num_particles, warmup=0, seed=seed)
        with self._located():
            result = SMC().run(compiled, settings, num_particles=num_particles, **smc_options)
        return float(result.attrs["log_marginal_likelihood"])

    def validate(self, data: Any = None, simulations: int = 100, backend: str = "nuts", *,
                 method: Any = ("sbc", "tarp"), cluster: Any = "local",
                 workers: int | None = None, seed: int = 0, alpha: float = 0.05,
                 report: Any = None, progress: bool = False, vectorised: bool = False,
                 **options: Any):
        """Check that ``backend`` (with ``options``, as for :meth:`sample`) recovers what this
        model simulates: simulation-based calibration and TARP.

        ``data`` gives the sizes and covariates (observed data in it are replaced); for each of
        ``simulations`` simulations, parameters and observations are drawn from the prior
        predictive distribution and the observations fitted (with
        :func:`ppl.fit_many`, on ``cluster``: ``"local"``, a scheduler address, a
        ``distributed.Client`` or None for this process). Returns a
        :class:`ppl.validation.study.Validation`: ``verdict`` (``"pass"`` or ``"fail"``),
        a check per scalar parameter (SBC: fractional ranks of the truth among draws thinned
        to their effective sample size, tested with a simultaneous ECDF band) and the TARP
        check over all parameters, each failure with what it means (ranks U-shaped: the
        posterior is too narrow). The overall verdict is a test at level ``alpha``. With
        ``report`` (a folder) the plots are written there as PNG files. ``vectorised=True``
        fits every simulation at once in one ``jax.vmap``-ed NUTS program on this process's
        device (small models; the GPU path) instead of on ``cluster``."""
        from ppl.validation.study import validate

        return validate(self, data, simulations, backend, method=method, cluster=cluster,
                        workers=workers, seed=seed, alpha=alpha, report=report,
                        progress=progress, vectorised=vectorised, **options)

    def __repr__(self) -> str:
        return f"<ppl.Model {self.source.name}: {len(self.checked.symbols)} quantities>"


def _report(fit):
    """Record the fit's warnings in its attributes (``warnings``, a JSON list) and issue each
    as a :class:`ppl.SamplingWarning`, so that a script is told too."""
    from ppl.summary import sampler_warnings

    notes = sampler_warnings(fit)
    fit.attrs["warnings"] = json.dumps(notes)
    for note in notes:
        warn_user(note, SamplingWarning)
    return fit


def _recordable(options: dict) -> dict:
    """The backend options that can be stored in the fit's attributes (and so reused by
    :meth:`Model.resume`)."""
    return {k: v for k, v in options.items()
            if isinstance(v, (bool, int, float, str)) or v is None}


def _check_no_discrete_latents(compiled: CompiledModel) -> None:
    """Discrete data left out of the data (with ``allow_missing_data``) would become a
    parameter, which gradient-based inference cannot sample (prior simulation can, so
    compile() allows it)."""
    from ppl.errors import DataError
    from ppl.library.distributions import DISTRIBUTIONS

    missing = [n for n in compiled.graph.of_kind("latent")
               if n.sample is not None and DISTRIBUTIONS[n.sample.dist.func].discrete]
    if missing:
        raise DataError([error(
            f"data '{n.name}' is missing; it has the discrete distribution "
            f"{n.sample.dist.func}, so it cannot be left out and sampled as a parameter",
            n.symbol.span, f"supply '{n.name}' in the data") for n in missing],
            compiled.graph.source)


# Seeds are unsigned 32-bit integers, as in Stan: jax.random.PRNGKey takes any int64, but
# NumPy's seeding (the smc backend) rejects negative ones, and the streams derived from a seed
# (seed + 1, + 2, + 3) must stay in range.
MAX_SEED = 2**32 - 1


def check_seed(seed: int) -> None:
    """A :class:`~ppl.SamplingError` unless ``seed`` is an integer from 0 to ``MAX_SEED``."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or \
            not 0 <= seed <= MAX_SEED:
        raise SamplingError([error(f"seed must be an integer from 0 to {MAX_SEED}, not {seed!r}",
                                   hint="pass seed=0, or any other integer in that range")])


def _check_counts(**counts: int) -> None:
    for name, value in counts.items():
        minimum = 0 if name == "warmup" else 1
        if not isinstance(value, (int, np.integer)) or value < minimum:
            raise SamplingError([error(f"{name} must be an integer >= {minimum}, not {value!r}",
                                       hint=f"pass {name}={max(minimum, 1000)} or similar")])


def model(source: str, name: str = "<string>") -> Model:
    """A model from source text."""
    return Model(Source(source, name))


def load(path: str | Path) -> Model:
    """A model from a ``.ppl`` file."""
    path = Path(path)
    return Model(Source(read_text_file(path, "the model file", "check the path", ModelError),
                        str(path)))


__all__ = ["Model", "load", "model", "PPLError"]
