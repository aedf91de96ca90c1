"""Backend options, declared once and checked by one validator.

Each backend lists its options as a tuple of :class:`Option` (a name, the :class:`Kind` of
Python value it takes, its default, an optional range :class:`Check` and a line of
documentation) and calls :func:`validate_options` first thing in ``run``. The validator returns
the options with the defaults filled in, or raises one :class:`~ppl.errors.SamplingError` with a
diagnostic for every problem: an option the backend does not have (with a did-you-mean and the
backend's options) and a value it cannot use (saying what it accepts). Without it a misspelt
option surfaced as a ``TypeError`` from deep inside the backend and a bad value was accepted
silently. :func:`describe_options` renders a spec as the one line ``ppl backends`` shows.

A default of ``None`` means the backend works the value out at run time (e.g. ``num_particles``
from ``chains * draws``), so ``None`` is accepted for such an option and for no other.

The options of the ``nuts`` and ``hmc`` backends are declared here too
(:data:`NUTS_OPTIONS`, :data:`HMC_OPTIONS`).
"""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ppl.errors import Diagnostic, SamplingError, error


@dataclass(frozen=True)
class Kind:
    """Which Python values an option takes: ``accepts`` tests one and ``says`` names them in
    messages ("a number", "true or false"); ``choices`` are the accepted strings, for
    suggestions and descriptions."""

    says: str
    accepts: Callable[[Any], bool]
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Check:
    """A condition on a value already of the option's kind; ``says`` completes the kind's
    phrase in messages ("strictly between 0 and 1")."""

    says: str
    test: Callable[[Any], bool]


@dataclass(frozen=True)
class Option:
    """One backend option. ``default=None`` means the backend works the value out itself."""

    name: str
    kind: Kind
    default: Any
    check: Check | None = None
    doc: str = ""

    @property
    def says(self) -> str:
        """What the option accepts, as the end of "name must be ...": "a number > 0"."""
        return self.kind.says + (f" {self.check.says}" if self.check is not None else "")

    def accepts(self, value: Any) -> bool:
        """Whether ``value`` is of the option's kind and passes its check."""
        if value is None and self.default is None:
            return True
        # The check runs only on values of the right kind, so it may compare freely.
        return self.kind.accepts(value) and (self.check is None or bool(self.check.test(value)))


def is_bool(value: Any) -> bool:
    """``True``/``False``, NumPy's too; not 0 and 1."""
    return isinstance(value, (bool, np.bool_))


def is_int(value: Any) -> bool:
    """A Python or NumPy integer, not a bool."""
    return isinstance(value, numbers.Integral) and not is_bool(value)


def is_number(value: Any) -> bool:
    """A finite real number, integers included, bools not (``True`` is no probability)."""
    if not isinstance(value, numbers.Real) or is_bool(value):
        return False
    # Integers are finite, and math.isfinite cannot take one beyond the float range.
    return isinstance(value, numbers.Integral) or math.isfinite(value)


def _is_auto_or_bool(value: Any) -> bool:
    # None counts as "auto": the nuts backend has always read it so.
    return value is None or (isinstance(value, str) and value == "auto") or is_bool(value)


BOOL = Kind("true or false", is_bool)
INT = Kind("an integer", is_int)
FLOAT = Kind("a number", is_number)
AUTO_BOOL = Kind("'auto', true or false", _is_auto_or_bool, ("auto", "true", "false"))
AUTO_FLOAT = Kind("'auto' or a number",
                  lambda value: (isinstance(value, str) and value == "auto") or is_number(value),
                  ("auto",))


def choice(*values: str) -> Kind:
    """A string from ``values``."""
    return Kind("one of " + ", ".join(repr(v) for v in values),
                lambda value: isinstance(value, str) and value in values, tuple(values))


def between(low: float, high: float) -> Check:
    """Strictly between ``low`` and ``high``."""
    return Check(f"strictly between {low} and {high}", lambda value: low < value < high)


def at_least(low: float) -> Check:
    """``low`` or more."""
    return Check(f">= {low}", lambda value: value >= low)


def positive() -> Check:
    """Above 0."""
    return Check("> 0", lambda value: value > 0)


def from_to(low: int, high: int) -> Check:
    """From ``low`` to ``high``, both included."""
    return Check(f"from {low} to {high}", lambda value: low <= value <= high)


def _closest(word: str, candidates: Sequence[str]) -> str | None:
    """The candidate nearest to ``word`` (ignoring case), if any is near."""
    by_lower = {c.lower(): c for c in candidates}
    close = difflib.get_close_matches(word.lower(), list(by_lower), n=1)
    return by_lower[close[0]] if close else None


def _unknown(backend: str, name: Any, spec: Sequence[Option]) -> Diagnostic:
    names = [o.name for o in spec]
    if not names:
        return error(f"{backend} has no option {name!r}", hint=f"{backend} takes no options")
    listing = f"{backend}'s options: {', '.join(names)}"
    close = _closest(str(name), names)
    hint = f"did you mean {close!r}? {listing}" if close else listing
    return error(f"{backend} has no option {name!r}", hint=hint)


def _bad_value(option: Option, value: Any) -> Diagnostic:
    close = _closest(value, option.kind.choices) if isinstance(value, str) else None
    if option.default is not None:
        default = f"the default is {option.name}={option.default!r}"
    else:  # the doc of such an option says how the backend works the value out
        default = "" if option.doc else f"leave {option.name} out for its default"
    hint = "; ".join(part for part in (option.doc, default) if part)
    if close:
        hint = f"did you mean {close!r}? {hint}"
    return error(f"{option.name} must be {option.says}, not {value!r}", hint=hint)


def validate_options(backend_name: str, given: Mapping[str, Any],
                     spec: Sequence[Option]) -> dict[str, Any]:
    """The options ``given`` to the backend ``backend_name``, checked against ``spec``, with
    every option of ``spec`` present (the defaults filled in), in ``spec``'s order.

    Raises one :class:`SamplingError` with a diagnostic per unknown option or bad value, in the
    order the options were given."""
    by_name = {o.name: o for o in spec}
    problems = []
    for name, value in given.items():
        option = by_name.get(name)
        if option is None:
            problems.append(_unknown(backend_name, name, spec))
        elif not option.accepts(value):
            problems.append(_bad_value(option, value))
    if problems:
        raise SamplingError(problems)
    return {o.name: given.get(o.name, o.default) for o in spec}


def parse_option_items(items: Sequence[str]) -> dict[str, Any]:
    """``-o KEY=VALUE`` items (already checked to have that form) as keyword arguments:
    ``true``/``false`` become booleans, numbers ints or floats, anything else stays text."""
    pairs = (item.partition("=") for item in items)
    return {key.strip(): _option_value(value.strip()) for key, _, value in pairs}


def _option_value(text: str) -> Any:
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _show(value: Any) -> str:
    """A default as it is typed on the command line (``-o laplace=false``)."""
    if is_bool(value):
        return "true" if value else "false"
    return str(value)


def describe_options(spec: Sequence[Option]) -> str:
    """``spec`` as one line for ``ppl backends``: each option with its default (when it has a
    fixed one) and its choices, e.g. ``options: kernel=hmc (hmc|nuts), num_particles``."""
    if not spec:
        return "no options"
    parts = []
    for option in spec:
        text = option.name if option.default is None else f"{option.name}={_show(option.default)}"
        if len(option.kind.choices) > 1:  # ("auto",) beside a number says nothing more
            text += f" ({'|'.join(option.kind.choices)})"
        parts.append(text)
    return "options: " + ", ".join(parts)


TARGET_ACCEPT = Option("target_accept", FLOAT, 0.8, between(0, 1),
                       doc="the acceptance rate the step size is adapted to")
AUTO_TARGET_ACCEPT = Option(
    "target_accept", AUTO_FLOAT, "auto", Check("strictly between 0 and 1",
                                               lambda value: value == "auto" or 0 < value < 1),
    doc="the acceptance rate the step size is adapted to; 'auto': 0.8, raised to 0.9 where "
        "more than 3.5% of the warm-up's iterations diverge (its metric windows before the "
        "last)")
DENSE_MASS = Option("dense_mass", AUTO_BOOL, "auto",
                    doc="'auto': up to 200 dimensions dense or diagonal as the warm-up's "
                        "draws show, else diagonal")
CHAIN_METHOD = Option("chain_method", choice("parallel", "vectorized", "sequential"), None,
                      doc="by default parallel with a device per chain, else vectorized")
MCMC_INIT = Option("init", choice("auto", "laplace", "uniform", "prior"), "auto",
                   doc="where the chains start")

NUTS_OPTIONS: tuple[Option, ...] = (
    AUTO_TARGET_ACCEPT,
    Option("max_tree_depth", INT, 10, from_to(1, 30),
           doc="at most 2**max_tree_depth leapfrog steps per draw"),
    DENSE_MASS,
    CHAIN_METHOD,
    MCMC_INIT,
    Option("adaptation", choice("windowed", "low_rank"), "windowed",
           doc="'low_rank' is nutpie's diagonal plus low-rank metric (BlackJAX)"),
)
"""The options of the ``nuts`` backend."""

# A quarter period of a standardised Gaussian (see the hmc backend).
HMC_DEFAULT_TRAJECTORY_LENGTH = math.pi / 2

HMC_OPTIONS: tuple[Option, ...] = (
    # No fixed default: NumPyro stops adapting the step size when both trajectory_length and
    # num_steps are given, so the backend uses HMC_DEFAULT_TRAJECTORY_LENGTH only when
    # num_steps is not given.
    Option("trajectory_length", FLOAT, None, positive(),
           doc="the integration time per draw; pi/2 unless num_steps is given"),
    Option("num_steps", INT, None, at_least(1),
           doc="a fixed number of leapfrog steps per draw, instead of trajectory_length"),
    AUTO_TARGET_ACCEPT,
    DENSE_MASS,
    CHAIN_METHOD,
    MCMC_INIT,
)
"""The options of the ``hmc`` backend."""


__all__ = ["AUTO_BOOL", "AUTO_FLOAT", "AUTO_TARGET_ACCEPT", "BOOL", "Check", "FLOAT",
           "HMC_DEFAULT_TRAJECTORY_LENGTH", "HMC_OPTIONS", "INT", "Kind", "NUTS_OPTIONS",
           "Option", "at_least", "between", "choice", "describe_options", "from_to", "is_bool",
           "is_int", "is_number", "parse_option_items", "positive", "validate_options"]
