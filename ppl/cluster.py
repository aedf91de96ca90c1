"""Dask clusters for ppl: a client for a local cluster, a scheduler address or a client
(:func:`dask_client`), the environment of local worker processes, and :class:`ModelCache`, the
worker plugin that keeps the models a worker has built from source text. Used by
:func:`ppl.fit_many` (:mod:`ppl.validation.many`) and the data-distributed backends
(:mod:`ppl.backends.consensus`, :mod:`ppl.backends.split_gibbs`). Imported when first used: it
brings in Dask.

The cluster: ``"local"`` starts a ``distributed.LocalCluster`` with one single-threaded
worker process per core on the loopback interface and closes it at the end; an address
(``"tcp://host:8786"``) uses the scheduler of an existing cluster (its workers need ppl
installed); a ``distributed.Client`` is used as it is.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from distributed import WorkerPlugin

from ppl.errors import SamplingError, error
from ppl.source import Source

# The name under which workers keep their models (Dask's plugin registry).
PLUGIN_NAME = "ppl-models"
# Each worker process computes on one thread: XLA's CPU thread pools would otherwise make every
# worker use every core. (Added to XLA_FLAGS the user may have set.) On a machine with a GPU
# the workers share it: none grabs most of its memory up front, as JAX does by default.
SINGLE_THREAD_FLAGS = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
SINGLE_THREAD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                     "XLA_PYTHON_CLIENT_PREALLOCATE": "false",
                     # one device: a worker's chains run vectorised on its one core
                     # (ppl/host_devices.py), not on devices that would share it
                     "PPL_HOST_DEVICES": "1"}
# Seconds to wait for an existing scheduler before giving up.
CONNECT_TIMEOUT = 20


class ModelCache(WorkerPlugin):
    """A Dask worker plugin that keeps the models a worker has built, by source text, so
    that its compiled programs are reused by the worker's later tasks."""

    name = PLUGIN_NAME

    def __init__(self) -> None:
        self.models: dict[tuple, Any] = {}

    def setup(self, worker: Any) -> None:
        """Called by Dask when the plugin is installed on a worker."""

    def teardown(self, worker: Any) -> None:
        """Called by Dask when the worker closes."""
        self.models.clear()

    def model(self, model_class: type, text: str, name: str) -> Any:
        """``model_class(Source(text, name))``, built on first use."""
        key = (model_class, text, name)
        if key not in self.models:
            self.models[key] = model_class(Source(text, name))
        return self.models[key]



def worker_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment variables a local cluster's worker processes get on top of ours."""
    flags = f"{environ.get('XLA_FLAGS', '')} {SINGLE_THREAD_FLAGS}".strip()
    return {**SINGLE_THREAD_ENV, "XLA_FLAGS": flags}


@contextmanager
def dask_client(cluster: Any, workers: int | None = None) -> Iterator[Any]:
    """A ``distributed.Client`` for ``cluster`` (see :func:`fit_many`); a local cluster it
    starts is closed on leaving."""
    from distributed import Client, LocalCluster

    if isinstance(cluster, Client):
        yield cluster
        return
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                or workers < 1):
        raise SamplingError([error(f"workers must be an integer >= 1, not {workers!r}",
                                   hint="pass workers=2, or leave it out for one per core")])
    if cluster == "local":
        count = workers or os.cpu_count() or 1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Dask's notes on ports and dashboards
            local = LocalCluster(n_workers=count, threads_per_worker=1, processes=True,
                                 host="127.0.0.1", dashboard_address=None,
                                 env=worker_environment(os.environ))
        with local, Client(local) as client:
            yield client
        return
    if not isinstance(cluster, str) or "://" not in cluster:
        raise SamplingError([error(f"unknown cluster {cluster!r}",
                                   hint="pass 'local', a scheduler address such as "
                                        "'tcp://host:8786', a distributed.Client, or None")])
    if workers is not None:
        raise SamplingError([error("workers applies to a local cluster only",
                                   hint="an existing cluster has its own workers; leave "
                                        "workers out")])
    try:
        client = Client(cluster, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as exc:
        raise SamplingError([error(f"cannot reach the Dask scheduler at {cluster}: {exc}",
                                   hint="start one with `dask scheduler` (and workers with "
                                        "`dask worker ADDRESS`), or use cluster='local'")]
                            ) from None
    with client:
        yield client
