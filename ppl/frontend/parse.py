"""Source text -> AST, with lark. Syntax errors become located :class:`ModelError`s."""

from __future__ import annotations

import dataclasses
import hashlib
import re
from functools import lru_cache
from importlib import resources
from pathlib import Path

import lark
from lark import Token, Transformer_NonRecursive, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, VisitError

from ppl.cache_paths import cache_folder
from ppl.errors import ModelError, error
from ppl.frontend import ast
from ppl.frontend.nesting import HEAVY_LEVEL, MAX_NESTING, nesting_error, too_deep
from ppl.source import Source, Span

__all__ = ["HEAVY_LEVEL", "MAX_NESTING", "lark_parser", "parse"]

_OPENERS = {"LPAR", "LSQB"}
_CLOSERS = {"RPAR", "RSQB"}


def _grammar_text() -> str:
    """The grammar shipped in the package, or the repository's ``grammar/`` in a source tree."""
    packaged = resources.files("ppl").joinpath("grammar/ppl.lark")
    if packaged.is_file():
        return packaged.read_text()
    return (Path(__file__).resolve().parents[2] / "grammar" / "ppl.lark").read_text()


# Tokens after which a line break continues the statement: the binary operators (and the
# unary ones, and `if`/`then`/`else`), which cannot end a statement. A line that *begins* with
# a binary operator continues the one before through the grammar's _CONTINUED terminal.
_CONTINUING = frozenset({"ADD_OP", "MUL_OP", "COMPARE_OP", "LOWER_OP", "UPPER_OP", "MINUS",
                         "BANG", "CIRCUMFLEX", "IF", "THEN", "ELSE", "COMMA"})
_CONTINUING_TEXT = frozenset({"||", "&&"})


def _continues(token: Token | None) -> bool:
    """Whether a line that ends with ``token`` goes on on the next line."""
    return token is not None and (token.type in _CONTINUING or str(token) in _CONTINUING_TEXT)


class _BracketNewlines:
    """Post-lexer dropping newlines inside () and [] so that long expressions can wrap, and
    after a binary operator, which continues the statement on the next line."""

    always_accept = ("_NL",)

    def process(self, stream):
        depth = 0
        last = None
        for token in stream:
            if token.type in _OPENERS:
                depth += 1
            elif token.type in _CLOSERS:
                depth = max(0, depth - 1)
            elif token.type == "_NL" and (depth > 0 or _continues(last)):
                continue
            last = token
            yield token


@lru_cache(maxsize=1)
def lark_parser() -> lark.Lark:
    """The LALR parser of the grammar (built once; the lexer and editor support read its
    terminals too)."""
    return lark.Lark(
        _grammar_text(),
        parser="lalr",
        lexer="contextual",
        postlex=_BracketNewlines(),
        propagate_positions=True,
        maybe_placeholders=True,
        cache=_tables_file(),
    )


def _tables_file() -> str | bool:
    """Where lark keeps the parser's tables between processes (building them took 0.3 s on a
    quiet 2-core machine and 1.7 s on a loaded one; reading them back, 0.02-0.1 s): in ppl's
    own cache folder, made private to the user. Not lark's ``cache=True``, which unpickles from
    a predictable file in the shared temporary folder, where another local user could plant
    code. lark checks the grammar's hash stored in the file and rebuilds the tables when it
    differs (or when the file cannot be read)."""
    folder = cache_folder()
    if folder is None:
        return False
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError:
        return False
    key = hashlib.sha256(f"{lark.__version__}\n{_grammar_text()}".encode()).hexdigest()[:16]
    return str(folder / f"grammar-{key}.lark")


def _token_span(token: Token) -> Span:
    return Span(token.line, token.column, token.end_line, max(token.column, token.end_column - 1))


def _meta_span(meta) -> Span:
    if getattr(meta, "empty", True):
        return Span(0, 0, 0, 0)
    return Span(meta.line, meta.column, meta.end_line, max(meta.column, meta.end_column - 1))


# Integers are 64-bit once compiled; a larger literal could not become an array.
_MAX_INT = 2**63 - 1


def _number(text: str) -> float | int:
    if any(c in text for c in ".eE"):
        return float(text)
    # Python refuses to convert more than 4300 digits; any such literal is too large anyway.
    return int(text) if len(text.lstrip("0")) <= 20 else _MAX_INT + 1


def _nested(ranges: list[ast.Comprehension], span: Span) -> ast.Comprehension:
    """``for n in 1:N, k in 1:K`` as one comprehension over n whose ``inner`` is over k; the
    outermost one spans the whole ``for ...``."""
    inner = None
    for r in reversed(ranges[1:]):
        inner = dataclasses.replace(r, inner=inner)
    return dataclasses.replace(ranges[0], span=span, inner=inner)


@v_args(meta=True)
class _ToAst(Transformer_NonRecursive):
    """Parse tree -> frozen dataclasses. One method per grammar alias."""

    def start(self, meta, statements):
        return ast.Program(tuple(statements))

    # declarations -----------------------------------------------------------------------
    def data_decl(self, meta, children):
        name, type_, bounds = children
        return ast.DataDecl(str(name), type_, bounds, _meta_span(meta), _token_span(name))

    def param_decl(self, meta, children):
        name, type_, bounds = children
        return ast.ParamDecl(str(name), type_, bounds, _meta_span(meta), _token_span(name))

    def int_type(self, meta, children):
        return ast.TypeSpec("int", (), _meta_span(meta))

    def dim_type(self, meta, children):
        return ast.TypeSpec("dim", (), _meta_span(meta))

    def real_type(self, meta, children):
        return ast.TypeSpec("real", (), _meta_span(meta))

    def int_array_type(self, meta, children):
        return ast.TypeSpec("int", tuple(children[0]), _meta_span(meta))

    def real_array_type(self, meta, children):
        return ast.TypeSpec("real", tuple(children[0]), _meta_span(meta))

    def vector_type(self, meta, children):
        return ast.TypeSpec("vector", (children[0],), _meta_span(meta))

    def matrix_type(self, meta, children):
        return ast.TypeSpec("matrix", (children[0], children[1]), _meta_span(meta))

    def vector_array_type(self, meta, children):
        size, array = children
        return ast.TypeSpec("real", (*array, size), _meta_span(meta))

    def matrix_array_type(self, meta, children):
        rows, columns, array = children
        return ast.TypeSpec("real", (*array, rows, columns), _meta_span(meta))

    def constrained_array_type(self, meta, children):
        kind, size, array = children
        return ast.TypeSpec(str(kind), (size,), _meta_span(meta), tuple(array))

    def constrained_type(self, meta, children):
        return ast.TypeSpec(str(children[0]), (children[1],), _meta_span(meta))

    def conditional(self, meta, children):
        return ast.Conditional(children[0], children[1], children[2], _meta_span(meta))

    def lower_bound(self, meta, children):
        op, value = children
        return ast.Bounds(lower=value, lower_strict=str(op) == ">", span=_meta_span(meta))

    def upper_bound(self, meta, children):
        op, value = children
        return ast.Bounds(upper=value, upper_strict=str(op) == "<", span=_meta_span(meta))

    def interval(self, meta, children):
        return ast.Bounds(lower=children[0], upper=children[1], span=_meta_span(meta))

    # statements -------------------------------------------------------------------------
    def whole_lhs(self, meta, children):
        return (children[0], None)

    def indexed_lhs(self, meta, children):
        return (children[0], children[1], tuple(str(v) for v in children[2:]))

    def element_lhs(self, meta, children):
        name, number = children
        return (name, None, (), (_number(str(number)), _token_span(number)))

    def range(self, meta, children):
        var, lo, hi = children
        return ast.Comprehension(str(var), lo, hi, _meta_span(meta))

    def comprehension(self, meta, children):
        return _nested(children, _meta_span(meta))

    def sample(self, meta, children):
        (name, index_var, *inner), dist, truncation, comp = children
        element, element_span = inner[1] if len(inner) > 1 else (None, None)
        return ast.Sample(
            str(name), dist, str(index_var) if index_var else None,
            inner_vars=inner[0] if inner else (), comprehension=comp,
            span=_meta_span(meta), name_span=_token_span(name), element=element,
            element_span=element_span or Span(0, 0, 0, 0), truncation=truncation,
        )

    def annotated_sample(self, meta, children):
        name, type_, bounds, dist, truncation = children
        return ast.Sample(
            str(name), dist, type=type_, bounds=bounds,
            span=_meta_span(meta), name_span=_token_span(name), truncation=truncation,
        )

    def truncation(self, meta, children):
        lower, upper = children
        return ast.Truncation(lower, upper, _meta_span(meta))

    def define(self, meta, children):
        (name, index_var, *inner), expr, comp = children
        element, element_span = inner[1] if len(inner) > 1 else (None, None)
        return ast.Define(
            str(name), expr, str(index_var) if index_var else None,
            inner_vars=inner[0] if inner else (), comprehension=comp,
            span=_meta_span(meta), name_span=_token_span(name), element=element,
            element_span=element_span or Span(0, 0, 0, 0),
        )

    def generated(self, meta, children):
        return dataclasses.replace(children[0], generated=True, span=_meta_span(meta))

    def function_def(self, meta, children):
        name, params, returns, body = children
        return ast.FunctionDef(str(name), tuple(params or ()), returns, body, _meta_span(meta),
                               _token_span(name))

    def function_params(self, meta, children):
        return list(children)

    def function_param(self, meta, children):
        return (str(children[0]), children[1])

    def target_increment(self, meta, children):
        return ast.TargetIncrement(children[0], _meta_span(meta))

    # expressions ------------------------------------------------------------------------
    def expr_list(self, meta, children):
        return list(children)

    def number(self, meta, children):
        value = _number(str(children[0]))
        if isinstance(value, int) and value > _MAX_INT:
            raise ModelError([error(
                f"the integer {children[0]} is too large (the largest is {_MAX_INT})",
                _token_span(children[0]), "write it as a real number, e.g. 1e20")])
        return ast.Number(value, _meta_span(meta))

    def name(self, meta, children):
        return ast.Name(str(children[0]), _meta_span(meta))

    def call(self, meta, children):
        name, arguments = children
        return ast.Call(str(name), tuple(arguments or ()), _meta_span(meta), _token_span(name))

    def arguments(self, meta, children):
        return list(children)

    def positional(self, meta, children):
        return ast.Argument(children[0], None, _meta_span(meta))

    def keyword(self, meta, children):
        return ast.Argument(children[1], str(children[0]), _meta_span(meta))

    def binary(self, meta, children):
        left, op, right = children
        return ast.Binary(str(op), left, right, _meta_span(meta))

    def compare(self, meta, children):
        return self.binary(meta, children)

    def or_op(self, meta, children):
        return ast.Binary("||", children[0], children[1], _meta_span(meta))

    def and_op(self, meta, children):
        return ast.Binary("&&", children[0], children[1], _meta_span(meta))

    def pow_op(self, meta, children):
        return ast.Binary("^", children[0], children[1], _meta_span(meta))

    def neg(self, meta, children):
        return ast.Unary("-", children[0], _meta_span(meta))

    def not_op(self, meta, children):
        return ast.Unary("!", children[0], _meta_span(meta))

    def index(self, meta, children):
        base, items = children
        return ast.Index(base, tuple(items), _meta_span(meta))

    def transpose(self, meta, children):
        # x' is transpose(x): one node for both spellings, so every walker knows it.
        span = _meta_span(meta)
        tick = Span(span.end_line, span.end_column, span.end_line, span.end_column)
        operand = children[0]
        return ast.Call("transpose", (ast.Argument(operand, None, operand.span),), span, tick)

    def index_list(self, meta, children):
        return list(children)

    def single_index(self, meta, children):
        return children[0]

    def slice_index(self, meta, children):
        return ast.Slice(children[0], children[1], _meta_span(meta))

    def array_comprehension(self, meta, children):
        item, *ranges = children
        return ast.ArrayComprehension(item, _nested(ranges, _meta_span(meta)), _meta_span(meta))

    def array_literal(self, meta, children):
        return ast.ArrayLiteral(tuple(children[0]), _meta_span(meta))


# Friendly names for the tokens lark reports as expected (others are shown by their text).
_TOKEN_WORDS = {"NAME": "a name", "NUMBER": "a number", "_NL": "the end of the line",
                "$END": "the end of the file"}
_EXPRESSION_START = {"NAME", "NUMBER", "LPAR", "LSQB", "MINUS", "BANG"}
_OPERATORS = {"ADD_OP", "MUL_OP", "COMPARE_OP", "CIRCUMFLEX", "LOWER_OP", "UPPER_OP"}
_CHARACTER_HINTS = {
    ";": "statements end at the end of the line; remove the ';'",
    "{": "ppl has no blocks; write one statement per line (a map is `x[i] = ... for i in 1:N`)",
    "}": "ppl has no blocks; write one statement per line (a map is `x[i] = ... for i in 1:N`)",
}


def _describe(token: Token | None) -> str:
    if token is None or token.type == "$END":
        return "end of file"
    if token.type == "_NL":
        return "end of line"
    return f"'{token}'"


def _terminal_text(name: str) -> str | None:
    """The fixed text of a terminal ('+=', '||'), or None for a pattern such as NAME."""
    try:
        pattern = lark_parser().get_terminal(name).pattern
    except KeyError:
        return None
    return pattern.value if pattern.type == "str" else None


@lru_cache(maxsize=1)
def _expression_start() -> frozenset[str]:
    """The terminals that can start an expression, asked of the parser (what follows `x =`)."""
    interactive = lark_parser().parse_interactive("x = ")
    interactive.exhaust_lexer()
    return frozenset(interactive.accepts()) | _EXPRESSION_START


def _expected_words(names: set[str]) -> str:
    """'a name, ')' or an operator' for a set of terminal names."""
    names = set(names)
    words = []
    if {"NAME", "NUMBER"} <= names:
        words.append("an expression")
        names -= _expression_start()
    operator = bool(names & _OPERATORS) or any(_terminal_text(n) in ("||", "&&") for n in names)
    if operator:
        names = {n for n in names - _OPERATORS - {"LSQB"} if _terminal_text(n) not in ("||", "&&")}
    for name in sorted(names):
        word = _TOKEN_WORDS.get(name) or (f"'{_terminal_text(name)}'" if _terminal_text(name)
                                          else None)
        if word:
            words.append(word)
    if operator:
        words.append("an operator")
    if len(words) > 1:
        return ", ".join(words[:-1]) + " or " + words[-1]
    return words[0] if words else ""


def _open_brackets(source: Source, line: int, column: int) -> list[tuple[str, int, int]]:
    """Brackets opened and not closed before ``line:column``, as (bracket, line, column)."""
    stack: list[tuple[str, int, int]] = []
    for number, text in enumerate(source.text.split("\n")[:line], start=1):
        for col, char in enumerate(text[: column - 1] if number == line else text, start=1):
            if char == "#":
                break
            if char in "([":
                stack.append((char, number, col))
            elif char in ")]" and stack:
                stack.pop()
    return stack


def _last_code_line(source: Source, before: int) -> int:
    """The last line before line ``before`` that holds code (not blank, not only a comment)."""
    for number in range(before - 1, 0, -1):
        if source.line(number).split("#", 1)[0].strip():
            return number
    return max(1, before - 1)


def _unclosed(source: Source, line: int, column: int):
    """The diagnostic for a bracket left open before ``line:column`` (the statement then runs
    on into the next line, because newlines inside brackets are dropped), or None."""
    stack = _open_brackets(source, line, column)
    if not stack or stack[-1][1] >= line:
        return None
    char, open_line, open_column = stack[-1]
    close = ")" if char == "(" else "]"
    return error(f"this '{char}' is not closed", Span(open_line, open_column, open_line,
                                                      open_column),
                 f"add the missing '{close}', probably at the end of line "
                 f"{_last_code_line(source, line)}")


def _syntax_diagnostic(exc: UnexpectedInput, source: Source):
    line = getattr(exc, "line", 0) or 0
    column = getattr(exc, "column", 0) or 0
    if isinstance(exc, UnexpectedCharacters):
        text = source.line(line) if line else ""
        char = text[column - 1: column]
        hint = _CHARACTER_HINTS.get(char, "")
        if char == "." and ".." in text[max(0, column - 2): column + 1]:
            hint = "a range is written lo:hi, with both ends included, e.g. 1:N"
        return error(
            f"unexpected character '{char}'",
            Span(line, column, line, column),
            hint or "remove it; names start with a letter and use letters, digits and '_' only",
        )
    token = getattr(exc, "token", None)
    if isinstance(exc, UnexpectedEOF) or token is None or token.type == "$END":
        lines = source.text.rstrip().split("\n")
        last = len(lines)
        col = max(1, len(lines[-1]))
        unclosed = _unclosed(source, last + 1, 1)
        if unclosed is not None:
            return unclosed
        return error(
            "the model ends in the middle of a statement",
            Span(last, col, last, col),
            "complete the statement (a bracket or an argument may be missing)",
        )
    accepts = set(getattr(exc, "accepts", None) or getattr(exc, "expected", set()) or ())
    span = _token_span(token) if token.line else Span(line, column, line, column)
    text = source.line(span.line)
    if token.type not in ("RPAR", "RSQB") and not text[: span.column - 1].strip():
        unclosed = _unclosed(source, span.line, span.column)
        if unclosed is not None:
            return unclosed
    what = _describe(token)
    if str(token) == "<" and text[span.column: span.column + 1] == "-":
        what, span = "'<-'", Span(span.line, span.column, span.line, span.column + 1)
    elif str(token) == "*" and text[span.column - 2: span.column - 1] == "*":
        what, span = "'**'", Span(span.line, span.column - 1, span.line, span.column)
    hint = _hint_for(token, accepts, source, what) or _continued_hint(source, span.line)
    if not hint and accepts:
        hint = f"expected {_expected_words(accepts)} here"
    return error(f"unexpected {what}", span, hint)


_TRAILING_OPERATOR = re.compile(
    r"(\|\||&&|==|!=|<=|>=|\.\*|\./|[-+*/%^<>!]|\b(?:if|then|else))$")


def _continued_hint(source: Source, line: int) -> str:
    """When the code line before ``line`` ends with an operator, that statement went on into
    this line (an operator at the end of a line continues it): say so, since the error on
    this line is then a consequence."""
    before = _last_code_line(source, line)
    if before >= line or _open_brackets(source, line, 1):
        return ""
    code = source.line(before).split("#", 1)[0].rstrip()
    match = _TRAILING_OPERATOR.search(code)
    if match is None:
        return ""
    return (f"line {before} ends with '{match.group(1)}', so its statement continues on this "
            f"line; complete the expression on line {before}, or remove the '{match.group(1)}'")


def _hint_for(token: Token, expected: set[str], source: Source, what: str) -> str:
    """Hints for the mistakes people coming from Stan, R or Python make most often."""
    if what == "'<-'":
        return "use '=' for a definition and '~' for a distribution"
    if what == "'**'":
        return "write powers with '^'"
    if token.type in ("RPAR", "RSQB") and not _open_brackets(source, token.line, token.column):
        return f"there is no opening bracket for this '{token}'; remove it"
    if token.type == "_NL" and "RPAR" in expected:
        return "a ')' is missing before the end of the line"
    if token.type == "_NL" and "RSQB" in expected:
        return "a ']' is missing before the end of the line"
    if token.type == "EQUAL" and "TILDE" in expected:
        return "use '~' to give a distribution, or '=' on its own line for a definition"
    if token.type in _EXPRESSION_START and "COMMA" in expected:
        return "a ',' or an operator is missing before this"
    if expected == {"NAME"} and source.line(token.line)[: token.column - 1].rstrip().endswith("~"):
        return "the right of '~' is a distribution, such as normal(0, 1)"
    return ""


def parse(source: Source) -> ast.Program:
    """Parse ``source`` into a :class:`Program`; raises :class:`ModelError` on a syntax error
    or an expression nested deeper than :data:`MAX_NESTING`."""
    text = source.text if source.text.endswith("\n") else source.text + "\n"
    try:
        tree = lark_parser().parse(text)
    except UnexpectedInput as exc:
        raise ModelError([_syntax_diagnostic(exc, source)], source) from None
    try:
        program = _ToAst().transform(tree)
    except VisitError as exc:
        if isinstance(exc.orig_exc, ModelError):
            raise exc.orig_exc.with_source(source) from None
        raise
    deep = too_deep(program)
    if deep is not None:
        raise ModelError([nesting_error(deep)], source)
    return program
