"""The TextMate grammar of the VS Code extension (``editors/vscode/``), generated from the language.

    python -m ppl.vscode              # rewrite editors/vscode/syntaxes/ppl.tmLanguage.json
    python -m ppl.vscode --check      # exit 1 (and say so) when the committed grammar is stale
    python -m ppl.vscode --out FILE   # write somewhere else

Its word lists are those of the Pygments lexer (:mod:`ppl.lexer`): keywords and type names from
the grammar (``grammar/ppl.lark``), distribution names from :data:`ppl.library.DISTRIBUTIONS`
and function names from :data:`ppl.library.FUNCTIONS` plus each distribution's log-density
(``normal_lpdf``, ``poisson_lpmf``). A test regenerates the grammar and fails when the
committed file differs, so editor highlighting cannot drift from the language.

Scopes (standard TextMate names, so that every colour theme colours them):

- ``comment.line.number-sign.ppl``: ``# ...`` to the end of the line;
- ``keyword.other.declaration.ppl`` for ``data``/``param``, the declared name being
  ``variable.other.definition.ppl``; ``keyword.control.*`` for ``for in if then else``;
  ``keyword.other.*`` for the other keywords (``target``, ``generated``); ``function`` is
  ``storage.type.function.ppl`` and the name it defines ``entity.name.function.ppl``;
- ``storage.type.primitive.ppl`` (``int real dim vector matrix``) and
  ``storage.type.constrained.ppl`` (``simplex``, ``ordered``, ``cov_matrix``, ...);
- ``keyword.operator.sample.ppl`` for ``~``, and ``support.function.distribution.ppl`` for the
  distribution called after it; ``support.function.density.ppl`` for ``*_lpdf``/``*_lpmf``,
  ``support.function.builtin.ppl`` for library functions and ``entity.name.function.call.ppl``
  for other calls (user-defined functions); keyword arguments are ``variable.parameter.ppl``;
- ``constant.numeric.{integer,float}.ppl``, ``keyword.operator.*.ppl``, ``punctuation.*.ppl``
  and ``variable.other.ppl`` for the remaining names.

The regular expressions use only what Oniguruma (VS Code) and Python's :mod:`re` share, so the
tests can check them with Python.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ppl.lexer import DISTRIBUTION_NAMES, FUNCTION_NAMES, KEYWORDS, TYPES

SCOPE_NAME = "source.ppl"
DEFAULT_PATH = Path("editors") / "vscode" / "syntaxes" / "ppl.tmLanguage.json"

_NAME = r"[A-Za-z][A-Za-z0-9_]*"
_CALLED = r"(?=[ \t]*\()"  # a name directly followed by '(' is called, as in the Pygments lexer
_DECLARATIONS = ("data", "param")
_CONTROL = {"for": "loop", "in": "in", "if": "conditional", "then": "conditional",
            "else": "conditional"}


def _alternation(words: list[str] | tuple[str, ...]) -> str:
    """A regex group matching any of ``words`` as a whole word (longest first)."""
    ordered = sorted(set(words), key=lambda w: (-len(w), w))
    return r"\b(?:" + "|".join(ordered) + r")\b"


def _keyword_rules() -> list[dict]:
    """One rule per keyword category; a grammar keyword not known here is ``keyword.other``."""
    groups: dict[str, list[str]] = {}
    for word in KEYWORDS:
        if word in _DECLARATIONS:
            scope = "keyword.other.declaration.ppl"
        elif word == "function":
            scope = "storage.type.function.ppl"
        elif word in _CONTROL:
            scope = f"keyword.control.{_CONTROL[word]}.ppl"
        else:
            scope = f"keyword.other.{word}.ppl"
        groups.setdefault(scope, []).append(word)
    return [{"name": scope, "match": _alternation(words)} for scope, words in groups.items()]


def primitive_types() -> list[str]:
    """Type names written as word literals in the ``type`` rule of the grammar (``int``,
    ``real``, ``dim``, ``vector``, ``matrix``); the other type names (``simplex``, ...) come
    from a terminal of alternatives, ``CONSTRAINED_TYPE``, and are the constrained types."""
    from ppl.frontend.parse import lark_parser

    parser = lark_parser()
    terminals = {t.name: t for t in parser.terminals}
    return sorted({terminals[s.name].pattern.value for rule in parser.rules
                   if rule.origin.name == "type" for s in rule.expansion
                   if s.name in terminals
                   and type(terminals[s.name].pattern).__name__ == "PatternStr"} & set(TYPES))


def _type_rules() -> list[dict]:
    """Primitive and constrained type names, both from the grammar."""
    primitive = primitive_types()
    constrained = [t for t in TYPES if t not in primitive]
    rules = []
    if primitive:
        rules.append({"name": "storage.type.primitive.ppl", "match": _alternation(primitive)})
    if constrained:
        rules.append({"name": "storage.type.constrained.ppl",
                      "match": _alternation(constrained)})
    return rules


def grammar() -> dict:
    """The TextMate grammar of ppl, as the dictionary written to ``ppl.tmLanguage.json``."""
    densities = [f for f in FUNCTION_NAMES
                 if f.endswith(("_lpdf", "_lpmf", "_lcdf", "_lccdf", "_cdf"))]
    builtins = [f for f in FUNCTION_NAMES if f not in densities]
    declarations = [k for k in _DECLARATIONS if k in KEYWORDS]
    repository: dict[str, dict] = {
        "comment": {
            "name": "comment.line.number-sign.ppl",
            "match": r"(#).*$",
            "captures": {"1": {"name": "punctuation.definition.comment.ppl"}},
        },
        "line-continuation": {
            "name": "constant.character.escape.line-continuation.ppl",
            "match": r"\\(?=[ \t]*$)",
        },
        "function-definition": {
            "match": rf"\b(function)[ \t]+({_NAME})",
            "captures": {"1": {"name": "storage.type.function.ppl"},
                         "2": {"name": "entity.name.function.ppl"}},
        },
        "declaration": {
            "match": rf"\b({'|'.join(declarations)})\b[ \t]+({_NAME})",
            "captures": {"1": {"name": "keyword.other.declaration.ppl"},
                         "2": {"name": "variable.other.definition.ppl"}},
        },
        "sample": {
            "comment": "`~` and the distribution called after it",
            "match": rf"(~)(?:[ \t]*({_alternation(DISTRIBUTION_NAMES)}){_CALLED})?",
            "captures": {"1": {"name": "keyword.operator.sample.ppl"},
                         "2": {"name": "support.function.distribution.ppl"}},
        },
        "keywords": {"patterns": _keyword_rules()},
        "types": {"patterns": _type_rules()},
        "function-calls": {
            "patterns": [
                {"name": "support.function.density.ppl",
                 "match": _alternation(densities) + _CALLED},
                {"name": "support.function.builtin.ppl",
                 "match": _alternation(builtins) + _CALLED},
                {"name": "entity.name.function.call.ppl", "match": rf"\b{_NAME}{_CALLED}"},
            ],
        },
        "arguments": {
            "comment": "inside parentheses, `name =` (not `==`) is a keyword argument",
            "begin": r"\(",
            "end": r"\)",
            "beginCaptures": {"0": {"name": "punctuation.section.parens.begin.ppl"}},
            "endCaptures": {"0": {"name": "punctuation.section.parens.end.ppl"}},
            "patterns": [
                {"match": rf"\b({_NAME})[ \t]*(=)(?!=)",
                 "captures": {"1": {"name": "variable.parameter.ppl"},
                              "2": {"name": "keyword.operator.assignment.ppl"}}},
                {"include": "$self"},
            ],
        },
        "numbers": {
            "patterns": [
                {"name": "constant.numeric.float.ppl",
                 "match": r"(?<![A-Za-z0-9_.])(?:(?:\d+\.\d*|\.\d+)(?:[eE][-+]?\d+)?"
                          r"|\d+[eE][-+]?\d+)"},
                {"name": "constant.numeric.integer.ppl",
                 "match": r"(?<![A-Za-z0-9_.])\d+"},
            ],
        },
        "operators": {
            "patterns": [
                {"name": "keyword.operator.assignment.compound.ppl", "match": r"\+="},
                {"name": "keyword.operator.arithmetic.elementwise.ppl", "match": r"\.\*|\./"},
                {"name": "keyword.operator.comparison.ppl", "match": r"==|!=|<=|>=|<|>"},
                {"name": "keyword.operator.logical.ppl", "match": r"&&|\|\||!"},
                {"name": "keyword.operator.assignment.ppl", "match": r"="},
                {"name": "keyword.operator.arithmetic.ppl", "match": r"[-+*/%^]"},
                {"name": "keyword.operator.transpose.ppl", "match": r"'"},
            ],
        },
        "punctuation": {
            "patterns": [
                {"name": "punctuation.section.brackets.begin.ppl", "match": r"\["},
                {"name": "punctuation.section.brackets.end.ppl", "match": r"\]"},
                {"name": "punctuation.section.parens.end.ppl", "match": r"\)"},
                {"name": "punctuation.separator.comma.ppl", "match": r","},
                {"name": "punctuation.separator.colon.ppl", "match": r":"},
            ],
        },
        "names": {"name": "variable.other.ppl", "match": rf"\b{_NAME}"},
    }
    order = ["comment", "line-continuation", "function-definition", "declaration", "sample",
             "keywords", "types", "function-calls", "arguments", "numbers", "operators",
             "punctuation", "names"]
    return {
        "$schema": "https://raw.githubusercontent.com/martinring/tmlanguage/master/"
                   "tmlanguage.json",
        "name": "ppl",
        "scopeName": SCOPE_NAME,
        "fileTypes": ["ppl"],
        "comment": "Generated by `python -m ppl.vscode` from grammar/ppl.lark and the "
                   "registries of ppl.library: do not edit by hand.",
        "patterns": [{"include": f"#{name}"} for name in order],
        "repository": repository,
    }


def grammar_json() -> str:
    """The text of ``ppl.tmLanguage.json``: the grammar as indented JSON."""
    return json.dumps(grammar(), indent=2, ensure_ascii=False) + "\n"


def is_stale(path: str | Path = DEFAULT_PATH) -> bool:
    """Whether the grammar file at ``path`` is missing or differs from the generated one."""
    path = Path(path)
    return not path.is_file() or path.read_text(encoding="utf-8") != grammar_json()


def write(path: str | Path = DEFAULT_PATH) -> Path:
    """Write the grammar to ``path`` (creating its folder); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(grammar_json(), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    """``python -m ppl.vscode [--check] [--out FILE]``; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m ppl.vscode",
                                     description="Generate the TextMate grammar of the VS Code "
                                                 "extension from the language.")
    parser.add_argument("--out", default=str(DEFAULT_PATH),
                        help=f"grammar file to write (default: {DEFAULT_PATH})")
    parser.add_argument("--check", action="store_true",
                        help="only check that the file is up to date (exit 1 if not)")
    args = parser.parse_args(argv)
    if args.check:
        if is_stale(args.out):
            print(f"{args.out} is out of date: run `python -m ppl.vscode`", file=sys.stderr)
            return 1
        return 0
    print(f"wrote {write(args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
