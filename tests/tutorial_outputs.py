"""Compare the numbers a tutorial notebook printed when it was saved with those of a re-run.

A code cell whose printed numbers the text relies on carries the metadata
``"ppl_check": {...}`` (an empty dict takes the defaults). For such a cell, the numbers in its
stdout and ``text/plain`` outputs are compared, in order, between the saved notebook and a
re-executed copy; a difference beyond the tolerance means the saved output (and perhaps the
text around it) is stale.

Why tolerances and not equality: on one machine JAX on CPU with a fixed seed gives the same
draws at every run (two runs of tutorial 06 printed the same text but for the timings), but
XLA compiles for the CPU it runs on, and MCMC amplifies a difference in the last bit into
different draws after a few hundred iterations. So a re-run elsewhere is another Monte Carlo
sample, and the tolerances come from Monte Carlo error:

- an ``az.summary`` table (a header with ``mean`` and ``mcse_mean``) is compared row by row:
  ``mean`` within 5 standard errors of the difference of two independent runs,
  ``5 * sqrt(mcse_a**2 + mcse_b**2)`` (likewise ``sd`` with ``mcse_sd``), and ``r_hat`` must
  not say "converged" (1.01 or less) in one run and "not converged" (1.05 or more) in the
  other. Label switching, a stuck chain or a changed model shows up there; the noise of a
  re-run does not;
- every other number within ``atol + rtol * max(|a|, |b|)``, from the cell's ``ppl_check``
  (defaults below), which the notebook's author sizes to the Monte Carlo error of what the cell
  prints;
- ``"tables_only": true`` compares only the summary tables, ``"lines": regex`` only the
  other lines that match (for cells that also print numbers a re-run elsewhere may change
  beyond Monte Carlo error, such as a count of divergences or which mode a chain found);
- both plus half a unit of the last printed digit of each number (its rounding).

Timings (a number followed by `` s``) are not compared; nor is stderr (warnings name temporary
files and may come and go with a borderline statistic): a number that the text relies on is
printed to stdout.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

DEFAULT_ATOL = 0.03
DEFAULT_RTOL = 0.05
RHAT_GOOD = 1.01
RHAT_BAD = 1.05
MCSE_SIGMAS = 5.0

NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w.])|\bnan\b")
TIMING = re.compile(r"[-+]?\d+(?:\.\d+)?\s+s\b")


def printed_text(cell) -> str:
    """The stdout and ``text/plain`` outputs of a code cell (images and stderr left out)."""
    parts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream" and output.get("name") == "stdout":
            parts.append(output.get("text", ""))
        elif output.get("output_type") in ("execute_result", "display_data"):
            data = output.get("data", {})
            if "text/plain" in data and "image/png" not in data:
                parts.append(data["text/plain"] + "\n")
    return "".join(parts)


def resolution(token: str) -> float:
    """Half a unit of the last printed digit of a number: its rounding error."""
    if token == "nan":
        return 0.0
    mantissa, _, exponent = token.lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    return 0.5 * 10.0 ** (int(exponent or 0) - decimals)


def numbers(line: str) -> list[tuple[float, float]]:
    """(value, rounding) of every number on a line, timings left out."""
    return [(float(t), resolution(t)) for t in NUMBER.findall(TIMING.sub(" ", line))]


def same(a: tuple[float, float], b: tuple[float, float], tolerance: float) -> bool:
    (x, rx), (y, ry) = a, b
    if math.isnan(x) or math.isnan(y):
        return math.isnan(x) and math.isnan(y)
    return abs(x - y) <= tolerance + rx + ry


def summary_columns(line: str) -> list[str] | None:
    """The column names when a line is the header of an ``az.summary`` table."""
    names = line.split()
    return names if "mean" in names and "mcse_mean" in names else None


def table_rows(lines: list[str], start: int, width: int) -> Iterable[tuple[str, list[str]]]:
    for line in lines[start:]:
        fields = line.split()
        if len(fields) != width + 1:
            return
        yield fields[0], fields[1:]


def compare_summary(saved: list[str], rerun: list[str], where: str) -> list[str]:
    """Row-by-row comparison of two ``az.summary`` tables (header first), by Monte Carlo error."""
    columns = saved[0].split()
    if rerun[0].split() != columns:
        return [f"{where}: summary columns differ: {saved[0].strip()!r} / {rerun[0].strip()!r}"]
    rows_a = list(table_rows(saved, 1, len(columns)))
    rows_b = list(table_rows(rerun, 1, len(columns)))
    if [name for name, _ in rows_a] != [name for name, _ in rows_b]:
        return [f"{where}: summary rows differ: {[n for n, _ in rows_a]} / "
                f"{[n for n, _ in rows_b]}"]
    problems = []
    for (name, values_a), (_, values_b) in zip(rows_a, rows_b):
        a = {c: numbers(v)[0] if numbers(v) else (math.nan, 0.0) for c, v in zip(columns, values_a)}
        b = {c: numbers(v)[0] if numbers(v) else (math.nan, 0.0) for c, v in zip(columns, values_b)}
        for stat, error in (("mean", "mcse_mean"), ("sd", "mcse_sd")):
            if stat in a and error in a:
                tolerance = MCSE_SIGMAS * math.hypot(a[error][0], b[error][0])
                if not same(a[stat], b[stat], tolerance):
                    problems.append(f"{where}: {name} {stat} saved {a[stat][0]:g}, re-run "
                                    f"{b[stat][0]:g} (more than {MCSE_SIGMAS:g} Monte Carlo "
                                    "standard errors apart)")
        if "r_hat" in a:
            ra, rb = a["r_hat"][0], b["r_hat"][0]
            if min(ra, rb) <= RHAT_GOOD and max(ra, rb) >= RHAT_BAD:
                problems.append(f"{where}: {name} r_hat saved {ra:g}, re-run {rb:g} (one run "
                                "converged, the other not)")
    return problems


def split_tables(lines: list[str]) -> tuple[list[list[str]], list[str]]:
    """The ``az.summary`` tables of a cell's printed lines, and the other lines."""
    tables, rest, i = [], [], 0
    while i < len(lines):
        columns = summary_columns(lines[i])
        if columns:
            rows = list(table_rows(lines, i + 1, len(columns)))
            tables.append(lines[i:i + 1 + len(rows)])
            i += 1 + len(rows)
        else:
            rest.append(lines[i])
            i += 1
    return tables, rest


def compare_cell(saved_text: str, rerun_text: str, check: dict, where: str) -> list[str]:
    """What differs beyond tolerance between a cell's saved and re-run printed output."""
    tables_a, rest_a = split_tables(saved_text.splitlines())
    tables_b, rest_b = split_tables(rerun_text.splitlines())
    if len(tables_a) != len(tables_b):
        return [f"{where}: {len(tables_a)} summary tables saved, {len(tables_b)} in the re-run"]
    problems = [p for a, b in zip(tables_a, tables_b) for p in compare_summary(a, b, where)]
    if check.get("tables_only"):
        return problems
    if "lines" in check:  # only the lines that match: the others depend on the machine
        rest_a = [line for line in rest_a if re.search(check["lines"], line)]
        rest_b = [line for line in rest_b if re.search(check["lines"], line)]
    values_a = [n for line in rest_a for n in numbers(line)]
    values_b = [n for line in rest_b for n in numbers(line)]
    if len(values_a) != len(values_b):
        return problems + [f"{where}: {len(values_a)} numbers saved, {len(values_b)} in the "
                           "re-run"]
    atol, rtol = check.get("atol", DEFAULT_ATOL), check.get("rtol", DEFAULT_RTOL)
    for a, b in zip(values_a, values_b):
        if not same(a, b, atol + rtol * max(abs(a[0]), abs(b[0]))):
            problems.append(f"{where}: saved {a[0]:g}, re-run {b[0]:g} "
                            f"(tolerance {atol:g} + {rtol:g} x value)")
    return problems


def stale_outputs(saved, rerun) -> list[str]:
    """Every checked cell of the saved notebook whose printed numbers the re-run contradicts."""
    problems = []
    for index, (a, b) in enumerate(zip(saved.cells, rerun.cells)):
        check = a.get("metadata", {}).get("ppl_check")
        if a.get("cell_type") == "code" and check is not None:
            problems += compare_cell(printed_text(a), printed_text(b), check, f"cell {index}")
    return problems


def checked_cells(notebook) -> int:
    return sum(1 for cell in notebook.cells if "ppl_check" in cell.get("metadata", {}))
