"""The public model object: source text -> checked program, then data -> compiled model -> fit."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np

from ppl import data as data_module
from ppl.backends.base import RunSettings, get_backend
from ppl.codegen.model import CompiledModel, compile_graph, release_programs_when_crowded
from ppl.errors import ModelError, PPLError, SamplingError, error
from ppl.frontend.check import CheckedModel, check
from ppl.frontend.parse import parse
from ppl.ir.graph import Graph
from ppl.ir.lower import lower
from ppl.ir.pretty import dump
from ppl.jupyter import GraphDisplay
from ppl.source import Source

if TYPE_CHECKING:
    import graphviz

_DTYPES = {"float64": jnp.float64, "float32": jnp.float32}


class Model(GraphDisplay):
    """A parsed and checked model. Bind data with :meth:`compile`, fit with :meth:`sample`.

    In Jupyter a model displays as its graph (see :meth:`graph`).
    """

    def __init__(self, source: Source):
        self.source = source
        self.program = parse(source)
        self.checked: CheckedModel = check(self.program, source)

    @property
    def warnings(self):
        """Likely mistakes found without data (unused data, parameters without a prior)."""
        return self.checked.warnings

    def _declarations(self):
        return {s.name: s.data_decl for s in self.checked.symbols.values()
                if s.data_decl is not None}

    def bind(self, data: Any = None) -> tuple[CheckedModel, dict, list]:
        """Check the model again with the data's sizes and validate the data."""
        values = data_module.infer_sizes(self._declarations(), data_module.as_mapping(data))
        sizes = data_module.integer_sizes(self._declarations(), values, self.source)
        checked = check(self.program, self.source, sizes)
        arrays, notes = data_module.validate(checked, values)
        data_module.check_bounds(checked, arrays)
        return checked, arrays, notes

    def compile(self, data: Any = None, precision: str = "float64") -> CompiledModel:
        """Bind ``data`` (dict or DataFrame) and compile the model to JAX functions."""
        if precision not in _DTYPES:
            raise SamplingError([error(f"unknown precision '{precision}'",
                                       hint="use 'float64' (default) or 'float32'")])
        checked, arrays, notes = self.bind(data)
        data_module.warn_all(notes, self.source)
        release_programs_when_crowded()  # before this model's programs are compiled
        graph = lower(checked, supplied=set(arrays))
        labels = data_module.dimension_labels(self._declarations(), data_module.as_mapping(data),
                                              self.source)
        return compile_graph(graph, arrays, _DTYPES[precision], labels)

    def graph_ir(self, data: Any = None) -> Graph:
        """The graph IR (sizes concrete and observed-ness decided when data is given)."""
        if data is None:
            return lower(self.checked)
        checked, arrays, _ = self.bind(data)
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
               **backend_options: Any):
        """Fit the model and return an ArviZ DataTree.

        Groups: ``posterior`` (latent and deterministic quantities), ``sample_stats``,
        ``observed_data``; with ``posterior_predictive=True`` draws of the observed variables,
        with ``log_likelihood=True`` their pointwise log-likelihood (for LOO/WAIC), with
        ``prior=True`` also ``prior`` and ``prior_predictive`` (``chains * draws`` draws).
        ``backend_options`` go to the backend (for NUTS: ``target_accept``, ``max_tree_depth``,
        ``dense_mass``, ``chain_method``, ``init``: ``"auto"``, ``"laplace"``, ``"uniform"``
        or ``"prior"``, see :func:`ppl.backends.base.initial_points`).
        """
        _check_counts(chains=chains, draws=draws, warmup=warmup)
        compiled = self.compile(data, precision)
        if compiled.dimension == 0:
            raise SamplingError([error("the model has no parameters to sample",
                                       hint="every quantity is data; add a parameter with '~'")],
                                self.source)
        _check_no_discrete_latents(compiled)
        from ppl.results import to_datatree  # ArviZ is imported only when results are made

        chosen = get_backend(backend)
        settings = RunSettings(chains, draws, warmup, seed, progress)
        result = chosen.run(compiled, settings, **backend_options)
        fit = to_datatree(compiled, result, posterior_predictive=posterior_predictive,
                          log_likelihood=log_likelihood, seed=seed, backend=chosen.name)
        if prior:
            simulated = self.sample_prior_predictive(data, draws=chains * draws, seed=seed + 2)
            for group in simulated.children:
                fit[group] = simulated[group]
        return fit

    def sample_prior_predictive(self, data: Any = None, draws: int = 500, seed: int = 0):
        """Simulate parameters and observables from the prior (``prior`` and
        ``prior_predictive`` groups). Observed variables may be left out of ``data``."""
        from ppl.results import prior_datatree

        _check_counts(draws=draws)
        compiled = self.compile(data)
        keys = jax.random.split(jax.random.PRNGKey(seed), draws)
        samples = jax.jit(jax.vmap(compiled.prior_draw))(keys)
        return prior_datatree(compiled, {k: np.asarray(v) for k, v in samples.items()})

    def log_marginal_likelihood(self, data: Any = None, *, num_particles: int = 2000,
                                seed: int = 0, precision: str = "float64",
                                **smc_options: Any) -> float:
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
        compiled = self.compile(data, precision)
        if compiled.dimension == 0:
            return float(compiled.log_likelihood(jnp.zeros((0,), compiled.dtype)))
        settings = RunSettings(chains=1, draws=num_particles, warmup=0, seed=seed)
        result = SMC().run(compiled, settings, num_particles=num_particles, **smc_options)
        return float(result.attrs["log_marginal_likelihood"])

    def __repr__(self) -> str:
        return f"<ppl.Model {self.source.name}: {len(self.checked.symbols)} quantities>"


def _check_no_discrete_latents(compiled: CompiledModel) -> None:
    """Discrete data left out of the data would become a parameter, which gradient-based
    inference cannot sample (prior simulation can, so compile() allows it)."""
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
    try:
        text = path.read_text()
    except OSError as exc:
        raise ModelError([error(f"cannot read the model file: {exc.strerror}",
                                hint="check the path")], Source("", str(path))) from None
    return Model(Source(text, str(path)))


__all__ = ["Model", "load", "model", "PPLError"]
