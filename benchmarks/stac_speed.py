"""STAC search speed: terracat against the STAC clients people pick today, in one run (issue #17).

A neutral page server (:mod:`benchmarks._stac_server`, its own process, threaded) holds N
copies of the real 2026 Terrascope item (about 21 kB of JSON each). Each client runs in a fresh
process and is timed from its search call to a GeoDataFrame:

- ``pystac-client``: ``Client.open(url).search(collections, datetime, limit).items_as_dicts()``,
  then ``stac_geoparquet.to_geodataframe``;
- ``rustac``: ``rustac.search_sync``, then ``rustac.to_arrow`` and ``GeoDataFrame.from_arrow``;
- ``terracat``: ``Catalogue.search`` on the server with ``Protocol = stac``, plain (one page
  after another, the next fetched while the current one is parsed) and ``split=True`` (time
  windows by ``numberMatched`` counts, ``[HTTP] SearchWorkers`` of them at once).

Repetitions are interleaved (A B C A B C ...); the table gives the median, items/s, the ratio to
the faster peer, the requests each client made and how many the server saw in flight at most
(measured by the server), and the items each client got (its distinct ids, checked against the
server's). ``--sweep`` times each client once per page size (100, 250, 1,000) first.
``--breakdown`` times terracat's phases in one process: fetching the pages' bytes one after
another, decoding the pages, building the frame.

    python -m benchmarks.stac_speed [--items 20000] [--latency 0.02] [--per-item 0] [--repeat 3]
    python -m benchmarks.stac_speed --latency 0.05 --per-item 0.002   # a server-bound catalogue
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import orjson
import requests

from benchmarks._common import table
from benchmarks._stac_server import COLLECTION, SPAN, stac_server_process

ROOT = Path(__file__).resolve().parents[1]

# What each client runs, in its own process: ``URL``, ``LIMIT`` and ``ITEMS`` are set before
# it; it leaves the frame in ``frame``. Imports come before the clock starts.
PREAMBLE = textwrap.dedent(
    """
    import json, sys, time, warnings
    warnings.simplefilter("ignore")
    URL, LIMIT, ITEMS = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    COLLECTION, SPAN = {collection!r}, {span!r}
    """
)
SETUP = {
    "pystac-client": "import pystac_client, stac_geoparquet",
    "rustac": "import rustac, geopandas",
    "terracat": "import terracat",
    "terracat split=True": "import terracat",
}
SEARCH = {
    "pystac-client": (
        "client = pystac_client.Client.open(URL)\n"
        "search = client.search(collections=[COLLECTION], datetime=SPAN, limit=LIMIT)\n"
        "frame = stac_geoparquet.to_geodataframe(list(search.items_as_dicts()),"
        " dtype_backend='pyarrow')"
    ),
    "rustac": (
        "items = rustac.search_sync(URL, collections=[COLLECTION], datetime=SPAN, limit=LIMIT)\n"
        "frame = geopandas.GeoDataFrame.from_arrow(rustac.to_arrow(items))"
    ),
    "terracat": (
        "config = terracat.CatalogueConfig.from_url(URL, protocol='stac')\n"
        "config.page_size = LIMIT\n"
        "frame = terracat.Catalogue(config).search(COLLECTION, start=SPAN[:10], end=SPAN[21:31])"
    ),
    "terracat split=True": (
        "config = terracat.CatalogueConfig.from_url(URL, protocol='stac')\n"
        "config.page_size = LIMIT\n"
        "frame = terracat.Catalogue(config).search(\n"
        "    COLLECTION, start=SPAN[:10], end=SPAN[21:31], split=True)"
    ),
}
EPILOGUE = textwrap.dedent(
    """
    from benchmarks._stac_server import item_id
    ids = [str(i) for i in frame["id"]]
    expected = {item_id(n) for n in range(ITEMS)}
    print(json.dumps({"seconds": seconds, "rows": len(frame), "distinct": len(set(ids)),
                      "missing": len(expected - set(ids)), "columns": len(frame.columns)}))
    """
)
PEERS = ("pystac-client", "rustac")
MODULES = {
    "pystac-client": ("pystac_client", "stac_geoparquet"),
    "rustac": ("rustac", "arro3.core"),
    "terracat": ("terracat",),
    "terracat split=True": ("terracat",),
}
BEST_LIMIT = {"pystac-client": 1000, "rustac": 1000, "terracat": 1000, "terracat split=True": 1000}
"""The page sizes the sweep found best on this machine (100/250/1,000 tried; see the README)."""


def installed(client: str) -> bool:
    """Whether a client's modules can be imported here (the peers are the ``bench`` extra)."""
    try:
        return all(importlib.util.find_spec(name) is not None for name in MODULES[client])
    except ModuleNotFoundError:
        return False


def program(client: str) -> str:
    """The child process's program for ``client``: set up, search under the clock, count ids."""
    timed = f"began = time.perf_counter()\n{SEARCH[client]}\nseconds = time.perf_counter() - began"
    preamble = PREAMBLE.format(collection=COLLECTION, span=SPAN)
    return "\n".join([preamble, SETUP[client], timed, EPILOGUE])


@dataclass
class Run:
    seconds: float
    rows: int
    distinct: int
    missing: int
    columns: int
    searches: int
    most_in_flight: int


def run(client: str, url: str, limit: int, items: int) -> Run:
    """One search by ``client`` in a fresh process, and what the server saw of it."""
    requests.get(url + "_stats", params={"reset": "1"}, timeout=10)
    answer = subprocess.run(
        [sys.executable, "-c", program(client), url, str(limit), str(items)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=1800,
    )
    if answer.returncode != 0:
        raise RuntimeError(f"{client} failed:\n{answer.stderr[-3000:]}")
    measured = json.loads(answer.stdout.strip().splitlines()[-1])
    stats = requests.get(url + "_stats", timeout=10).json()
    return Run(**measured, searches=stats["searches"], most_in_flight=stats["most_in_flight"])


def sweep(clients: list[str], url: str, items: int) -> list[tuple[str, ...]]:
    rows = [("client", "page size", "time", "items/s", "requests")]
    for client in clients:
        for limit in (100, 250, 1000):
            r = run(client, url, limit, items)
            rows.append(
                (
                    client,
                    str(limit),
                    f"{r.seconds:.2f} s",
                    f"{items / r.seconds:,.0f}",
                    str(r.searches),
                )
            )
    return rows


def compare(
    clients: list[str], url: str, items: int, repeat: int, limits: dict[str, int]
) -> list[tuple[str, ...]]:
    runs: dict[str, list[Run]] = {client: [] for client in clients}
    for _ in range(repeat):  # interleaved: A B C A B C
        for client in clients:
            runs[client].append(run(client, url, limits[client], items))
            last = runs[client][-1]
            print(  # as it goes: a long run shows its figures before the table
                f"  {client}: {last.seconds:.2f} s, {last.distinct:,} ids, {last.missing} missing",
                file=sys.stderr,
                flush=True,
            )
    medians = {client: statistics.median(r.seconds for r in runs[client]) for client in clients}
    peers = [medians[c] for c in clients if c in PEERS]
    fastest_peer = min(peers) if peers else None
    rows = [
        (
            "client",
            "page size",
            "time (median)",
            "spread",
            "items/s",
            "vs faster peer",
            "requests",
            "most in flight",
            "items got (distinct / missing)",
            "columns",
        )
    ]
    for client in clients:
        last = runs[client][-1]
        seconds = medians[client]
        spread = [r.seconds for r in runs[client]]
        rows.append(
            (
                client,
                str(limits[client]),
                f"{seconds:.2f} s",
                f"{min(spread):.2f}-{max(spread):.2f} s",
                f"{items / seconds:,.0f}",
                f"{fastest_peer / seconds:.1f}x" if fastest_peer else "-",
                str(last.searches),
                str(max(r.most_in_flight for r in runs[client])),
                " ".join(f"{r.distinct:,}/{r.missing}" for r in runs[client]),
                str(last.columns),
            )
        )
        if any(r.rows != items or r.distinct != items or r.missing for r in runs[client]):
            rows[-1] = (*rows[-1][:-1], rows[-1][-1] + "  INCOMPLETE")
    return rows


def breakdown(url: str, limit: int) -> list[tuple[str, ...]]:
    """terracat's phases one after another in this process: fetch, decode pages, build frame."""
    import terracat
    from terracat.frame import FrameBuilder
    from terracat.protocols.stac.page import decode_stac_page
    from terracat.protocols.stac.rows import StacDecoder

    session = requests.Session()
    bodies: list[bytes] = []
    began = time.perf_counter()
    answer = session.get(
        url + "search",
        params={"collections": COLLECTION, "datetime": SPAN, "limit": str(limit)},
        timeout=60,
    )
    while True:
        bodies.append(answer.content)
        # the server writes the links after the items: read them without decoding the items
        tail = bodies[-1][bodies[-1].rindex(b'"links":') :]
        following = [link for link in orjson.loads(b"{" + tail)["links"] if link["rel"] == "next"]
        if not following:
            break
        answer = session.get(following[0]["href"], timeout=60)
    fetch = time.perf_counter() - began
    began = time.perf_counter()
    pages = [decode_stac_page(body) for body in bodies]
    decode = time.perf_counter() - began
    began = time.perf_counter()
    builder = FrameBuilder(decoder=StacDecoder(), source=url + "search")
    for page in pages:
        builder.add(page.features)
    frame = builder.build()
    build = time.perf_counter() - began
    items = len(frame)
    del frame, pages
    config = terracat.CatalogueConfig.from_url(url, protocol="stac")
    config.page_size = limit
    began = time.perf_counter()
    terracat.Catalogue(config).search(COLLECTION, start=SPAN[:10], end=SPAN[21:31])
    whole = time.perf_counter() - began
    megabytes = sum(len(b) for b in bodies) / 1e6
    return [
        ("phase (terracat, one process)", "time", "items/s", "note"),
        (
            "fetch pages (bytes, one after another)",
            f"{fetch:.2f} s",
            f"{items / fetch:,.0f}",
            f"{len(bodies)} pages, {megabytes:,.0f} MB",
        ),
        ("decode pages (decode_stac_page)", f"{decode:.2f} s", f"{items / decode:,.0f}", ""),
        ("build frame (FrameBuilder, StacDecoder)", f"{build:.2f} s", f"{items / build:,.0f}", ""),
        ("sum of the phases", f"{fetch + decode + build:.2f} s", "", ""),
        ("Catalogue.search (fetch overlapped)", f"{whole:.2f} s", f"{items / whole:,.0f}", ""),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--latency", type=float, default=0.02, help="seconds per request")
    parser.add_argument("--per-item", type=float, default=0.0, help="seconds per item returned")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--clients", default=",".join(SEARCH), help="comma-separated")
    parser.add_argument("--limit", type=int, help="one page size for every client")
    parser.add_argument(
        "--limits", default="", help="page sizes by client: 'rustac:100,terracat split=True:250'"
    )
    parser.add_argument(
        "--sweep",
        type=int,
        default=0,
        metavar="ITEMS",
        help="first try page sizes 100/250/1,000, one run each, on a server of ITEMS items",
    )
    parser.add_argument("--breakdown", action="store_true", help="time terracat's phases")
    args = parser.parse_args()
    wanted = [c.strip() for c in args.clients.split(",") if c.strip()]
    unknown = [c for c in wanted if c not in SEARCH]
    if unknown:
        parser.error(f"--clients: unknown {unknown}; known: {', '.join(SEARCH)}")
    clients = [c for c in wanted if installed(c)]
    skipped = [c for c in wanted if c not in clients]
    limits = {c: args.limit or BEST_LIMIT[c] for c in clients}
    for pair in filter(None, args.limits.split(",")):
        client, _, size = pair.rpartition(":")
        if client.strip() not in SEARCH or not size.strip().isdigit():
            parser.error(
                f"--limits: {pair!r} is not CLIENT:PAGE_SIZE; clients: {', '.join(SEARCH)}"
            )
        limits[client.strip()] = int(size)
    print(
        f"{args.items:,} copies of the real 2026 Terrascope item (21 kB of JSON each), "
        f"{args.latency * 1000:.0f} ms per request + {args.per_item * 1000:g} ms per item "
        f"returned; each client in a fresh process, median of {args.repeat} interleaved runs"
    )
    if skipped:
        print(f"not installed (pip install terracat[bench]): {', '.join(skipped)}")
    if args.sweep:
        with stac_server_process(args.sweep, latency=args.latency, per_item=args.per_item) as url:
            print(f"\nPage sizes, {args.sweep:,} items, one run each:\n")
            print(table(sweep(clients, url, args.sweep)))
    with stac_server_process(args.items, latency=args.latency, per_item=args.per_item) as url:
        print()
        print(table(compare(clients, url, args.items, args.repeat, limits)))
        if args.breakdown:
            print("\nWhere terracat's time goes:\n")
            print(table(breakdown(url, limits.get("terracat", 1000))))


if __name__ == "__main__":
    main()
