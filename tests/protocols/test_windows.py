"""Time windows by counts, against a model catalogue: items with acquisition intervals, counted
by overlap with a closed window as both protocols' time filters select them."""

from __future__ import annotations

import datetime as dt
from itertools import pairwise

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from terracat import TooManyResultsException
from terracat.protocols.windows import Span, owned, split_by_counts

BEGIN = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
DAYS = 30
WHOLE = Span(BEGIN, BEGIN + dt.timedelta(days=DAYS), None, None)


def seconds(instant: dt.datetime) -> float:
    return (instant - BEGIN).total_seconds()


class Model:
    """A catalogue of items ``(start, end)`` in seconds after BEGIN, counting each request."""

    def __init__(self, items: list[tuple[int, int]]) -> None:
        self.items = items
        self.requests = 0

    def count(self, span: Span) -> int:
        self.requests += 1
        low = -float("inf") if span.low_text is None else seconds(span.low)
        high = float("inf") if span.high_text is None else seconds(span.high)
        return sum(start <= high and end >= low for start, end in self.items)


items = st.lists(
    st.tuples(st.integers(0, DAYS * 86_400 - 1), st.integers(0, 3 * 86_400)).map(
        lambda pair: (pair[0], pair[0] + pair[1])
    ),
    max_size=300,
)


@settings(deadline=None)
@given(found=items, most=st.integers(20, 200), told=st.booleans())
def test_windows_fit_and_every_item_belongs_to_exactly_one(found, most, told):
    model = Model(found)
    total = model.count(WHOLE) if told else None
    try:
        windows = split_by_counts(WHOLE, model.count, most, total=total)
    except TooManyResultsException:
        # only when more items than a window may hold overlap two seconds: the smallest
        # window halving makes, and the one around an instant that too many items span
        instants = {t - shift for start, end in found for t in (start, end) for shift in (0, 1, 2)}
        assert max(sum(s <= t + 2 and e >= t for s, e in found) for t in instants) > most
        return
    assert all(0 < held <= most for _, held in windows)
    assert all(model.count(span) == held for span, held in windows)
    lows = [span.low for span, _ in windows]
    assert lows == sorted(lows)
    assert all(a.high <= b.low for (a, _), (b, _) in pairwise(windows))
    begins = pd.Series([BEGIN + dt.timedelta(seconds=start) for start, _ in found], dtype=object)
    owners = [0] * len(found)
    for number, (span, _) in enumerate(windows):
        low = None if number == 0 else span.low
        high = None if number == len(windows) - 1 else span.high
        for position, flag in enumerate(owned(begins, low, high)):
            owners[position] += bool(flag)
    assert owners == [1] * len(found)


def test_a_count_already_known_saves_the_first_round():
    """Eight windows needed: three rounds of halving after the whole's count, or without it when
    the first page told it."""
    found = [(second, second) for second in range(1_800, DAYS * 86_400, 3_600)]  # one an hour
    rounds = []

    def counted(count, spans):
        rounds.append(len(spans))
        return map(count, spans)

    model = Model(found)
    halved = split_by_counts(WHOLE, model.count, len(found) // 8, counted)
    assert (rounds, len(halved)) == ([1, 2, 4, 8], 8)
    rounds.clear()
    told = split_by_counts(WHOLE, model.count, len(found) // 8, counted, total=len(found))
    assert (rounds, told) == ([2, 4, 8], halved)


def test_a_catalogue_ignoring_the_time_filter_is_refused_at_the_first_cut():
    requests = []

    def same(span: Span) -> int:
        requests.append(span)
        return 5_000

    with pytest.raises(TooManyResultsException, match="does not divide"):
        split_by_counts(WHOLE, same, 1_000, total=5_000)
    assert len(requests) == 2
