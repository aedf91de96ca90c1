"""Binding data to a checked program: sizes inferred, the program checked again with them,
the data validated, the graph lowered and compiled (:func:`bind_data`, :func:`compile_bound`).

:class:`ppl.Model` binds its data here; so do the workers of the data-distributed backends
(:mod:`ppl.backends.shard_worker`), which compile one shard of the data from the model's source
text and cannot import :mod:`ppl.model` (it imports the backend registry).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax.numpy as jnp

from ppl import data as data_module
from ppl.codegen.evaluate import integer_definitions
from ppl.codegen.model import CompiledModel, compile_graph
from ppl.codegen.programs import ProgramCache
from ppl.data_constraints import check_constrained_types
from ppl.frontend.check import check
from ppl.frontend.parse import parse
from ppl.frontend.symbols import CheckedModel
from ppl.ir.lower import lower
from ppl.source import Source


def declarations(checked: CheckedModel) -> dict[str, Any]:
    """The declared data of a checked program, by name."""
    return {s.name: s.data_decl for s in checked.symbols.values() if s.data_decl is not None}


def bind_data(checked: CheckedModel, values: Mapping[str, Any], *,
              allow_missing_data: bool = False) -> tuple[CheckedModel, dict, list]:
    """Check the program of ``checked`` again with the sizes of ``values`` (a mapping of data,
    labels already encoded) and validate the data: the checked program with concrete sizes,
    the data arrays and the notes on them (see :meth:`ppl.Model.bind`)."""
    source, program = checked.source, checked.program
    declared = declarations(checked)
    values = data_module.infer_sizes(declared, values, source)
    sizes = data_module.integer_sizes(declared, values, source)
    sizes.update(integer_definitions(checked.symbols, values, sizes, checked.functions))
    bound = check(program, source, sizes)
    arrays, notes = data_module.validate(bound, values, allow_missing_data=allow_missing_data)
    data_module.check_bounds(bound, arrays)
    check_constrained_types(bound.symbols, arrays, source)
    return bound, arrays, notes


class SourceModel:
    """A model rebuilt from its source text, without the :class:`ppl.Model` API: parsed and
    checked once, then :meth:`compile`-d to data of any sizes, all bindings sharing one
    :class:`~ppl.codegen.programs.ProgramCache` (data of the same shapes compile nothing)."""

    def __init__(self, source: Source, programs: ProgramCache | None = None) -> None:
        self.source = source
        self.checked = check(parse(source), source)
        self.programs = ProgramCache() if programs is None else programs

    def compile(self, values: Mapping[str, Any], dtype: Any = jnp.float64) -> CompiledModel:
        """The model bound to ``values`` (data already validated once, labels encoded)."""
        bound, arrays, _ = bind_data(self.checked, values)
        graph = lower(bound, supplied=set(arrays))
        return compile_graph(graph, arrays, dtype, {}, self.programs)


__all__ = ["SourceModel", "bind_data", "declarations"]
