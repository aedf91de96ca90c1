"""Counting what JAX compiles: the tests that data are arguments of the compiled programs
(a second fit with new data of the same shapes compiles nothing) read JAX's own log."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import jax

# jax.log_compiles logs this line for every program handed to XLA, also when the executable
# then comes from the persistent compilation cache, so a program traced again is counted
# even where its compilation is cheap.
COMPILED = "Finished XLA compilation"


class _Compilations(logging.Handler):
    def __init__(self, into: list[str]) -> None:
        super().__init__(logging.DEBUG)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith(COMPILED):
            self.into.append(message)


@contextmanager
def compilations() -> Iterator[list[str]]:
    """``with compilations() as compiled:``: the log line of every program compiled in the
    block, in ``compiled``."""
    found: list[str] = []
    handler = _Compilations(found)
    logger = logging.getLogger("jax")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        with jax.log_compiles(True):
            yield found
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
