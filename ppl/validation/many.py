"""Many fits of one model, spread over a Dask cluster: :func:`fit_many`.

Every data set is one task. A worker builds the model once from its source text (a ``Model``
holds compiled JAX programs, which are not sent between processes) and keeps it for the
following tasks (:class:`ModelCache`, a Dask worker plugin), so that data sets of the same
shapes share one compiled program per worker: data are arguments of the compiled programs
(:mod:`ppl.codegen.programs`). Each task fits with its own seed, so the results do not depend
on how many workers there are or which worker ran which task. The model's methods run with
ppl's JAX settings (64-bit) on the worker as anywhere else (:mod:`ppl.jax_settings`).

The cluster: ``"local"`` starts a ``distributed.LocalCluster`` with one single-threaded
worker process per core on the loopback interface and closes it at the end; an address
(``"tcp://host:8786"``) uses the scheduler of an existing cluster (its workers need ppl
installed); a ``distributed.Client`` is used as it is; ``None`` fits one after the other in
this process, without Dask.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ppl.cluster import PLUGIN_NAME, ModelCache, dask_client
from ppl.errors import SamplingError, error


@dataclass(frozen=True)
class FitOutcome:
    """One data set's fit: ``fit`` (the DataTree, or what ``keep`` made of it) or ``error``."""

    index: int
    seed: int
    fit: Any = None
    error: str | None = None
    warnings: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """Whether the fit succeeded."""
        return self.error is None


@dataclass(frozen=True)
class FitTask:
    """What a worker needs for one fit (all plain values: sent between processes)."""

    model_class: type
    text: str
    name: str
    index: int
    data: Any
    seed: int
    backend: str
    options: dict
    keep: Callable[[Any], Any] | None


def simulation_seeds(seed: int, count: int) -> list[int]:
    """``count`` independent seeds (0 to 2^32 - 1) derived from ``seed``: simulation ``i``
    gets the ``i``-th, whatever the number of workers."""
    return [int(s) for s in np.random.SeedSequence(seed).generate_state(count)]


def run_task(task: FitTask, model: Any = None) -> FitOutcome:
    """Fit one data set; an error is recorded in the outcome, not raised. ``model`` is the
    model to use (the caller's, in-process); on a Dask worker it comes from the worker's
    :class:`ModelCache`."""
    try:
        if model is None:
            model = _worker_model(task)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fit = model.sample(task.data, backend=task.backend, seed=task.seed, **task.options)
            kept = fit if task.keep is None else task.keep(fit)
        return FitOutcome(task.index, task.seed, kept,
                          warnings=tuple(dict.fromkeys(str(w.message) for w in caught)))
    except Exception as exc:  # a failed fit is a result of the study, not the end of it
        return FitOutcome(task.index, task.seed, error=f"{type(exc).__name__}: {exc}")


def _worker_model(task: FitTask) -> Any:
    from distributed import get_worker

    return get_worker().plugins[PLUGIN_NAME].model(task.model_class, task.text, task.name)


def fit_many(model: Any, datasets: Sequence[Any], backend: str = "nuts", *,
             cluster: Any = "local", workers: int | None = None, seed: int = 0,
             seeds: Sequence[int] | None = None, keep: Callable[[Any], Any] | None = None,
             progress: bool = False, **options: Any) -> list[FitOutcome]:
    """Fit ``model`` (a :class:`ppl.Model`) to every data set in ``datasets``, spread over a
    Dask cluster; returns one :class:`FitOutcome` per data set, in order.

    ``options`` go to :meth:`ppl.Model.sample` (``chains``, ``draws``, ``warmup`` and backend
    options). Data set ``i`` is fitted with seed ``seeds[i]`` (by default derived from
    ``seed``, see :func:`simulation_seeds`), so the results are the same for any number of
    workers. A fit that fails is recorded with its error and seed (``outcome.error``); the
    others go on. ``keep``, a function of the fit (defined at module level, so that it can be
    sent to workers), is applied on the worker and its result returned instead of the whole
    fit. ``cluster``: ``"local"`` (a ``LocalCluster`` of ``workers`` single-threaded processes,
    by default one per core), a scheduler address, a ``distributed.Client``, or ``None`` (in
    this process, no Dask). ``progress`` shows a bar over fits.
    """
    datasets = list(datasets)
    seeds = simulation_seeds(seed, len(datasets)) if seeds is None else [int(s) for s in seeds]
    if len(seeds) != len(datasets):
        raise SamplingError([error(f"{len(seeds)} seeds for {len(datasets)} data sets",
                                   hint="pass one seed per data set, or none")])
    tasks = [FitTask(type(model), model.source.text, model.source.name, i, data, s, backend,
                     dict(options), keep)
             for i, (data, s) in enumerate(zip(datasets, seeds))]
    if cluster is None:
        return [run_task(task, model) for task in _progress(tasks, progress)]
    with dask_client(cluster, workers) as client:
        client.register_plugin(ModelCache(), name=PLUGIN_NAME)
        futures = client.map(run_task, tasks, pure=False)
        position = {future.key: i for i, future in enumerate(futures)}
        outcomes = {}
        from distributed import as_completed

        for future in _progress(as_completed(futures), progress, total=len(futures)):
            index = position[future.key]
            try:
                outcomes[index] = future.result()
            except Exception as exc:  # the worker died (out of memory, a crash in XLA)
                outcomes[index] = FitOutcome(index, seeds[index],
                                             error=f"{type(exc).__name__}: {exc}")
        return [outcomes[i] for i in range(len(tasks))]


def _progress(items: Any, show: bool, total: int | None = None) -> Iterator:
    if not show:
        yield from items
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        job = bar.add_task("fits", total=total if total is not None else len(items))
        for item in items:
            yield item
            bar.advance(job)
