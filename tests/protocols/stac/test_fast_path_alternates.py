"""The fast path reads the assets' alternate hrefs only for ``href_mode="MEP"``: without them,
an ill-typed ``alternate`` (which the general path cleans away) still gives the same frame."""

from __future__ import annotations

from tests.protocols.stac.test_fast_path import _assert_same_frames, _built, _copies, _real_2026


def _with_odd_alternates() -> list[dict]:
    items = _copies([_real_2026()], 8)
    for item in items[4:]:
        for asset in item["assets"].values():
            asset["alternate"] = "not an object"
    return items


def test_an_ill_typed_alternate_keeps_the_fast_path_when_no_local_href_is_read():
    assert _assert_same_frames(_with_odd_alternates()) == {"arrow": 2, "general": 0}


def test_an_ill_typed_alternate_goes_the_general_path_when_local_hrefs_are_read():
    paths = _assert_same_frames(_with_odd_alternates(), "MEP")
    assert paths == {"arrow": 1, "general": 1}
    local, _ = _built(_copies([_real_2026()], 4), arrow=True, href_mode="MEP")
    assert local["data"][0][0]["href"].startswith("file:///data/")
