"""Search speed, terracat against the reference client, in one run.

1. End to end: a catalogue of N products (real-shaped Terrascope TOC products) answering each
   page after a fixed latency, fetched whole into memory: the reference's ``get_products`` into
   a list of ``Product``, terracat's ``search`` into a GeoDataFrame (default settings both, and
   terracat with 8 pages in flight instead of 4).
2. Parsing: the same products' pages (100 products each) already in memory, decoded page by page
   into the reference's Product objects (its ``_build_product`` over ``json.loads``) and into
   terracat's full frame (as its search does: ``FrameBuilder.add`` per page, then ``build``).

    python -m benchmarks.search_speed [--products 20000] [--latency 0.02]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import orjson

import terracat
from benchmarks._common import (
    COLLECTION,
    catalogue_process,
    reference_catalogue,
    replicated_collection,
    shifted_copy,
    table,
)
from terracat.frame import FrameBuilder
from terracat.protocols.opensearch import OpenSearchDecoder, decode_page


def end_to_end(products: int, latency: float, repeat: int) -> list[tuple[str, ...]]:
    rows = []
    with catalogue_process(products, latency=latency) as url:
        config = terracat.CatalogueConfig.from_url(url)
        wider = terracat.CatalogueConfig.from_url(url)
        wider.search_workers = 8
        clients = {
            "terracat": terracat.Catalogue(config),
            "terracat, SearchWorkers=8": terracat.Catalogue(wider),
        }
        reference = reference_catalogue(url)
        timings: dict[str, list[float]] = {"reference": [], **{name: [] for name in clients}}
        for _ in range(repeat):
            began = time.perf_counter()
            listed = list(reference.get_products(COLLECTION))
            timings["reference"].append(time.perf_counter() - began)
            for name, client in clients.items():
                began = time.perf_counter()
                frame = client.search(COLLECTION)
                timings[name].append(time.perf_counter() - began)
                assert len(listed) == len(frame) == products
                assert [p.id for p in listed] == list(frame["id"])
        base = statistics.median(timings["reference"])
        for name, values in timings.items():
            seconds = statistics.median(values)
            rows.append(
                (
                    f"end to end, {latency * 1000:.0f} ms/page",
                    name,
                    f"{seconds:.2f} s",
                    f"{products / seconds:,.0f}",
                    f"{base / seconds:.1f}x",
                )
            )
    return rows


def _fixture_features(products: int) -> list[dict]:
    """The real Terrascope product of the shared fixtures, copied under new ids and footprints."""
    path = (
        Path(__file__).resolve().parents[2]
        / "shared"
        / "fixtures"
        / "real"
        / "products_s2_fapar.json"
    )
    feature = json.loads(path.read_text())["features"][0]
    return [shifted_copy(feature, number) for number in range(products)]


def parsing(products: int, repeat: int, *, real: bool) -> list[tuple[str, ...]]:
    from terracatalogueclient.client import Catalogue as Reference

    features = _fixture_features(products) if real else replicated_collection(products).products
    label = "parsing, real FAPAR product" if real else "parsing, demo TOC product"
    pages = [
        orjson.dumps(
            {
                "type": "FeatureCollection",
                "totalResults": products,
                "features": features[i : i + 100],
            }
        )
        for i in range(0, products, 100)
    ]
    timings: dict[str, list[float]] = {"reference": [], "terracat": []}
    for _ in range(repeat):
        began = time.perf_counter()
        built = [
            Reference._build_product(f) for page in pages for f in json.loads(page)["features"]
        ]
        timings["reference"].append(time.perf_counter() - began)
        del built
        began = time.perf_counter()
        builder = FrameBuilder(decoder=OpenSearchDecoder())
        for page in pages:
            builder.add(decode_page(page).features)
        frame = builder.build()
        timings["terracat"].append(time.perf_counter() - began)
        assert len(frame) == products
        del frame
    base = statistics.median(timings["reference"])
    rows = []
    for name, values in timings.items():
        seconds = statistics.median(values)
        rows.append(
            (
                label,
                name,
                f"{seconds:.2f} s",
                f"{products / seconds:,.0f}",
                f"{base / seconds:.1f}x",
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--products", type=int, default=20_000)
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows = [("benchmark", "client", "time (median)", "products/s", "speed-up")]
    rows += end_to_end(args.products, args.latency, args.repeat)
    rows += parsing(args.products, args.repeat, real=False)
    rows += parsing(args.products, args.repeat, real=True)
    print(
        f"{args.products:,} products: demo Sentinel-2 TOC (20 files, 6.7 kB of JSON each) and the "
        f"real FAPAR product of the fixtures (8 files, 3.4 kB); median of {args.repeat} runs\n"
    )
    print(table(rows))


if __name__ == "__main__":
    main()
