"""The plots of a calibration study (matplotlib, imported when first used).

Per scalar parameter: the histogram of its fractional ranks with the 95% interval of each
bin's count under uniform ranks, and the ECDF difference (ECDF minus the uniform CDF) with
the simultaneous band (Säilynoja et al. 2022): a correct posterior keeps it inside. For TARP:
the expected coverage against the credibility level with its bootstrap band; a correct
posterior follows the diagonal.

Figures are made with matplotlib's object interface (``matplotlib.figure.Figure``), not
pyplot: no backend is chosen or needed, and nothing is left open in pyplot's list of figures.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

# The plots take a ``ppl.validation.study.Validation`` (typed Any: that module imports this one).
Validation = Any

# Histogram bins: about 5 ranks a bin expected, at most 20 bins.
MAX_BINS = 20


def bins_for(n: int) -> int:
    """How many histogram bins for ``n`` ranks."""
    return int(max(2, min(MAX_BINS, n // 5)))


def safe_file_name(name: str) -> str:
    """A parameter's name as part of a file name (``theta[2]`` -> ``theta_2``)."""
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name).strip("_")


FORMATS = ("png", "svg")


def write_plots(result: Validation, folder: Path, format: str = "png") -> list[Path]:
    """``sbc_NAME.png`` per scalar parameter and ``tarp.png`` (or ``.svg``), in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for file_name, figure in figures(result):
        path = folder / f"{Path(file_name).stem}.{format}"
        figure.savefig(path, dpi=100)
        written.append(path)
    return written


def figures(result: Validation) -> list[tuple[str, Any]]:
    """``(file name, Figure)`` for each parameter's SBC plot, then TARP's."""
    out = [(f"sbc_{safe_file_name(check.name)}.png",
            sbc_figure(result.ranks[:, k], result, check.name,
                       "pass" if check.passed else "fail"))
           for k, check in enumerate(result.parameters)]
    if result.tarp is not None:
        out.append(("tarp.png", tarp_figure(result)))
    return out


def html(result: Validation) -> str:
    """The verdicts as an HTML table followed by the plots (PNG, inline): Jupyter's view."""
    import base64
    import html as escaping
    import io

    rows = [(p.name, p.passed, p.p_value, p.meaning) for p in result.parameters]
    if result.tarp is not None:
        rows.append(("TARP", result.tarp.passed, result.tarp.p_value, result.tarp.meaning))
    cells = "".join(f"<tr><td>{escaping.escape(name)}</td><td>{'pass' if ok else 'FAIL'}</td>"
                    f"<td>{p:.3f}</td><td>{escaping.escape(meaning)}</td></tr>"
                    for name, ok, p, meaning in rows)
    images = []
    for _, figure in figures(result):
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=80)
        images.append(f'<img src="data:image/png;base64,'
                      f'{base64.b64encode(buffer.getvalue()).decode()}"/>')
    return (f"<p><b>validation of {escaping.escape(result.backend)} on {result.simulations} "
            f"simulations: {result.verdict.upper()}</b></p><table><tr><th>check</th>"
            f"<th>verdict</th><th>p</th><th>meaning</th></tr>{cells}</table>" + "".join(images))


def sbc_figure(ranks: np.ndarray, result: Validation, name: str, verdict: str):
    """The rank histogram and the ECDF-difference plot of one parameter, side by side."""
    from matplotlib.figure import Figure

    n = len(ranks)
    bins = bins_for(n)
    figure = Figure(figsize=(9, 3.2))
    left, right = figure.subplots(1, 2)
    low, high = stats.binom.ppf([0.025, 0.975], n, 1 / bins)
    left.axhspan(low, high, color="0.85", label="95% per bin if uniform")
    left.hist(ranks, bins=bins, range=(0, 1), color="C0", edgecolor="white")
    left.set_xlabel("fractional rank of the truth")
    left.set_ylabel("simulations")
    left.legend(loc="upper right", fontsize=7)
    band = result.band
    ecdf = (np.sort(ranks)[None, :] <= band.points[:, None]).mean(axis=1)
    right.fill_between(band.points, band.lower - band.points, band.upper - band.points,
                       color="0.85", label=f"simultaneous {1 - result.alpha:.0%} band")
    right.plot(band.points, ecdf - band.points, color="C0")
    right.axhline(0, color="0.4", lw=0.8)
    right.set_xlabel("fractional rank")
    right.set_ylabel("ECDF - uniform CDF")
    right.legend(loc="upper right", fontsize=7)
    figure.suptitle(f"SBC of {name} ({result.backend}): {verdict}")
    figure.tight_layout()
    return figure


def tarp_figure(result: Validation):
    """TARP's expected coverage against the credibility level, with its bootstrap band."""
    from matplotlib.figure import Figure

    numbers = result.tarp.numbers
    figure = Figure(figsize=(4.2, 4))
    axes = figure.subplots()
    axes.fill_between(numbers.credibility, numbers.coverage_lower, numbers.coverage_upper,
                      color="0.85", label=f"bootstrap {1 - result.alpha:.0%} band")
    axes.plot(numbers.credibility, numbers.coverage, color="C0", label="expected coverage")
    axes.plot([0, 1], [0, 1], color="0.4", lw=0.8, ls="--", label="correct")
    axes.set_xlabel("credibility level")
    axes.set_ylabel("expected coverage")
    axes.legend(loc="upper left", fontsize=7)
    verdict = "pass" if result.tarp.passed else "fail"
    axes.set_title(f"TARP ({result.backend}): {verdict}")
    figure.tight_layout()
    return figure
