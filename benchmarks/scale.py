"""How cost grows with the result: products/s and memory, plain and partitioned, and Dask speed-up.

1. Parsing generated pages of the real Terrascope product (the shared fixture, 3.4 kB of JSON,
   8 files) into one frame, for 10^4, 10^5 and 10^6 products, each size in a fresh process:
   time, products/s, the frame's own memory per product, and the peak resident memory the
   parse added per product. Pages are made one at a time, as they would come off the network;
   the time counts parsing only.
2. The same products as a partitioned (Dask) frame whose partitions each make their own pages:
   peak memory stays bounded by the partition size, whatever the total. The time is the wall
   clock of the whole computation, page making included.
3. STAC frames: pages of 1,000 copies of the real 2026 Terrascope STAC item (21 kB of JSON,
   the whole item kept in the ``properties`` column for the views) decoded and built into one
   frame as a STAC search builds it, for 10^4 and 10^5 items, each size in a fresh process:
   items/s, the item's JSON size, the frame's memory per item (the target: no more than the
   JSON it came from), and the peak resident memory (the target: within 3 GiB for 10^5).
4. A partitioned search against a latency-bound local catalogue (its own process) on a
   ``LocalCluster`` of 1, 2 and 4 worker processes.

    python -m benchmarks.scale [--sizes 10000,100000,1000000] [--stac-sizes 10000,100000]
                               [--latency 0.2] [--partition-size 500] [--only opensearch,stac,dask]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from benchmarks._common import catalogue_process, table

FIXTURE = (
    Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "real" / "products_s2_fapar.json"
)
PAGE = 100

MEASURE = textwrap.dedent(
    """
    import json, resource, sys, time
    import orjson
    from benchmarks._common import shifted_copy
    from terracat.frame import FrameBuilder, features_frame
    from terracat.protocols.opensearch import OpenSearchDecoder, decode_page
    size, partitioned, fixture = int(sys.argv[1]), sys.argv[2] == "yes", sys.argv[3]
    feature = json.load(open(fixture))["features"][0]

    def pages(first, count):
        for start in range(first, first + count, 100):
            batch = []
            for number in range(start, min(first + count, start + 100)):
                batch.append(shifted_copy(feature, number))
            yield orjson.dumps({"totalResults": size, "features": batch})

    def parse(first, count):
        return features_frame([f for page in pages(first, count) for f in decode_page(page).features], decoder=OpenSearchDecoder())

    if partitioned:
        import dask, dask.dataframe
        import dask_geopandas  # noqa: F401
        step = 10_000
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        began = time.perf_counter()
        with dask.config.set({"dataframe.convert-string": False}):
            meta = parse(0, 1).iloc[:0]
            parts = [dask.delayed(parse)(first, min(step, size - first)) for first in range(0, size, step)]
            frame = dask.dataframe.from_delayed(parts, meta=meta, verify_meta=False)
            rows = int(frame.map_partitions(len).sum().compute(scheduler="threads", num_workers=2))
        seconds = time.perf_counter() - began
        frame_bytes = 0
    else:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        seconds = 0.0
        builder = FrameBuilder(decoder=OpenSearchDecoder())  # as a search builds it: page by page, folded every 10,000
        for page in pages(0, size):  # made as they are needed, like pages off the network
            began = time.perf_counter()
            builder.add(decode_page(page).features)
            seconds += time.perf_counter() - began
        began = time.perf_counter()
        frame = builder.build()
        seconds += time.perf_counter() - began
        rows = len(frame)
        frame_bytes = int(frame.memory_usage(deep=True).sum())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps({"rows": rows, "seconds": seconds, "frame_bytes": frame_bytes,
                      "added_peak_kib": peak - before, "peak_kib": peak}))
    """
)


MEASURE_STAC = textwrap.dedent(
    """
    import json, resource, sys, time
    from benchmarks._stac_server import serialised_item, template
    from terracat.frame import FrameBuilder
    from terracat.protocols.stac.page import decode_stac_page
    from terracat.protocols.stac.rows import StacDecoder
    size = int(sys.argv[1])
    source = template()
    json_bytes = 0

    def pages():
        global json_bytes
        for start in range(0, size, 1000):
            items = [serialised_item(source, n) for n in range(start, min(size, start + 1000))]
            json_bytes += sum(len(item) for item in items)
            yield b'{"type":"FeatureCollection","features":[' + b",".join(items) + b"]}"

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    seconds = 0.0
    builder = FrameBuilder(decoder=StacDecoder())  # as a STAC search builds it, page by page
    for page in pages():  # made as they are needed, like pages off the network
        began = time.perf_counter()
        builder.add(decode_stac_page(page).features)
        seconds += time.perf_counter() - began
        del page
    began = time.perf_counter()
    frame = builder.build()
    seconds += time.perf_counter() - began
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps({"rows": len(frame), "seconds": seconds, "json_bytes": json_bytes,
                      "frame_bytes": int(frame.memory_usage(deep=True).sum()),
                      "added_peak_kib": peak - before, "peak_kib": peak}))
    """
)


def stac_growth(sizes: list[int]) -> list[tuple[str, ...]]:
    rows = [
        (
            "items",
            "time",
            "items/s",
            "item JSON",
            "frame memory/item",
            "frame / JSON",
            "peak added/item",
            "peak RSS",
        )
    ]
    for size in sizes:
        answer = subprocess.run(
            [sys.executable, "-c", MEASURE_STAC, str(size)],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parents[1],
        )
        m = json.loads(answer.stdout.strip().splitlines()[-1])
        assert m["rows"] == size
        rows.append(
            (
                f"{size:,}",
                f"{m['seconds']:.1f} s",
                f"{size / m['seconds']:,.0f}",
                f"{m['json_bytes'] / size / 1024:.1f} KiB",
                f"{m['frame_bytes'] / size / 1024:.1f} KiB",
                f"{m['frame_bytes'] / m['json_bytes']:.2f}",
                f"{m['added_peak_kib'] / size:.1f} KiB",
                f"{m['peak_kib'] / 1024**2:.2f} GiB",
            )
        )
    return rows


def _measure(size: int, partitioned: bool) -> dict:
    answer = subprocess.run(
        [sys.executable, "-c", MEASURE, str(size), "yes" if partitioned else "no", str(FIXTURE)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(answer.stdout.strip().splitlines()[-1])


def growth(sizes: list[int]) -> list[tuple[str, ...]]:
    rows = [
        (
            "frame",
            "products",
            "time",
            "products/s",
            "frame memory/product",
            "peak added/product",
            "peak RSS",
        )
    ]
    for partitioned in (False, True):
        for size in sizes:
            m = _measure(size, partitioned)
            assert m["rows"] == size
            rows.append(
                (
                    "partitioned (10,000/part)" if partitioned else "plain",
                    f"{size:,}",
                    f"{m['seconds']:.1f} s",
                    f"{size / m['seconds']:,.0f}",
                    f"{m['frame_bytes'] / size / 1024:.1f} KiB" if m["frame_bytes"] else "-",
                    f"{m['added_peak_kib'] / size:.1f} KiB",
                    f"{m['peak_kib'] / 1024**2:.1f} GiB",
                )
            )
    return rows


def _warm_up() -> None:
    import terracat.dask  # noqa: F401


def speed_up(latency: float, products: int, partition_size: int) -> list[tuple[str, ...]]:
    from distributed import Client, LocalCluster

    import terracat
    import terracat.dask
    from benchmarks._common import COLLECTION

    rows = [("dask workers", "partitions", "products", "time", "speed-up")]
    with catalogue_process(products, latency=latency) as url:
        config = terracat.CatalogueConfig.from_url(url)
        config.search_workers = (
            1  # one page at a time per partition: the workers are the parallelism
        )
        catalogue = terracat.Catalogue(config)
        base = None
        for workers in (1, 2, 4):
            with (
                LocalCluster(
                    n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
                ) as cluster,
                Client(cluster) as client,
            ):
                client.run(_warm_up)  # the workers import terracat before the clock starts
                ddf = terracat.dask.search(
                    COLLECTION, catalogue=catalogue, partition_size=partition_size
                )
                began = time.perf_counter()
                count = int(ddf.map_partitions(len).sum().compute())
                seconds = time.perf_counter() - began
            assert count == products
            base = base or seconds
            rows.append(
                (
                    str(workers),
                    str(ddf.npartitions),
                    f"{count:,}",
                    f"{seconds:.2f} s",
                    f"{base / seconds:.1f}x",
                )
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--stac-sizes", default="10000,100000")
    parser.add_argument("--only", default="opensearch,stac,dask", help="sections to run")
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--search-products", type=int, default=4000)
    parser.add_argument("--partition-size", type=int, default=500)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    sections = {s.strip() for s in args.only.split(",")}
    if "opensearch" in sections:
        print(
            "Parsing generated pages of the real FAPAR product (3.4 kB, 8 files), a fresh process per row:\n"
        )
        print(table(growth(sizes)))
    if "stac" in sections:
        print(
            "\nSTAC: pages of 1,000 copies of the real 2026 Terrascope item, a fresh process per row:\n"
        )
        print(table(stac_growth([int(s) for s in args.stac_sizes.split(",")])))
    if "dask" in sections:
        print(
            f"\nPartitioned search, {args.search_products:,} products, {args.latency * 1000:.0f} ms per page:\n"
        )
        print(table(speed_up(args.latency, args.search_products, args.partition_size)))


if __name__ == "__main__":
    main()
