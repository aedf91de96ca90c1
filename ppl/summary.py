"""Terminal summaries and sampler warnings for a fit, and saving draws."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from statistics import NormalDist

import arviz_stats as az  # ArviZ's statistics; `import arviz` would load matplotlib too
import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

# Saving and reading fits live in ppl.output; the names stay importable from here.
from ppl.output import check_output_path, load_fit, save  # noqa: F401
from ppl.results import backend_notes

RHAT_LIMIT = 1.01
ESS_PER_CHAIN = 100


def drawn_after_sampling(fit) -> set[str]:
    """Discrete latents and generated quantities of a fit: drawn from each posterior draw after
    sampling, so R-hat and ESS say nothing about the sampler for them."""
    return {n for n in str(fit.attrs.get("drawn_after_sampling", "")).split(",") if n}


def summary_rows(fit, var_names: list[str] | None = None, kind: str = "all") -> list[dict]:
    """One row per scalar parameter: mean, sd, 94% HDI, bulk/tail ESS and R-hat (with
    ``kind="diagnostics"`` the ESS, R-hat and MCSE only)."""
    with warnings.catch_warnings():  # a label constant over the draws has no R-hat: NaN is fine
        warnings.simplefilter("ignore", RuntimeWarning)
        table = az.summary(fit, var_names=var_names, kind=kind, ci_prob=0.94, ci_kind="hdi")
    rows = []
    for label, row in table.iterrows():
        rows.append({"name": str(label), **{k: float(v) for k, v in row.items()}})
    return rows


def sampler_warnings(fit) -> list[str]:
    """Plain-language warnings: what the backend reported (chains restarted at the end of
    warm-up, an interrupted run), stuck chains, divergences (and where they concentrate, see
    :func:`divergence_locations`), tree depth, E-BFMI, R-hat, low ESS and Pareto k.

    The statistics are ArviZ's (``az.bfmi``, and R-hat and bulk/tail ESS through
    ``az.summary``); what is ours is the wording and the thresholds. ``arviz_stats.diagnose``
    does the same checks but not in a form these messages can use (checked on eight schools):
    it names variables, not elements (``theta``, not ``theta[3]``), its ESS limit looks at bulk
    ESS only and reports no names for it, its tree-depth check needs a
    ``reached_max_treedepth`` statistic, and it has nothing for stuck chains, where
    divergences concentrate, or Pareto k."""
    notes = backend_notes(fit)
    stats = fit["sample_stats"] if "sample_stats" in fit.children else None
    markov = _markov_chains(fit)
    notes += _stuck_chains(fit, stats) if markov else []
    if markov and stats is not None and "diverging" in stats:
        diverging = np.asarray(stats["diverging"]).astype(bool)
        n = int(diverging.sum())
        if n:
            where = _concentration_text(divergence_locations(fit, diverging))
            notes.append(f"{n} of {diverging.size} draws diverged{where}: the posterior has "
                         "regions the sampler cannot explore; try target_accept=0.95 or a "
                         "non-centred parameterisation")
    if stats is not None and "tree_depth" in stats and "max_tree_depth" in fit.attrs:
        hits = int((np.asarray(stats["tree_depth"]) >= fit.attrs["max_tree_depth"]).sum())
        if hits:
            notes.append(f"{hits} draws hit the maximum tree depth: sampling is inefficient; "
                         "consider rescaling or reparameterising")
    if stats is not None and "energy" in stats and "n_steps" in stats \
            and stats.sizes.get("draw", 0) > 1:
        with warnings.catch_warnings():  # a constant energy (a stuck chain) has no BFMI
            warnings.simplefilter("ignore", RuntimeWarning)
            bfmi = np.asarray(az.bfmi(stats["energy"]))
        low = [i + 1 for i, b in enumerate(np.atleast_1d(bfmi)) if b < 0.3]
        if low:
            notes.append(f"low E-BFMI (< 0.3) in chain{'s' if len(low) > 1 else ''} "
                         f"{', '.join(map(str, low))}: the momentum resampling explores the "
                         "energy poorly, typical of heavy tails or funnels; reparameterise")
    sampled = [n for n in fit["posterior"].data_vars if n not in drawn_after_sampling(fit)]
    notes += _draw_problems(fit, sampled)
    rows = summary_rows(fit, sampled, kind="diagnostics") if sampled else []
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
    return notes + _pareto_k(fit)


# A chain whose position stays the same in more than this fraction of its draws is stuck (NUTS
# moves at almost every draw; static HMC rejects about 1 - target_accept of them) ...
STUCK_FRACTION = 0.5
# ... and so is one whose step size is this many times below the chains' median.
STEP_SIZE_RATIO = 10.0
# PSIS k-hat of an approximation's importance weights above this: the approximation is poor.
PARETO_K_LIMIT = 0.7


def _draw_problems(fit, sampled: list[str]) -> list[str]:
    """Warnings any backend's draws can need: ADVI that did not converge, draws that are not
    finite, and a quantity whose draws all coincide (a collapsed approximation)."""
    notes = []
    if fit.attrs.get("backend") == "vi" and int(fit.attrs.get("vi_converged", 1)) == 0:
        notes.append("the variational fit (vi) did not converge within max_steps: its draws "
                     "may be far from the posterior; raise max_steps, lower learning_rate, or "
                     "use NUTS")
    if fit.attrs.get("backend") == "advi" and int(fit.attrs.get("vi_converged", 1)) == 0:
        notes.append("ADVI did not converge within max_steps: its draws may be far from the "
                     "posterior; raise max_steps, lower learning_rate, or use NUTS")
    posterior = fit["posterior"]
    for name in sampled:
        values = np.asarray(posterior[name])
        draws = values.reshape(-1, *values.shape[2:]) if values.ndim >= 2 else values
        if draws.shape[0] < 2 or not np.issubdtype(draws.dtype, np.floating):
            continue
        flat = draws.reshape(draws.shape[0], -1)
        bad = int((~np.isfinite(flat)).any(axis=1).sum())
        if bad:
            notes.append(f"{bad} of {len(flat)} draws of {name} are not finite: do not trust "
                         "this fit")
        elif np.all(flat == flat[0]):
            notes.append(f"all {len(flat)} draws of {name} are the same value: the sampler or "
                         "approximation collapsed to a point; do not trust this fit")
    return notes


def _markov_chains(fit) -> bool:
    """Whether the draws are Markov chains (NUTS, HMC, GPSS, or arrays without a backend
    named).
    SMC's particles are not: resampled copies sit side by side, and its ``diverging`` marks a
    rejected mutation proposal, so the stuck-chain and divergence warnings would mislead."""
    return str(fit.attrs.get("backend", "nuts")) in ("nuts", "hmc", "gpss")


def _stuck_chains(fit, stats) -> list[str]:
    """Warnings for chains that do not move: the same position in most draws, or a step size
    far below the other chains'."""
    posterior = fit["posterior"]
    chains, draws = posterior.sizes.get("chain", 1), posterior.sizes.get("draw", 0)
    # MCMC fits only: HMC's statistics, or GPSS's evaluation counts
    if draws < 2 or stats is None or not ({"diverging", "n_evals"} & set(stats.data_vars)):
        return []
    after = drawn_after_sampling(fit)
    moved = np.zeros((chains, draws - 1), dtype=bool)
    for name, var in posterior.data_vars.items():
        values = np.asarray(var)
        if name not in after and values.shape[:2] == (chains, draws):
            values = values.reshape(chains, draws, -1)
            moved |= np.any(values[:, 1:] != values[:, :-1], axis=-1)
    notes = []
    for chain, fraction in enumerate(1 - moved.mean(axis=1)):
        if fraction > STUCK_FRACTION:
            notes.append(f"chain {chain + 1} is stuck: its position did not change in "
                         f"{fraction:.0%} of its draws; do not trust this fit (look for a "
                         "NaN or infinite gradient, or try init='laplace')")
    if "step_size" in stats and chains > 1:
        final = np.asarray(stats["step_size"])[:, -1]
        median = float(np.median(final))
        for chain, eps in enumerate(final):
            if eps < median / STEP_SIZE_RATIO:
                notes.append(f"chain {chain + 1}'s step size ({eps:.2g}) is far below the "
                             f"other chains' (median {median:.2g}): it explores slowly and "
                             "may be stuck in a hard region")
    return notes


def _pareto_k(fit) -> list[str]:
    k = fit.attrs.get("vi_pareto_k", fit.attrs.get("pareto_k"))
    if k is None or not np.isfinite(float(k)) or float(k) <= PARETO_K_LIMIT:
        return [] if k is None or np.isfinite(float(k)) else [
            "the approximation's Pareto k is not finite: its draws cannot be trusted"]
    return [f"Pareto k of the approximation is {float(k):.2f} (above {PARETO_K_LIMIT}): the "
            "approximation is poor and its draws may be far from the posterior; check with "
            "backend='nuts' or backend='smc'"]


# Where divergences concentrate (see divergence_locations): a quantity is named when its
# divergent draws sit on average at or beyond the 30th / 70th percentile of the other draws ...
DIVERGENCE_EFFECT = 0.2
# ... and that is beyond chance: a z-score past a two-sided 5% level, Bonferroni-corrected
# for the number of quantities looked at (and never below 2.5).
DIVERGENCE_FAMILY_LEVEL = 0.05
DIVERGENCE_MIN_Z = 2.5
# Fewer non-divergent draws than this give no reference distribution worth the name.
DIVERGENCE_MIN_REFERENCE = 20
DIVERGENCE_NAMED = 3


@dataclass(frozen=True)
class DivergenceLocation:
    """Where the divergent draws of one scalar quantity lie among the other draws:
    ``percentile`` is their average percentile (0 to 100), ``z`` its z-score under no
    concentration."""

    name: str
    percentile: float
    z: float


def divergence_locations(fit, diverging: np.ndarray | None = None
                         ) -> list[DivergenceLocation]:
    """The scalar quantities (``tau``, ``theta[3]``) where the divergent draws concentrate,
    most extreme first, at most ``DIVERGENCE_NAMED``. ``diverging`` is the (chain, draw) mask
    of divergent draws, by default ``sample_stats.diverging``.

    The rule, per scalar quantity of the posterior: place each divergent draw within the
    non-divergent draws (its percentile: the fraction of them below it, ties counting half) and
    average. Percentiles do not depend on the scale: a positive quantity gives the same answer
    as its logarithm, and a heavy tail cannot dominate. Without concentration the average is
    about 50 with a standard error of 100 / sqrt(12 m) for m independent divergent draws; as
    divergent draws come in runs, m counts runs of consecutive divergent iterations, which is
    conservative. A quantity is named when its average is at most the 30th or at least the
    70th percentile (``DIVERGENCE_EFFECT``) and its z-score passes a 5% level Bonferroni-
    corrected for the number of quantities (and at least 2.5), so one or two divergences name
    nothing. NaN draws are left out; a quantity constant among the non-divergent draws, or with
    fewer than ``DIVERGENCE_MIN_REFERENCE`` of them, is skipped.
    """
    if diverging is None:
        stats = fit["sample_stats"] if "sample_stats" in fit.children else {}
        if "diverging" not in stats:
            return []
        diverging = np.asarray(stats["diverging"]).astype(bool)
    blocks = list(_scalar_blocks(fit["posterior"], drawn_after_sampling(fit)))
    count = sum(len(names) for names, _ in blocks)
    if not count or diverging.all() or any(b.shape[:2] != diverging.shape for _, b in blocks):
        return []
    flat = diverging.reshape(-1)
    runs = int(diverging[:, :1].sum() + (diverging[:, 1:] & ~diverging[:, :-1]).sum())
    threshold = max(DIVERGENCE_MIN_Z, NormalDist().inv_cdf(
        1 - DIVERGENCE_FAMILY_LEVEL / (2 * count)))
    found = []
    for names, block in blocks:  # one variable at a time: no copy of the whole posterior
        draws = block.reshape(flat.size, -1).astype(float)
        for name, position in zip(names, mean_positions(draws[flat], draws[~flat])):
            if np.isnan(position):
                continue
            z = (position - 0.5) / np.sqrt(1 / (12 * runs))
            if abs(position - 0.5) >= DIVERGENCE_EFFECT and abs(z) >= threshold:
                found.append(DivergenceLocation(name, 100 * float(position), float(z)))
    found.sort(key=lambda loc: -abs(loc.percentile - 50))  # stable: ties keep posterior order
    return found[:DIVERGENCE_NAMED]


def mean_positions(divergent: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Per column, the average position (0 to 1) of the ``divergent`` rows among the
    ``reference`` rows (fraction below, ties counting half); NaN where undefined."""
    ordered = np.sort(reference, axis=0)  # NaNs sort last
    out = np.full(reference.shape[1], np.nan)
    for j in range(reference.shape[1]):
        ref = ordered[: np.count_nonzero(~np.isnan(ordered[:, j])), j]
        values = divergent[:, j][~np.isnan(divergent[:, j])]
        if len(ref) < DIVERGENCE_MIN_REFERENCE or not len(values) or ref[0] == ref[-1]:
            continue
        below = np.searchsorted(ref, values, "left") + np.searchsorted(ref, values, "right")
        out[j] = float(np.mean(below)) / (2 * len(ref))
    return out


def _scalar_blocks(posterior, skip: set[str] = frozenset()
                   ) -> Iterator[tuple[list[str], np.ndarray]]:
    """Per numeric posterior variable not in ``skip``: the names of its scalar elements as in
    the summary table (``theta[3]``, ``L[1, 2]``) and its (chain, draw, ...) values."""
    for name, var in posterior.data_vars.items():
        if name in skip:
            continue
        values = np.asarray(var)
        if values.ndim < 2 or values.dtype.kind not in "biuf":
            continue
        labels = [np.asarray(posterior[d].values) if d in posterior.coords
                  else np.arange(1, size + 1) for d, size in zip(var.dims[2:], values.shape[2:])]
        names = [name if not idx else
                 f"{name}[{', '.join(str(labels[k][i]) for k, i in enumerate(idx))}]"
                 for idx in np.ndindex(*values.shape[2:])]
        yield names, values


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _percentile_words(p: float) -> str:
    if p < 1:
        return "below the 1st percentile"
    if p > 99:
        return "above the 99th percentile"
    return f"at the {_ordinal(round(p))} percentile"


def _concentration_text(locations: list[DivergenceLocation]) -> str:
    """``, concentrated at small values of tau (divergent draws at the 3rd percentile ...)``."""
    if not locations:
        return ""
    parts = []
    for i, loc in enumerate(locations):
        side = "small" if loc.percentile < 50 else "large"
        where = _percentile_words(loc.percentile)
        detail = (f"divergent draws {where} of the other draws on average" if i == 0
                  else where.removeprefix("at the "))
        parts.append(f"{side} values of {loc.name} ({detail})")
    return ", concentrated at " + (parts[0] if len(parts) == 1 else
                                   ", ".join(parts[:-1]) + " and " + parts[-1])


def fit_warnings(fit) -> list[str]:
    """The warnings recorded in the fit by ``Model.sample`` (so the terminal, the notebook and
    the Python warnings say the same), else :func:`sampler_warnings` computed now."""
    if "warnings" in fit.attrs:
        return list(json.loads(fit.attrs["warnings"]))
    return sampler_warnings(fit)


def print_summary(fit, out: Console, err: Console) -> None:
    table = Table(title="posterior summary")
    columns = [("mean", "mean"), ("sd", "sd"), ("hdi 3%", "hdi94_lb"), ("hdi 97%", "hdi94_ub"),
               ("ess bulk", "ess_bulk"), ("ess tail", "ess_tail"), ("r_hat", "r_hat")]
    table.add_column("parameter", no_wrap=True)
    for title, _ in columns:
        table.add_column(title, justify="right")
    # An array completed with imputed entries repeats y_unobserved between constant rows.
    completed = {n for n in str(fit.attrs.get("imputed", "")).split(",") if n}
    shown = [n for n in fit["posterior"].data_vars if n not in completed]
    for row in summary_rows(fit, shown if completed else None):
        cells = []
        for _, key in columns:
            value = row.get(key, float("nan"))
            cells.append(f"{value:.0f}" if key.startswith("ess") else f"{value:.3g}"
                         if key != "r_hat" else f"{value:.3f}")
        table.add_row(Text(row["name"]), *cells)  # user labels: plain text, never markup
    out.print(table)
    for note in fit_warnings(fit):
        # escaped: a label such as theta[alameda] would otherwise read as a style tag
        err.print(f"[yellow]warning:[/] {escape(note)}")


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


def prior_rows(prior, group: str = "prior") -> list[dict]:
    """One row per scalar quantity of a prior simulation's ``group``: mean, sd and 94% HDI
    (independent draws: no R-hat or ESS)."""
    with warnings.catch_warnings():  # a quantity constant over the draws: NaN is fine
        warnings.simplefilter("ignore", RuntimeWarning)
        table = az.summary(prior, group=group, kind="stats", ci_prob=0.94, ci_kind="hdi",
                           round_to="none")
    return [{"name": str(label), **{k: float(v) for k, v in row.items()}}
            for label, row in table.iterrows()]


def print_prior_summary(prior, out: Console, titles: dict[str, str] | None = None) -> None:
    """The tables of ``ppl run --prior``: the prior, then the prior predictive draws (or of
    the groups in ``titles``, ``{group: title}``)."""
    titles = titles or {"prior": "prior summary", "prior_predictive": "prior predictive summary"}
    columns = [("mean", "mean"), ("sd", "sd"), ("hdi 3%", "hdi94_lb"), ("hdi 97%", "hdi94_ub")]
    for group, title in titles.items():
        if group not in prior.children or not prior[group].data_vars:
            continue
        table = Table(title=title)
        table.add_column("quantity", no_wrap=True)
        for name, _ in columns:
            table.add_column(name, justify="right")
        for row in prior_rows(prior, group):
            table.add_row(Text(row["name"]),
                          *(f"{row.get(key, float('nan')):.3g}" for _, key in columns))
        out.print(table)
