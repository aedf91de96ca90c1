"""The checker: every check on a parsed program, before any JAX tracing, as passes in order.

1. names and scopes (:mod:`ppl.frontend.names`): what each name is, what it depends on, an
   evaluation order; unknown names, doubly declared names, cycles;
2. types and shapes (:mod:`ppl.frontend.statements`, with :mod:`~ppl.frontend.expressions`,
   :mod:`~ppl.frontend.calls`, :mod:`~ppl.frontend.recursions` and the shared rules of
   :mod:`~ppl.frontend.shapes`): the type of every quantity and expression;
3. discrete latents (:mod:`ppl.frontend.discrete`): uses that can be summed out;
4. lints (:mod:`ppl.frontend.lint`): warnings about likely mistakes.

``check(program, source, sizes)`` returns a :class:`~ppl.frontend.symbols.CheckedModel` or
raises one :class:`ModelError` listing every independent problem found by passes 1-3.
``sizes`` holds the values of the model's integer data; without them, sizes stay symbolic
(``J``) and only what can be decided without the data is checked.
"""

from __future__ import annotations

from collections.abc import Mapping

from ppl.errors import ModelError
from ppl.frontend import ast
from ppl.frontend.discrete import discrete_use_errors
from ppl.frontend.lint import declaration_warnings, with_lint
from ppl.frontend.names import resolve_names
from ppl.frontend.statements import type_program
from ppl.frontend.symbols import CheckedModel, Symbol
from ppl.source import Source


def check(program: ast.Program, source: Source, sizes: Mapping[str, int] | None = None
          ) -> CheckedModel:
    """Check a parsed program; ``sizes`` are the values of integer scalar data, when known."""
    scope = resolve_names(program)
    typed = type_program(scope, sizes)
    errors = [*scope.errors, *typed.errors,
              *discrete_use_errors(typed.symbols, scope.factors, scope.factor_deps,
                                   typed.values)]
    if errors:
        raise ModelError(sorted(errors, key=lambda d: (d.span.line, d.span.column)), source)
    warnings = declaration_warnings(typed.symbols, scope.deps, scope.factor_deps)
    return with_lint(CheckedModel(program, source, typed.symbols,
                                  tuple(zip(scope.factors, scope.factor_deps)), warnings,
                                  tuple(scope.functions.values())))


__all__ = ["CheckedModel", "Symbol", "check"]
