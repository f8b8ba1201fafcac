"""The ``terracat`` command: a thin shell over the public API."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from terracat.exceptions import TerracatError

__all__ = ["main"]


class _Group(click.Group):
    """Turns terracat's own errors into one line on stderr and exit code 2, never a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except TerracatError as error:
            click.echo(f"error: {error}", err=True)
            sys.exit(2)


@click.group(cls=_Group)
@click.option("-v", "--verbose", count=True, help="Log more (-v info, -vv debug).")
def main(verbose: int) -> None:
    """Search, export and download Earth-observation products from OpenSearch catalogues."""
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


@main.command()
@click.option("--demo", "demo_store", is_flag=True, help="Serve the built-in demo store (default).")
@click.option(
    "--store",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Serve a GeoParquet export of terracat search results instead.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, help="Port to listen on (0: any free).")
@click.option("--size-scale", type=float, default=None, help="Demo file size factor.")
@click.option("--max-depth", type=int, default=None, help="Deepest result a client may page to.")
@click.option(
    "--files-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where files for accessedFrom=MEP hrefs are materialised.",
)
@click.option("--latency", type=float, default=0.0, help="Fault: seconds added to every request.")
@click.option(
    "--bandwidth", type=float, default=None, help="Fault: download bytes/s per connection."
)
@click.option(
    "--error-rate", type=float, default=0.0, help="Fault: fraction of requests answered 503."
)
@click.option("--throttle-rate", type=float, default=0.0, help="Fault: fraction answered 429.")
@click.option(
    "--cut-rate", type=float, default=0.0, help="Fault: fraction of downloads cut mid-body."
)
def serve(
    demo_store: bool,
    store: Path | None,
    host: str,
    port: int,
    size_scale: float | None,
    max_depth: int | None,
    files_dir: Path | None,
    latency: float,
    bandwidth: float | None,
    error_rate: float,
    throttle_rate: float,
    cut_rate: float,
) -> None:
    """Run a local catalogue speaking Terrascope's OpenSearch protocol."""
    from terracat.server import FaultPlan, LocalCatalogue, Settings, load_parquet_store
    from terracat.server.demo import DEFAULT_SIZE_SCALE

    if demo_store and store is not None:
        raise click.UsageError("--demo and --store exclude each other")
    settings = Settings(files_dir=files_dir)
    if max_depth is not None:
        settings.max_depth = max_depth
    try:
        plan = FaultPlan(
            latency=latency,
            bandwidth=bandwidth,
            error_rate=error_rate,
            throttle_rate=throttle_rate,
            cut_rate=cut_rate,
        )
    except ValueError as error:
        raise click.BadParameter(str(error)) from None
    local = LocalCatalogue(
        load_parquet_store(store) if store is not None else None,
        host=host,
        port=port,
        settings=settings,
        faults=plan,
        size_scale=size_scale if size_scale is not None else DEFAULT_SIZE_SCALE,
    )
    local.start()
    click.echo(f"serving {local.url}")
    click.echo(f"collections: {', '.join(local.store.collections)}")
    click.echo("sign in as demo/demo for protected downloads; Ctrl+C stops", err=True)
    sys.stdout.flush()
    try:
        local._thread.join()  # type: ignore[union-attr]
    except KeyboardInterrupt:
        pass
    finally:
        local.stop()


@main.command()
def demo() -> None:
    """Show terracat end to end on the embedded local catalogue (no network needed)."""
    from terracat._demo import run_demo

    run_demo()
