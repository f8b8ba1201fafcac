"""The STAC fast path's text column, made from views of the page bodies (a text short enough
lies in its view): each item's text exactly as the catalogue sent it, as on the general path."""

from __future__ import annotations

import json

from terracat.frame import FrameBuilder
from terracat.protocols.stac import StacDecoder, decode_stac_page


def _frame(bodies: list[bytes], *, arrow: bool):
    builder = FrameBuilder(decoder=StacDecoder(arrow=arrow), batch=4)
    for body in bodies:
        builder.add(decode_stac_page(body).features)
    return builder.build(), builder.flattened


def test_short_and_long_items_keep_their_texts_on_the_fast_path():
    texts = ['{"id":"a"}', '{"id":"bc"}', '{"id":"def"}', '{ "id" : "g",\n "bbox": null }']
    texts += [json.dumps({"id": f"item{n}", "properties": {"n": n}}) for n in range(6)]
    bodies = [
        ('{"features": [' + ",\n  ".join(texts[start : start + 3]) + "]}").encode()
        for start in range(0, len(texts), 3)
    ]
    fast, paths = _frame(bodies, arrow=True)
    general, _ = _frame(bodies, arrow=False)
    assert paths["arrow"] > 0
    assert list(fast["properties"]) == texts
    assert list(general["properties"]) == texts
    assert list(fast["id"]) == [json.loads(text)["id"] for text in texts]
