"""STAC item parsing in memory: items/s into the full frame, terracat's two paths and the peers.

The real 2026 Terrascope item (``../shared/fixtures/real/stac/``, about 21 kB of JSON, 21 assets)
copied N times under distinct ids and datetimes, in pages of 1,000 as a search gets them, parsed
into a GeoDataFrame:

- terracat, general path (``StacDecoder(arrow=False)``) and fast path (``StacDecoder()``), as a
  search builds its frame: ``FrameBuilder.add`` per page of decoded items, then ``build``; the
  full column contract of issue 16. Decoding the pages (``decode_stac_page``, the paging's step,
  run before) is shown on its own line, and the fast path once more with each page decoded as it
  is added (as a search does: this is the figure of bytes in memory to frame);
- pystac-client's ``ItemCollection`` then ``stac_geoparquet.to_geodataframe``, and
  ``rustac.to_arrow`` then ``GeoDataFrame.from_arrow``, on the same items as dicts (their JSON
  decoding not counted), where importable.

Runs are interleaved, the median of several is shown; also the frame's memory per item
(``memory_usage(deep=True)``) against the item's JSON size.

    python -m benchmarks.stac_parse [--items 20000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas

from benchmarks._common import table
from terracat.frame import FrameBuilder
from terracat.protocols.stac import StacDecoder, decode_stac_page

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "real" / "stac"
PAGE = 1_000


def real_items(count: int, name: str = "search_s2_toc_2026.json") -> list[dict[str, Any]]:
    """The real item copied under distinct ids and datetimes (one second apart)."""
    document = json.loads((FIXTURES / name).read_text())
    item = document["features"][0] if "features" in document else document
    items = []
    for number in range(count):
        clone = copy.deepcopy(item)
        clone["id"] = f"{item['id']}_{number:06d}"
        seconds = number % 86_400
        stamp = f"2024-08-07T{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}Z"
        for key in ("datetime", "start_datetime", "end_datetime"):
            if key in clone["properties"]:
                clone["properties"][key] = stamp
        items.append(clone)
    return items


def pages_of(items: list[dict[str, Any]]) -> list[bytes]:
    return [
        json.dumps({"type": "FeatureCollection", "features": items[i : i + PAGE]}).encode()
        for i in range(0, len(items), PAGE)
    ]


def terracat_frame(pages: list[list[Any]], *, arrow: bool) -> geopandas.GeoDataFrame:
    builder = FrameBuilder(decoder=StacDecoder(arrow=arrow))
    for features in pages:
        builder.add(features)
    return builder.build()


def terracat_frame_from_bodies(pages: list[bytes]) -> geopandas.GeoDataFrame:
    """Each page decoded then added, as a search takes them (in-memory bytes to the frame)."""
    builder = FrameBuilder(decoder=StacDecoder())
    for body in pages:
        builder.add(decode_stac_page(body).features)
    return builder.build()


def decoded_pages(pages: list[bytes]) -> list[list[Any]]:
    return [decode_stac_page(body).features for body in pages]


def pystac_frame(items: list[dict[str, Any]]) -> Any:
    import pystac
    import stac_geoparquet

    collection = pystac.ItemCollection(items, clone_items=False)
    return stac_geoparquet.to_geodataframe(
        [item.to_dict(transform_hrefs=False) for item in collection]
    )


def rustac_frame(items: list[dict[str, Any]]) -> Any:
    import rustac

    return geopandas.GeoDataFrame.from_arrow(rustac.to_arrow(items))


def _importable(*names: str) -> bool:
    try:
        for name in names:
            __import__(name)
    except ImportError:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--peers", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args()
    items = real_items(args.items)
    pages = pages_of(items)
    features = decoded_pages(pages)
    item_bytes = sum(map(len, pages)) / args.items
    runs: dict[str, Callable[[], Any]] = {
        "terracat, general path": lambda: terracat_frame(features, arrow=False),
        "terracat, fast path": lambda: terracat_frame(features, arrow=True),
        "terracat, fast path, pages decoded too": lambda: terracat_frame_from_bodies(pages),
    }
    if args.peers and _importable("pystac", "stac_geoparquet"):
        runs["pystac ItemCollection + stac_geoparquet"] = lambda: pystac_frame(items)
    if args.peers and _importable("rustac"):
        runs["rustac.to_arrow + from_arrow"] = lambda: rustac_frame(items)
    timings: dict[str, list[float]] = {name: [] for name in runs}
    cpu: dict[str, list[float]] = {name: [] for name in runs}
    memory: dict[str, float] = {}
    page_times = []
    for _ in range(args.repeat):
        began = time.perf_counter()
        decoded_pages(pages)
        page_times.append(time.perf_counter() - began)
        for name, run in runs.items():
            began, used = time.perf_counter(), time.process_time()
            frame = run()
            timings[name].append(time.perf_counter() - began)
            cpu[name].append(time.process_time() - used)
            assert len(frame) == args.items, name
            memory[name] = frame.memory_usage(deep=True).sum() / len(frame)
    rows = [("path", "median s", "items/s", "CPU µs/item", "frame bytes/item", "JSON bytes/item")]
    for name, values in timings.items():
        seconds = statistics.median(values)
        rows.append(
            (
                name,
                f"{seconds:.3f}",
                f"{args.items / seconds:,.0f}",
                f"{statistics.median(cpu[name]) / args.items * 1e6:,.0f}",
                f"{memory[name]:,.0f}",
                f"{item_bytes:,.0f}",
            )
        )
    seconds = statistics.median(page_times)
    rows.append(
        ("(pages decoded, before)", f"{seconds:.3f}", f"{args.items / seconds:,.0f}", "", "", "")
    )
    print(f"{args.items:,} copies of the real 2026 Terrascope item, median of {args.repeat}")
    print(table(rows))


if __name__ == "__main__":
    main()
