"""FrameBuilder over a decoder that is no protocol's: the builder needs only the Decoder seam."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pyarrow as pa

from terracat.frame import DecodedRows, FrameBuilder, features_frame
from terracat.frame.files import FILE_COLUMNS, FILE_LIST


@dataclass
class _Feature:
    id: str
    properties: bytes
    geometry: bytes


class _TitleDecoder:
    """Reads each product's title and cloud cover in Python; no files."""

    def __init__(self) -> None:
        self.batches: list[int] = []

    def decode(self, properties):
        self.batches.append(len(properties))
        return _Done(properties)


class _Done:
    def __init__(self, properties) -> None:
        self.properties = [bytes(p) for p in properties]

    def done(self) -> bool:
        return True

    def rows(self) -> DecodedRows:
        values = [json.loads(p) for p in self.properties]
        files = pa.table({kind: pa.array([[]] * len(values), FILE_LIST) for kind in FILE_COLUMNS})
        columns = {
            "title": [v.get("title") for v in values],
            "cloudCover": [v.get("cc") for v in values],
        }
        text = pa.array([p.decode() for p in self.properties], pa.string())
        return DecodedRows(text, columns, files, columnar=False)


def _features(count: int) -> list[_Feature]:
    point = json.dumps({"type": "Point", "coordinates": [4.5, 51.0]}).encode()
    return [
        _Feature(f"p{i}", json.dumps({"title": f"t{i}", "cc": i}).encode(), point)
        for i in range(count)
    ]


def test_a_decoder_of_any_protocol_gives_a_contract_frame():
    decoder = _TitleDecoder()
    builder = FrameBuilder(limit=7, chunk=4, batch=3, decoder=decoder)
    features = _features(10)
    for start in range(0, 10, 2):
        builder.add(features[start : start + 2])
    frame = builder.build()
    assert list(frame["id"]) == [f"p{i}" for i in range(7)]
    assert list(frame["title"]) == [f"t{i}" for i in range(7)]
    assert frame["cloudCover"].dtype == "float64"  # the contract's dtype, not the decoder's ints
    assert frame.crs.to_epsg() == 4326 and frame.geometry.iloc[0].x == 4.5
    assert all(len(files) == 0 for files in frame["data"])
    assert builder.flattened == {"arrow": 0, "general": len(decoder.batches)}
    assert sum(decoder.batches) == 10


def test_features_frame_takes_the_decoder_it_is_given():
    decoder = _TitleDecoder()
    frame = features_frame(_features(3), decoder=decoder)
    assert list(frame.columns[:2]) == ["id", "title"]  # the contract's order
    assert list(frame["title"]) == ["t0", "t1", "t2"] and decoder.batches == [3]
