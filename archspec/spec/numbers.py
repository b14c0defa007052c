"""One reader for every number a user writes: spec fields (YAML and ``--set``), space ranges
and budgets, and the CLI's sizes, counts and ``COLUMNS``.

Why one: Python's own readers disagree at the edges, and every disagreement was a bug on some
path. ``"²".isdigit()`` is True and ``int("²")`` fails; ``int()`` refuses 5,000 digits with
a ValueError about a limit the user never set; ``float("1e999999999")`` is ``inf`` and
``int(inf)`` an OverflowError; ``Decimal`` raises ``decimal.Overflow``; YAML 1.1 reads ``010``
as octal 8 where YAML 1.2 (and every editor's YAML server) reads 10. Here:

- only ASCII digits are digits;
- integers are YAML 1.2's: decimal (leading zeros allowed, ``010`` is 10), ``0o17``, ``0x1F``;
- a number longer than :data:`MAX_DIGITS` digits, or a float beyond float64, is refused with
  one message (:func:`out_of_range`);
- NaN and infinity are refused unless the caller allows them (spec models refuse them too:
  ``allow_inf_nan=False`` in :class:`archspec.spec.base.StrictModel`).
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, localcontext

from .errors import shown

MAX_DIGITS = 30  # more than any count, size or width archspec takes (params are capped at 1e10)
DECIMAL_INT = re.compile(r"[-+]?[0-9]+")
OCTAL_INT = re.compile(r"0o[0-7]+")
HEX_INT = re.compile(r"0x[0-9a-fA-F]+")
FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
NON_FINITE = re.compile(r"[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)")
# A decimal number with an optional SI suffix: 1.5M, 600M, 2G, 1e6, 250000.
COUNT = re.compile(r"([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([KMGTkmgt]?)")
SI = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}


class NumberError(ValueError):
    """A number that cannot be read; the message says what is allowed."""


def out_of_range(text: str) -> str:
    return (f"{shown(text)} is out of range: numbers may have at most {MAX_DIGITS} digits before the "
            "decimal point and must be finite")


def parse_int(text: str, what: str = "a whole number") -> int:
    """A decimal integer of ASCII digits (``"²"`` and ``"٣"`` are not), at most :data:`MAX_DIGITS` long."""
    stripped = text.strip()
    if not DECIMAL_INT.fullmatch(stripped):
        raise NumberError(f"expected {what}, got {shown(text)}")
    if len(stripped.lstrip("+-").lstrip("0")) > MAX_DIGITS:
        raise NumberError(out_of_range(text))
    return int(stripped, 10)


def parse_float(text: str, allow_nonfinite: bool = False, what: str = "a number") -> float:
    """A decimal float (``0.5``, ``1e-5``, ``.5``); ``.inf``/``.nan`` only with ``allow_nonfinite``."""
    stripped = text.strip()
    if NON_FINITE.fullmatch(stripped) or stripped.lower().lstrip("+-") in ("inf", "infinity", "nan"):
        if allow_nonfinite:
            return float(stripped.replace(".", "", 1))
        raise NumberError(f"{shown(text)} is not finite; give a finite number")
    if not FLOAT.fullmatch(stripped):
        raise NumberError(f"expected {what}, got {shown(text)}")
    return _finite(stripped)


def _finite(text: str) -> float:
    mantissa = re.split(r"[eE]", text)[0].lstrip("+-").split(".")[0].lstrip("0")
    if len(mantissa) > MAX_DIGITS:
        raise NumberError(out_of_range(text))
    value = float(text)  # never raises for FLOAT's syntax; 1e999999999 is inf
    if not math.isfinite(value):
        raise NumberError(out_of_range(text))
    return value


def yaml12_number(text: str) -> int | float | None:
    """A plain YAML scalar read as YAML 1.2's core schema reads numbers; None: not a number
    there (``1_000``, ``0b101``, ``1:30`` are strings in YAML 1.2, numbers in 1.1), so the
    caller keeps the text. Non-finite ``.inf``/``.nan`` are returned as floats: the field's
    model decides. Over-range numbers raise :class:`NumberError`."""
    if DECIMAL_INT.fullmatch(text):
        return parse_int(text)
    for pattern, base in ((OCTAL_INT, 8), (HEX_INT, 16)):
        if pattern.fullmatch(text):
            if len(text) - 2 > MAX_DIGITS:
                raise NumberError(out_of_range(text))
            return int(text[2:], base)
    if FLOAT.fullmatch(text):
        return _finite(text)
    if NON_FINITE.fullmatch(text):
        return parse_float(text, allow_nonfinite=True)
    return None


def parse_count(text: str, what: str = "a count") -> int:
    """``1.5M`` -> 1500000, ``2G``, ``1e6``, ``250000``: an exact whole number, or NumberError."""
    match = COUNT.fullmatch(text.strip())
    if not match:
        raise NumberError(f"{shown(text)} is not {what}: write a number with an optional K, M, G or T suffix, "
                          "e.g. 1.5M or 1e6")
    number, suffix = match.groups()
    mantissa, _, exponent = number.lower().partition("e")
    whole = mantissa.split(".")[0].lstrip("0")
    if len(whole) > MAX_DIGITS or (exponent and len(whole) + int(exponent[:MAX_DIGITS]) > MAX_DIGITS) \
            or len(exponent.lstrip("+-")) > 4:
        raise NumberError(out_of_range(text))
    with localcontext() as context:
        context.prec = 2 * MAX_DIGITS + 20  # exact: the default 28 digits would round a 30-digit count
        exact = Decimal(number) * SI[suffix.upper()]
    if exact != exact.to_integral_value():
        raise NumberError(f"{shown(text)} is not a whole number")
    return int(exact)
