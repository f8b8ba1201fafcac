"""The OpenSearch EO value syntax the catalogue accepts for numbers and dates.

``60`` exact, ``{1,2,3}`` a set, ``[a,b]`` closed, ``]a,b[`` open (and the two half-open
forms), ``[a`` / ``]a`` at least / more than, ``b]`` / ``b[`` at most / less than
(OGC 13-026r9, section 7.3). Each form becomes a predicate over a numpy column; missing values
(NaN, NaT) never match.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["Predicate", "parse_instant", "parse_interval", "parse_number"]

Predicate = Callable[[np.ndarray], np.ndarray]


def parse_number(text: str) -> float:
    value = float(text)
    if not np.isfinite(value):
        raise ValueError(f"{text!r} is not a finite number")
    return value


def parse_instant(text: str, *, end_of_day: bool = False) -> np.datetime64:
    """An ISO 8601 date or datetime as naive-UTC datetime64[ms].

    A bare date is the start of that day, or its last millisecond when it closes an interval
    (``end_of_day``): ``end=2022-03-01`` includes products of the 1st of March.
    """
    text = text.strip()
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            instant = dt.datetime.combine(day, dt.time())
            if end_of_day:
                instant += dt.timedelta(days=1, milliseconds=-1)
        else:
            instant = dt.datetime.fromisoformat(text)
            if instant.tzinfo is not None:
                instant = instant.astimezone(dt.UTC).replace(tzinfo=None)
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 date or datetime") from None
    return np.datetime64(instant, "ms")


def _compare(op: Callable[[Any, Any], Any], bound: Any) -> Predicate:
    return lambda column: op(column, bound)


def parse_interval(text: str, parse: Callable[..., Any]) -> Predicate:
    """A predicate for one value expression; ``parse`` reads one bound (``parse_number`` ...).

    ``parse`` is called with ``end_of_day=True`` for upper bounds when it accepts it, so that a
    date closes its whole day.
    """
    text = text.strip()
    if not text:
        raise ValueError("empty value")

    def upper(value: str) -> Any:
        return parse(value, end_of_day=True) if parse is parse_instant else parse(value)

    if text.startswith("{") and text.endswith("}"):
        members = [parse(v) for v in text[1:-1].split(",") if v.strip()]
        if not members:
            raise ValueError(f"{text!r} is an empty set")
        return lambda column: np.isin(column, np.array(members, dtype=column.dtype))
    opens, closes = text[0] in "[]", text[-1] in "[]"
    if opens and closes and "," in text:
        low, high = text[1:-1].split(",", 1)
        low_op = operator.ge if text[0] == "[" else operator.gt
        high_op = operator.le if text[-1] == "]" else operator.lt
        low_bound, high_bound = parse(low), upper(high)
        if low_bound > high_bound:
            raise ValueError(f"{text!r} has its lower bound above its upper bound")
        return lambda column: low_op(column, low_bound) & high_op(column, high_bound)
    if opens and "," not in text:
        return _compare(operator.ge if text[0] == "[" else operator.gt, parse(text[1:]))
    if closes and "," not in text:
        return _compare(operator.le if text[-1] == "]" else operator.lt, upper(text[:-1]))
    if "," in text or any(c in text for c in "[]{}"):
        raise ValueError(f"{text!r} is not a value, set or interval")
    if parse is parse_instant and len(text) == 10:
        start, end = parse(text), parse(text, end_of_day=True)
        return lambda column: (column >= start) & (column <= end)
    return _compare(operator.eq, parse(text))
