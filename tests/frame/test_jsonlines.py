"""JSON texts as Arrow arrays (terracat.frame.jsonlines): views over the texts where they lie,
joined back to back by Arrow, whatever their length and whatever holds them."""

from __future__ import annotations

import json

import msgspec
import pyarrow as pa
import pytest

from terracat.frame.jsonlines import read_objects, text_views, texts_joined


class _Page(msgspec.Struct):
    features: list[msgspec.Raw]


def _raw_items(texts: list[str]) -> list[msgspec.Raw]:
    """The texts as msgspec keeps them: slices of one page body, separated by ``, ``."""
    body = ('{"features": [' + ", ".join(texts) + "]}").encode()
    return msgspec.json.decode(body, type=_Page).features


@pytest.mark.parametrize(
    "texts",
    [
        ["{}"],  # short texts lie in the view itself
        ['{"id":"a1"}', '{"id":"ab1"}', '{"id":"abc1"}'],  # 11, 12 and 13 bytes
        ['{"id": "x", "text": "' + "é" * 40 + '"}', "{}", '{"n": [1, 2, {"m": null}]}'],
        [],
    ],
)
def test_views_and_the_joined_texts_hold_each_text_exactly(texts):
    for items in (_raw_items(texts), [text.encode() for text in texts]):
        views = text_views(items)
        views.validate(full=True)
        assert views.type == pa.string_view()
        assert views.to_pylist() == texts
        joined = texts_joined(views)
        assert joined.type == pa.string()
        assert joined.to_pylist() == texts
        assert joined.buffers()[2].to_pybytes()[: sum(map(len, items))] == "".join(texts).encode()


def test_the_joined_texts_are_what_arrows_reader_reads():
    texts = [json.dumps({"id": f"item {n}", "n": n}) for n in range(50)] + ['{"id":"x"}']
    joined = texts_joined(text_views(_raw_items(texts)))
    schema = pa.schema([("id", pa.string())])
    table = read_objects(
        joined.buffers()[2], schema, len(texts), unexpected="ignore", block_size=1 << 20
    )
    assert table is not None
    assert table["id"].to_pylist() == [json.loads(text)["id"] for text in texts]
