"""``terracat demo``: the main job end to end, offline, on the embedded local catalogue."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import click
import geopandas

import terracat
from terracat.server import LocalCatalogue

__all__ = ["run_demo"]

COLLECTION = "urn:eop:VITO:TERRASCOPE_S2_NDVI_V2"
BRUSSELS_AREA = [4.1, 50.0, 5.5, 51.0]


def _step(text: str) -> None:
    click.secho(f"\n> {text}", bold=True)


def _table(frame: geopandas.GeoDataFrame, columns: list[str], rows: int) -> None:
    """The first ``rows`` rows, saying so when they are only a part of the frame."""
    click.echo(frame[columns].head(rows).to_string(index=False))
    if len(frame) > rows:
        click.echo(f"  ({rows} of {len(frame)} rows shown)")


def _maps(df: geopandas.GeoDataFrame, out: Path) -> None:
    """The footprints coloured by cloud cover: interactive HTML, and a PNG that needs no network."""
    import matplotlib

    matplotlib.use("Agg")  # no display needed
    from matplotlib import pyplot

    html_map = out / "footprints.html"
    df.terracat.explore("cloudCover").save(html_map)
    # footprints of one tile overlap exactly: a tile map of clear acquisitions says more
    tiles = df.assign(clear=df["cloudCover"] < 10).dissolve(by="tileId", aggfunc={"clear": "sum"})
    figure, axes = pyplot.subplots(figsize=(8, 7))
    tiles.plot(
        ax=axes,
        column="clear",
        cmap="YlGn",
        alpha=0.6,
        edgecolor="black",
        linewidth=0.5,
        legend=True,
        legend_kwds={"label": "clear acquisitions (cloud cover < 10%)"},
    )
    for tile, row in tiles.iterrows():
        point = row.geometry.representative_point()
        axes.annotate(f"{tile}\n{row['clear']}", (point.x, point.y), ha="center", fontsize=9)
    axes.set_title(f"{len(df)} products on {len(tiles)} tiles")
    axes.set_xlabel("longitude")
    axes.set_ylabel("latitude")
    png_map = out / "footprints.png"
    figure.savefig(png_map, dpi=100, bbox_inches="tight")
    pyplot.close(figure)
    click.echo(f"  {html_map} (interactive) and {png_map}")


def run_demo(out_dir: Path | None = None) -> None:
    """Start the local catalogue in-process and walk through search, filter and export."""
    began = time.perf_counter()
    out = Path(out_dir or tempfile.mkdtemp(prefix="terracat-demo-"))
    with LocalCatalogue() as local:
        catalogue = terracat.Catalogue(local.config())
        click.echo(
            f"local catalogue at {local.url} (the real one: {terracat.Catalogue().config.catalogue_url})"
        )

        _step("terracat.collections()")
        collections = terracat.collections(catalogue=catalogue)
        for row in collections.itertuples():
            click.echo(f"  {row.id}  {row.title}")

        _step(
            f'terracat.search("{COLLECTION}", start="2022-01-01", end="2022-06-30", bbox={BRUSSELS_AREA})'
        )
        df = terracat.search(
            COLLECTION,
            start="2022-01-01",
            end="2022-06-30",
            bbox=BRUSSELS_AREA,
            catalogue=catalogue,
        )
        click.echo(f"  {len(df)} products, {len(df.columns)} columns, CRS {df.crs.to_string()}")

        _step('df.query("cloudCover < 10")')
        clear = df.query("cloudCover < 10")
        _table(clear, ["title", "tileId", "cloudCover"], rows=8)

        path = out / "clear.parquet"
        _step(f"clear.to_parquet({str(path)!r}); terracat.read_parquet(...)")
        clear.to_parquet(path)
        back = terracat.read_parquet(path)
        click.echo(f"  {path.stat().st_size / 1024:.0f} KiB GeoParquet, {len(back)} rows read back")

        target = out / "products"
        _step(f"back.head(3).terracat.download({str(target)!r}, file_types='data,previews')")
        report = back.head(3).terracat.download(target, file_types="data,previews")
        counts = ", ".join(f"{n} {status}" for status, n in report["status"].value_counts().items())
        click.echo(f"  {len(report)} files, {report['bytes'].sum() / 1024:.0f} KiB: {counts}")

        mirror = out / "mirror"
        tile = {"tileId": "31UFS", "start": "2022-01-01", "end": "2022-02-28"}
        _step(f"terracat.sync({COLLECTION!r}, {str(mirror)!r}, **{tile})")
        first = terracat.sync(COLLECTION, mirror, catalogue=catalogue, progress=False, **tile)
        click.echo(f"  {first.summary()}")
        reprocessed = first.products["id"].iloc[0]
        local.reprocess_product(COLLECTION, reprocessed)
        _step("(the catalogue reprocesses a product) terracat.sync(...) again")
        second = terracat.sync(COLLECTION, mirror, catalogue=catalogue, progress=False, **tile)
        click.echo(f"  {second.summary()}: {reprocessed.rsplit(':', 1)[-1]}")

        _step("df.terracat.explore('cloudCover'), and the same map as a picture")
        try:
            _maps(df, out)
        except ImportError as missing:
            click.echo(f"  skipped: {missing}")

        _step("for product in back.terracat.products(): ...")
        for product in list(back.terracat.products())[:3]:
            click.echo(
                f"  {product.beginningDateTime:%Y-%m-%d %H:%M}  {product.title}  {len(product.data)} data file(s), first {product.data[0].length} bytes"
            )
    click.echo(f"\ndone in {time.perf_counter() - began:.1f} s; outputs in {out}")
