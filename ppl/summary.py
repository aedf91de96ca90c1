"""Terminal summaries and sampler warnings for a fit, and saving draws."""

from __future__ import annotations

import json
from pathlib import Path

import arviz as az
import numpy as np
from rich.console import Console
from rich.table import Table

from ppl.errors import DataError, error

RHAT_LIMIT = 1.01
ESS_PER_CHAIN = 100


def summary_rows(fit) -> list[dict]:
    """One row per scalar parameter: mean, sd, 94% HDI, bulk/tail ESS and R-hat."""
    table = az.summary(fit, kind="all", ci_prob=0.94, ci_kind="hdi")
    rows = []
    for label, row in table.iterrows():
        rows.append({"name": str(label), **{k: float(v) for k, v in row.items()}})
    return rows


def sampler_warnings(fit) -> list[str]:
    """Plain-language warnings: divergences, R-hat, low ESS, tree depth."""
    notes = []
    stats = fit["sample_stats"] if "sample_stats" in fit.children else None
    if stats is not None and "diverging" in stats:
        n = int(np.asarray(stats["diverging"]).sum())
        if n:
            total = np.asarray(stats["diverging"]).size
            notes.append(f"{n} of {total} draws diverged: the posterior has regions the sampler "
                         "cannot explore; try target_accept=0.95 or a non-centred "
                         "parameterisation")
    if stats is not None and "tree_depth" in stats and "max_tree_depth" in fit.attrs:
        hits = int((np.asarray(stats["tree_depth"]) >= fit.attrs["max_tree_depth"]).sum())
        if hits:
            notes.append(f"{hits} draws hit the maximum tree depth: sampling is inefficient; "
                         "consider rescaling or reparameterising")
    if stats is not None and "energy" in stats and "n_steps" in stats:
        energy = np.asarray(stats["energy"])
        bfmi = np.sum(np.diff(energy, axis=1) ** 2, axis=1) / np.sum(
            (energy - energy.mean(axis=1, keepdims=True)) ** 2, axis=1)
        low = [i + 1 for i, b in enumerate(bfmi) if b < 0.3]
        if low:
            notes.append(f"low E-BFMI (< 0.3) in chain{'s' if len(low) > 1 else ''} "
                         f"{', '.join(map(str, low))}: the momentum resampling explores the "
                         "energy poorly, typical of heavy tails or funnels; reparameterise")
    rows = summary_rows(fit)
    chains = fit["posterior"].sizes.get("chain", 1)
    bad_rhat = [r["name"] for r in rows if r.get("r_hat", 1.0) > RHAT_LIMIT]
    if bad_rhat and chains > 1:
        notes.append(f"R-hat above {RHAT_LIMIT} for {', '.join(bad_rhat[:5])}"
                     f"{' ...' if len(bad_rhat) > 5 else ''}: the chains disagree; run longer "
                     "or check the model")
    low = [r["name"] for r in rows
           if min(r.get("ess_bulk", np.inf), r.get("ess_tail", np.inf)) < ESS_PER_CHAIN * chains]
    if low:
        notes.append(f"low effective sample size for {', '.join(low[:5])}"
                     f"{' ...' if len(low) > 5 else ''}: estimates are noisy; draw more")
    return notes


def print_summary(fit, out: Console, err: Console) -> None:
    table = Table(title="posterior summary")
    columns = [("mean", "mean"), ("sd", "sd"), ("hdi 3%", "hdi94_lb"), ("hdi 97%", "hdi94_ub"),
               ("ess bulk", "ess_bulk"), ("ess tail", "ess_tail"), ("r_hat", "r_hat")]
    table.add_column("parameter", no_wrap=True)
    for title, _ in columns:
        table.add_column(title, justify="right")
    for row in summary_rows(fit):
        cells = []
        for _, key in columns:
            value = row.get(key, float("nan"))
            cells.append(f"{value:.0f}" if key.startswith("ess") else f"{value:.3g}"
                         if key != "r_hat" else f"{value:.3f}")
        table.add_row(row["name"], *cells)
    out.print(table)
    for note in sampler_warnings(fit):
        err.print(f"[yellow]warning:[/] {note}")


def flat_draws(fit, group: str = "posterior") -> dict[str, list]:
    """Stan-style flattened names (``theta[1]``, ``L[2,1]``) -> chains x draws lists."""
    out = {}
    ds = fit[group]
    for name, var in ds.data_vars.items():
        values = np.asarray(var)
        event = values.shape[2:]
        for idx in np.ndindex(*event) if event else [()]:
            label = name if not idx else f"{name}[{','.join(str(i + 1) for i in idx)}]"
            out[label] = values[(slice(None), slice(None)) + idx].tolist()
    return out


def save(fit, path: Path) -> None:
    """Write draws as netCDF (``.nc``) or as check.py-style JSON (``.json``)."""
    if path.suffix == ".json":
        path.write_text(json.dumps(flat_draws(fit)))
    elif path.suffix == ".nc":
        fit.to_netcdf(path)
    else:
        raise DataError([error(f"cannot write '{path}'", hint="use a .nc or .json file name")])
