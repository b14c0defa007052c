"""Safe arithmetic for block files: parsed with :mod:`ast`, walked over a whitelist, never ``eval``'d.

A block file (spec/user_blocks.py) derives its widths and conditions from its parameters
and the unit's context with expressions such as ``floor(width * base_width / 64)`` or
``stride > 1 or in_channels != out``. Whatever a user writes, nothing is executed: the text
is parsed to a syntax tree and only these nodes are accepted, each evaluated here:

- integer, float and boolean constants, short strings (to compare a ``choice`` parameter with);
  names (parameters, ``let`` values, the unit's context);
- ``+ - * / // %``, unary ``-`` and ``+``, comparisons, ``and or not``, ``a if c else b``;
- calls of ``round floor ceil min max make_divisible`` (positional arguments only).

No ``**``, attributes, subscripts, strings, lambdas or other calls exist, so an expression
cannot reach Python objects, and every value is bounded by :data:`MAX_VALUE` (each step is
checked), so none can hang or exhaust memory. Problems are :class:`ExprError` with the
column in the expression where the offending part starts.
"""

from __future__ import annotations

import ast
import math
import operator
from typing import Any, Callable, Mapping

MAX_VALUE = 2**31  # |every intermediate value| stays within this
MAX_LENGTH = 500  # characters of one expression
Value = int | float | bool


class ExprError(ValueError):
    """An expression that cannot be parsed or evaluated; ``column`` (0-based) where its cause starts."""

    def __init__(self, message: str, column: int = 0):
        super().__init__(message)
        self.message = message
        self.column = column


def make_divisible(value: float, divisor: int, min_value: int | None = None) -> int:
    """torchvision's and timm's rounding of a width to a multiple of ``divisor``, never more than
    10% below ``value``."""
    if divisor <= 0:
        raise ExprError(f"make_divisible needs a positive divisor, got {divisor}")
    new = max(min_value or divisor, int(value + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * value else new


def _floor(x: float) -> int:
    return math.floor(x)


def _ceil(x: float) -> int:
    return math.ceil(x)


FUNCTIONS: dict[str, tuple[Callable[..., Value], int, int]] = {  # name -> (function, fewest, most arguments)
    "round": (round, 1, 1), "floor": (_floor, 1, 1), "ceil": (_ceil, 1, 1),
    "min": (min, 2, 8), "max": (max, 2, 8), "make_divisible": (make_divisible, 2, 3),
}
_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
}
_COMPARE: dict[type, Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge,
}
_SYMBOL = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%",
           ast.Pow: "**", ast.MatMult: "@", ast.BitAnd: "&", ast.BitOr: "|", ast.BitXor: "^",
           ast.LShift: "<<", ast.RShift: ">>"}
ALLOWED = "numbers, names, + - * / // %, comparisons, and/or/not, `a if c else b`, and " + \
          ", ".join(FUNCTIONS)


def parse(text: str) -> ast.expr:
    """The checked syntax tree of ``text``; :class:`ExprError` for anything outside the whitelist."""
    if len(text) > MAX_LENGTH:
        raise ExprError(f"an expression is at most {MAX_LENGTH} characters (this one has {len(text):,})")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExprError(f"not an expression: {exc.msg}", max((exc.offset or 1) - 1, 0)) from None
    _check(tree.body)
    return tree.body


def _check(node: ast.AST) -> None:
    col = getattr(node, "col_offset", 0)
    if isinstance(node, ast.Constant):
        if isinstance(node.value, str) and len(node.value) <= 64:
            return  # a `choice` parameter's value, for comparisons (arithmetic on text is refused)
        if type(node.value) not in (int, float, bool):
            raise ExprError(f"{type(node.value).__name__} constants are not allowed; use {ALLOWED}", col)
        if abs(node.value) > MAX_VALUE:
            raise ExprError(f"the number {node.value:.6g} exceeds the bound 2**31", col)
        return
    if isinstance(node, ast.Name):
        return
    if isinstance(node, ast.BinOp):
        if type(node.op) not in _BINARY:
            raise ExprError(f"the operator `{_SYMBOL.get(type(node.op), '?')}` is not allowed; use {ALLOWED}", col)
        children: list[ast.AST] = [node.left, node.right]
    elif isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, (ast.USub, ast.UAdd, ast.Not)):
            raise ExprError(f"the operator `~` is not allowed; use {ALLOWED}", col)
        children = [node.operand]
    elif isinstance(node, ast.BoolOp):
        children = list(node.values)
    elif isinstance(node, ast.Compare):
        bad = [op for op in node.ops if type(op) not in _COMPARE]
        if bad:
            raise ExprError(f"`{type(bad[0]).__name__}` comparisons are not allowed; use == != < <= > >=", col)
        children = [node.left, *node.comparators]
    elif isinstance(node, ast.IfExp):
        children = [node.test, node.body, node.orelse]
    elif isinstance(node, ast.Call):
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name not in FUNCTIONS:
            shown = name if name is not None else ast.unparse(node.func)[:40]
            raise ExprError(f"calling `{shown}` is not allowed: the functions are {', '.join(FUNCTIONS)}", col)
        if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            raise ExprError(f"`{name}` takes positional arguments only", col)
        _, low, high = FUNCTIONS[name]
        if not low <= len(node.args) <= high:
            want = str(low) if low == high else f"{low} to {high}"
            raise ExprError(f"`{name}` takes {want} arguments, not {len(node.args)}", col)
        children = list(node.args)
    else:
        raise ExprError(f"{_describe(node)} is not allowed in an expression; use {ALLOWED}", col)
    for child in children:
        _check(child)


def _describe(node: ast.AST) -> str:
    return {ast.Attribute: "an attribute (`a.b`)", ast.Subscript: "indexing (`a[b]`)", ast.Lambda: "a lambda",
            ast.List: "a list", ast.Tuple: "a tuple", ast.Dict: "a dict", ast.JoinedStr: "an f-string",
            ast.NamedExpr: "`:=`", ast.Starred: "`*`"}.get(type(node), f"`{type(node).__name__}`")


def names(tree: ast.expr) -> list[tuple[str, int]]:
    """The names an expression reads, with their columns, in order."""
    called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    return [(n.id, n.col_offset) for n in ast.walk(tree) if isinstance(n, ast.Name) and id(n) not in called]


def evaluate(tree: ast.expr, env: Mapping[str, Value]) -> Value:
    """The value of a checked tree with the names of ``env``; every step bounded by :data:`MAX_VALUE`."""
    col = getattr(tree, "col_offset", 0)
    if isinstance(tree, ast.Constant):
        return tree.value
    if isinstance(tree, ast.Name):
        if tree.id not in env:
            raise ExprError(f"unknown name `{tree.id}`", col)
        return env[tree.id]
    if isinstance(tree, ast.BoolOp):
        result: Value = True if isinstance(tree.op, ast.And) else False
        for value in tree.values:
            result = evaluate(value, env)
            if isinstance(tree.op, ast.And) != bool(result):
                return result
        return result
    if isinstance(tree, ast.UnaryOp):
        operand = evaluate(tree.operand, env)
        if isinstance(tree.op, ast.Not):
            return not operand
        if isinstance(operand, str):
            raise ExprError("arithmetic on text: only comparisons (`mode == 'wide'`) read a choice", col)
        return _bounded(-operand if isinstance(tree.op, ast.USub) else +operand, col)
    if isinstance(tree, ast.IfExp):
        return evaluate(tree.body if evaluate(tree.test, env) else tree.orelse, env)
    if isinstance(tree, ast.Compare):
        left = evaluate(tree.left, env)
        for op, right_tree in zip(tree.ops, tree.comparators):
            right = evaluate(right_tree, env)
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(tree, ast.BinOp):
        left, right = evaluate(tree.left, env), evaluate(tree.right, env)
        if isinstance(left, str) or isinstance(right, str):
            raise ExprError("arithmetic on text: only comparisons (`mode == 'wide'`) read a choice", col)
        if isinstance(tree.op, (ast.Div, ast.FloorDiv, ast.Mod)) and right == 0:
            raise ExprError(f"division by zero (`{ast.unparse(tree)[:60]}` divides by 0)", col)
        return _bounded(_BINARY[type(tree.op)](left, right), col)
    if isinstance(tree, ast.Call):
        fn = FUNCTIONS[tree.func.id][0]  # type: ignore[attr-defined]
        args = [evaluate(a, env) for a in tree.args]
        if any(isinstance(a, str) for a in args):
            raise ExprError(f"`{tree.func.id}` of text: only comparisons read a choice", col)  # type: ignore[attr-defined]
        if tree.func.id in ("floor", "ceil", "round") and isinstance(args[0], bool):  # type: ignore[attr-defined]
            args[0] = int(args[0])
        return _bounded(fn(*args), col)
    raise ExprError(f"{_describe(tree)} is not allowed", col)  # parse() refused it already


def _bounded(value: Value, col: int) -> Value:
    if isinstance(value, float) and not math.isfinite(value) or abs(value) > MAX_VALUE:  # numbers only here
        raise ExprError(f"a value exceeds the bound 2**31 ({float(value):.4g})", col)
    return value
