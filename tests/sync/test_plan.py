"""The per-product decisions of a sync, over every shape of record (hypothesis)."""

from __future__ import annotations

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from terracat.mirroring.plan import (
    COMPLETE,
    FAILED,
    GONE,
    PENDING,
    Record,
    SyncedFile,
    plan_product,
)

INSTANTS = st.sampled_from(
    [None, pd.NaT, pd.Timestamp("2026-01-01T00:00:00Z"), pd.Timestamp("2026-02-01T00:00:00Z")]
)
FILES = st.builds(
    SyncedFile,
    kind=st.sampled_from(["data", "related"]),
    href=st.sampled_from(["http://a/x", "http://b/x", "http://a/y"]),
    length=st.sampled_from([None, 10, 11]),
    path=st.sampled_from(["p/a.tif", "p/b.tif", "p/c.xml"]),
    checksum=st.sampled_from([None, "1220aa", "1220bb"]),
)
RECORDS = st.builds(
    Record,
    status=st.sampled_from([COMPLETE, PENDING, FAILED, GONE]),
    updated=INSTANTS,
    files=st.lists(FILES, max_size=4, unique_by=lambda f: f.path).map(tuple),
)


def _same(a, b) -> bool:
    return ((a is None or a != a) and (b is None or b != b)) or (a == a and b == b and a == b)


@given(RECORDS)
def test_a_product_never_recorded_is_fetched_and_nothing_is_taken_away(new):
    plan = plan_product(None, new)
    assert (plan.action, plan.take_away, plan.fetch) == ("new", (), True)


@given(RECORDS, RECORDS)
def test_a_complete_product_of_the_same_version_and_files_costs_nothing(old, new):
    plan = plan_product(old, new)
    unchanged = (
        old.status == COMPLETE
        and _same(old.updated, new.updated)
        and {(f.kind, f.path, f.length, f.checksum) for f in old.files}
        == {(f.kind, f.path, f.length, f.checksum) for f in new.files}
    )
    assert (plan.action == "unchanged") == unchanged
    assert plan.fetch is not unchanged
    if unchanged:
        assert plan.take_away == ()


@given(RECORDS, RECORDS)
def test_only_old_files_are_taken_away_and_every_one_not_provably_the_same(old, new):
    plan = plan_product(old, new)
    old_paths = {f.path for f in old.files}
    assert set(plan.take_away) <= old_paths
    if not plan.fetch:
        return
    by_path = {f.path: f for f in new.files}
    for file in old.files:
        twin = by_path.get(file.path)
        provable = (
            twin is not None
            and file.length is not None
            and file.length == twin.length
            and (
                file.checksum == twin.checksum
                if file.checksum is not None and twin.checksum is not None
                else _same(old.updated, new.updated)
            )
        )
        # a file stays only when its bytes are provably the new version's; the rest go first,
        # so that a complete file found on disk later is never of the old version
        assert (file.path in plan.take_away) is not provable, (file, twin)


@given(RECORDS)
def test_a_file_whose_checksum_changed_is_always_taken_away(old):
    changed = tuple(
        SyncedFile(f.kind, f.href, f.length, f.path, "1220ff") if f.checksum else f
        for f in old.files
    )
    plan = plan_product(old, Record(PENDING, old.updated, changed))
    for file in old.files:
        if file.checksum:
            assert file.path in plan.take_away
