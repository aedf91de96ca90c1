"""Errors a user can cause, kept as data, and the one renderer that draws them.

A :class:`Diagnostic` says *where* (a span), *what* (a message) and *how to fix it* (a hint).
:class:`PPLError` carries one or more diagnostics; ``str(error)`` renders them all as
``file:line:col: error: message``, the source line, a caret under the place and the hint.
Bugs in ppl itself are :class:`InternalError`, which asks for a bug report instead.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ppl.source import NO_SPAN, Source, Span


@dataclass(frozen=True)
class Diagnostic:
    """One problem at one place; ``severity`` is ``"error"`` or ``"warning"``."""

    message: str
    span: Span = NO_SPAN
    hint: str = ""
    severity: str = "error"


def render(diagnostic: Diagnostic, source: Source | None) -> str:
    """Draw a diagnostic: position, message, the source line with a caret, and the hint."""
    span = diagnostic.span
    name = source.name if source is not None else "<model>"
    if span.line <= 0:
        head = f"{name}: {diagnostic.severity}: {diagnostic.message}"
        return head + (f"\n  hint: {diagnostic.hint}" if diagnostic.hint else "")
    lines = [f"{name}:{span.line}:{span.column}: {diagnostic.severity}: {diagnostic.message}"]
    text = source.line(span.line) if source is not None else ""
    if text:
        width = 1
        if span.end_line == span.line and span.end_column >= span.column:
            width = span.end_column - span.column + 1
        gutter = f"{span.line:>4} | "
        lines.append(gutter + text)
        # Tabs before the place are kept, so that the caret lines up in a terminal.
        pad = "".join(c if c == "\t" else " " for c in text[: span.column - 1])
        lines.append(" " * len(gutter) + pad.ljust(span.column - 1) + "^" * max(1, width))
    if diagnostic.hint:
        lines.append(f"  hint: {diagnostic.hint}")
    return "\n".join(lines)


class PPLError(Exception):
    """An error in a model or its data, with one or more located diagnostics."""

    def __init__(self, diagnostics: Sequence[Diagnostic], source: Source | None = None):
        self.diagnostics = tuple(diagnostics)
        self.source = source
        super().__init__(self.render())

    def render(self) -> str:
        """All diagnostics, rendered and separated by blank lines."""
        return "\n\n".join(render(d, self.source) for d in self.diagnostics)

    def with_source(self, source: Source) -> PPLError:
        """The same error, rendered against ``source`` (used once the file is known)."""
        return type(self)(self.diagnostics, source)

    def __str__(self) -> str:
        return self.render()


class ModelError(PPLError):
    """The model text is wrong: syntax, names, types, shapes."""


class DataError(PPLError):
    """The data does not fit the model's declarations."""


class SamplingError(PPLError):
    """Inference could not start or went wrong in a way the user can fix."""


class SamplingWarning(UserWarning):
    """A fit that may be wrong: divergences, R-hat, low ESS, stuck chains, E-BFMI, tree depth,
    Pareto k. Issued by :meth:`ppl.Model.sample` and recorded in the fit's attributes."""


class ModelWarning(UserWarning):
    """A likely mistake in a valid model (unused data, a flat prior, a bound wider than the
    prior's support), as ``ppl check`` reports it."""


class PerformanceWarning(UserWarning):
    """A fit that is right but slower than it could be (chains that cannot run in parallel),
    with what to change."""


class InternalError(Exception):
    """A bug in ppl; the message asks for a report."""

    def __init__(self, message: str):
        super().__init__(
            f"internal error in ppl: {message}\n"
            "This is a bug in ppl, not in your model; please report it with the model "
            "that caused it."
        )


def error(message: str, span: Span = NO_SPAN, hint: str = "") -> Diagnostic:
    """Shorthand for an error diagnostic."""
    return Diagnostic(message, span, hint)


def warning(message: str, span: Span = NO_SPAN, hint: str = "") -> Diagnostic:
    """Shorthand for a warning diagnostic."""
    return Diagnostic(message, span, hint, "warning")


_PACKAGE = str(Path(__file__).resolve().parent)


def warn_user(message: str, category: type[Warning] = UserWarning) -> None:
    """A warning attributed to the user's code (the first frame outside ppl), so that Python
    shows the line that called ppl rather than a line inside it."""
    warnings.warn(message, category, stacklevel=2, skip_file_prefixes=(_PACKAGE,))


def read_text_file(path: Path, what: str, hint: str,
                   error_type: type[PPLError] = DataError) -> str:
    """The UTF-8 text of ``what`` (``"the model file"``) at ``path``; a file that cannot be
    read or is not UTF-8 is an ``error_type`` naming the first bad byte's line."""
    where = Source("", str(path))
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise error_type([error(f"cannot read {what}: {exc.strerror}", hint=hint)],
                         where) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise error_type([error(f"{what} is not UTF-8 text: byte {raw[exc.start]:#04x} on line "
                                f"{line} cannot be decoded",
                                hint="save it as UTF-8 (from Latin-1: iconv -f latin1 -t "
                                     "utf-8)")], where) from None
