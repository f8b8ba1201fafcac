"""The ``terracat`` command: a thin shell over the public API."""

from __future__ import annotations

import functools
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from terracat.exceptions import TerracatError

if TYPE_CHECKING:  # imported on use: ``terracat --help`` stays instant
    import geopandas

    from terracat.catalogue import Catalogue

__all__ = ["main"]


INTERRUPTED = 130  # the exit status of a command stopped by Ctrl-C (128 + SIGINT), as a shell's


class _Group(click.Group):
    """Turns terracat's own errors into one line on stderr and exit code 2, never a traceback,
    and Ctrl-C into one line and exit code 130 (click's own ``Aborted!`` exits 1)."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except TerracatError as error:
            click.echo(f"error: {error}", err=True)
            sys.exit(2)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(INTERRUPTED)


@click.group(cls=_Group)
@click.option("-v", "--verbose", count=True, help="Log more (-v info, -vv debug).")
def main(verbose: int) -> None:
    """Search, export and download Earth-observation products from OpenSearch and STAC catalogues."""
    # the commands report failures themselves; -v adds the library's own account of them
    level = {0: logging.ERROR, 1: logging.INFO}.get(verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


ENVIRONMENTS = ("terrascope", "hrvpp", "cgls", "terrascope_stac", "cdse")
TABLE_COLUMNS = ("title", "beginningDateTime", "tileId", "relativeOrbitNumber", "cloudCover")


def catalogue_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--env``, ``--config`` and ``--url``: which catalogue a command talks to."""

    @click.option(
        "--env",
        type=click.Choice(ENVIRONMENTS),
        default=None,
        help="A bundled catalogue configuration [default: terrascope; with --url, the bundled "
        "one at that URL, else terrascope].",
    )
    @click.option(
        "--config",
        "config_file",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="An .ini file overriding the environment's configuration (with --url, that "
        "catalogue's).",
    )
    @click.option(
        "--url",
        envvar="TERRACAT_URL",
        help="The catalogue's URL (or $TERRACAT_URL, unless --config names one), e.g. a local "
        "one; OpenSearch or STAC, read from its landing page.",
    )
    @functools.wraps(command)
    def wrapped(env: str | None, config_file: Path | None, url: str | None, **kwargs: Any) -> Any:
        source = click.get_current_context().get_parameter_source("url")
        from_environment = source is click.core.ParameterSource.ENVIRONMENT
        return command(catalogue=_catalogue(env, config_file, url, from_environment), **kwargs)

    return wrapped


def _catalogue(
    env: str | None,
    config_file: Path | None,
    url: str | None,
    url_from_environment: bool = False,
) -> Catalogue:
    """The catalogue the options name: ``--url`` over a ``--config`` file's ``[Catalogue] URL``
    over ``$TERRACAT_URL``, as an option given is meant more than a variable set once.

    The file is read and checked either way, and overrides the environment's values."""
    from terracat.catalogue import Catalogue
    from terracat.config import CatalogueConfig, CatalogueEnvironment

    environment = CatalogueEnvironment[env.upper()] if env else None
    path = str(config_file) if config_file else None
    if not url or (path and url_from_environment):
        config = CatalogueConfig.from_environment(
            environment or CatalogueEnvironment.TERRASCOPE, path
        )
        origins = getattr(config.config, "origins", {})
        if not url or origins.get(("Catalogue", "url")) == path:  # the file names its catalogue
            return Catalogue(config)
    # the protocol (OpenSearch or STAC) is read from the URL's landing page
    return Catalogue.from_url(url, environment, path=path)


def _bbox(ctx: click.Context, param: click.Parameter, value: str | None) -> list[float] | None:
    if value is None:
        return None
    try:
        box = [float(v) for v in value.split(",")]
    except ValueError:
        raise click.BadParameter(f"{value!r} is not W,S,E,N in degrees") from None
    if len(box) != 4:
        raise click.BadParameter(f"{value!r} is not W,S,E,N (four numbers)")
    return box


def _geometry(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    """A WKT string, or a vector file whose geometries are merged into one."""
    if value is None:
        return None
    path = Path(value)
    if path.is_file():
        import geopandas

        shapes = geopandas.read_file(path).to_crs(4326)
        return shapes.geometry.union_all()
    return value


def _cloud_cover(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    """A number is an upper bound (``20`` sends ``20]``); other text is the catalogue's interval
    syntax (``[10,60]``), checked before sending, so that ``--param cloudCover=`` is never needed.
    """
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return value


def _params(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    pairs = {}
    for value in values:
        key, sep, text = value.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{value!r} is not key=value")
        _check_clash(ctx.command, key, value)
        pairs[key] = text
    return pairs


SEARCH_KEYWORDS = ("collection", "limit", "split")
"""The keywords of terracat's searches that are not catalogue parameters: a ``--param`` naming
one would be taken by terracat (``split=true`` splits) rather than sent, or fail in Python."""


def _reserved(command: click.Command) -> set[str]:
    """The lower-cased keywords the Python call behind ``command`` takes for itself."""
    names = set(SEARCH_KEYWORDS)
    if command.name == "sync":
        import inspect

        import terracat

        parameters = inspect.signature(terracat.sync).parameters.values()
        names.update(p.name for p in parameters if p.kind is not inspect.Parameter.VAR_KEYWORD)
    return {name.lower() for name in names}


def _check_clash(command: click.Command, key: str, value: str) -> None:
    """Refuse ``--param`` naming what the command has an option (or argument) for, or a
    keyword of terracat's own that it has none for.

    Passed on, it would reach the search twice (a Python ``TypeError``), silently replace the
    option's value, or be taken by terracat instead of the catalogue; one line naming the
    option to use says what to do instead.
    """
    from terracat.exceptions import ParameterParserException

    for own in command.params:
        if own.name in (None, "params"):
            continue
        # cloud_cover is the option --cloud-cover and sets the filter cloudCover
        head, *rest = own.name.split("_")
        spellings = {own.name, head + "".join(part.title() for part in rest)}
        spellings.update(opt.lstrip("-") for opt in own.opts)
        if key.lower() in {spelling.lower() for spelling in spellings}:
            use = (
                f"the {own.human_readable_name} argument"
                if isinstance(own, click.Argument)
                else f"--{max(own.opts, key=len).lstrip('-')}"
            )
            raise ParameterParserException(
                f"--param {value} clashes with an option of terracat {command.name}: "
                f"use {use} instead."
            )
    if key.lower() == "collection":  # download's [COLLECTION] DIRECTORY
        raise ParameterParserException(
            f"--param {value} clashes with an argument of terracat {command.name}: "
            "use the COLLECTION argument instead."
        )
    if key.lower() in _reserved(command):
        raise ParameterParserException(
            f"--param {value}: {key} is a keyword of terracat's, not a catalogue parameter, "
            f"and terracat {command.name} has no option for it."
        )


def search_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The search filters shared by ``search``, ``count`` and ``download``."""
    return filter_options(click.argument("collection", required=False)(command))


def filter_options(command: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--start", help="Start of the time range (2022-02-01 or a UTC datetime)."),
        click.option("--end", help="End of the time range."),
        click.option("--bbox", callback=_bbox, help="W,S,E,N in degrees."),
        click.option("--geometry", callback=_geometry, help="A WKT string or a vector file."),
        click.option(
            "--cloud-cover",
            callback=_cloud_cover,
            help="Maximum cloud cover (percent), or an interval such as '[10,60]'.",
        ),
        click.option(
            "--param",
            "params",
            multiple=True,
            callback=_params,
            help="Any catalogue parameter, key=value.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _search(
    catalogue: Catalogue,
    collection: str | None,
    start: str | None,
    end: str | None,
    bbox: list[float] | None,
    geometry: Any,
    cloud_cover: float | None,
    params: dict[str, str],
    **extra: Any,
) -> geopandas.GeoDataFrame:
    if not collection:
        raise click.UsageError("a COLLECTION is needed (terracat collections lists them)")
    return catalogue.search(
        collection,
        start=start,
        end=end,
        bbox=bbox,
        geometry=geometry,
        cloudCover=cloud_cover,
        **params,
        **extra,
    )


def _show(frame: Any, columns: tuple[str, ...], rows: int = 20) -> None:
    shown = [c for c in columns if c in frame.columns]
    click.echo(frame[shown].head(rows).to_string(index=False) if len(frame) else "(none)")
    if len(frame) > rows:
        click.echo(f"... {len(frame) - rows} more")


@main.command()
@catalogue_options
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write them to a file."
)
def collections(catalogue: Catalogue, output: Path | None) -> None:
    """List the catalogue's collections."""
    from terracat.frame import write_frame

    frame = catalogue.collections()
    if output is not None:
        click.echo(f"{len(frame)} collections written to {write_frame(frame, output)}")
        return
    _show(frame, ("id", "title"), rows=len(frame))


def _write_products(frame: Any, output: Path) -> Path:
    """``-o``: STAC formats by the accessor, the rest by :func:`terracat.frame.write_frame`."""
    from terracat.frame import write_frame

    name = output.name.lower()
    if name.endswith(".stac.parquet"):
        return frame.terracat.to_stac_geoparquet(output)
    if name.endswith(".json"):
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(frame.terracat.to_stac()), encoding="utf-8")
        return output
    return write_frame(frame, output)


@main.command()
@catalogue_options
@search_options
@click.option("--limit", type=click.IntRange(min=0), help="At most this many products.")
@click.option(
    "--split", is_flag=True, help="Fetch results deeper than the catalogue pages, in time windows."
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the products to .parquet, .geojson, .gpkg, .csv, .stac.parquet (stac-geoparquet) "
    "or .json (a STAC ItemCollection).",
)
def search(
    catalogue: Catalogue, limit: int | None, split: bool, output: Path | None, **query: Any
) -> None:
    """Search COLLECTION's products; a table of the first ones, or a file with -o."""
    frame = _search(catalogue, limit=limit, split=split, **query)
    if output is not None:
        click.echo(f"{len(frame)} products written to {_write_products(frame, output)}")
        return
    _show(frame, TABLE_COLUMNS)
    click.echo(f"{len(frame)} products")


@main.command()
@catalogue_options
@search_options
def count(catalogue: Catalogue, collection: str | None, **query: Any) -> None:
    """Count COLLECTION's products matching the filters (one request)."""
    if not collection:
        raise click.UsageError("a COLLECTION is needed (terracat collections lists them)")
    params = {
        "start": query["start"],
        "end": query["end"],
        "bbox": query["bbox"],
        "geometry": query["geometry"],
        "cloudCover": query["cloud_cover"],
        **query["params"],
    }
    click.echo(catalogue.count(collection, **{k: v for k, v in params.items() if v is not None}))


def _sign_in(
    catalogue: Catalogue, username: str | None, password: str | None, cached: bool
) -> None:
    if username:
        if not password:
            password = click.prompt(f"password for {username}", hide_input=True)
        catalogue.authenticate_non_interactive(username, password)
    elif cached:
        import terracat

        terracat.login(catalogue=catalogue, cache=True)


def login_options(command: Callable[..., Any]) -> Callable[..., Any]:
    command = click.option("--username", help="Sign in with this user (password grant).")(command)
    command = click.option(
        "--password",
        envvar="TERRACAT_PASSWORD",
        help="Its password (or $TERRACAT_PASSWORD; asked if absent).",
    )(command)
    return click.option(
        "--login",
        "cached",
        is_flag=True,
        help="Sign in from the cache of 'terracat login' (or a browser).",
    )(command)


@main.command()
@catalogue_options
@filter_options
@click.argument("arguments", nargs=-1, required=True, metavar="[COLLECTION] DIRECTORY")
@click.option(
    "--from",
    "source",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Download the products of a GeoParquet export instead of searching.",
)
@click.option(
    "--types",
    default="data",
    show_default=True,
    help="File kinds: data,related,previews,alternates,all.",
)
@click.option("--workers", type=click.IntRange(min=1), help="Files transferred at once.")
@click.option("--limit", type=click.IntRange(min=0), help="At most this many products.")
@click.option("--overwrite", is_flag=True, help="Fetch files again even when complete.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@login_options
def download(
    catalogue: Catalogue,
    arguments: tuple[str, ...],
    source: Path | None,
    types: str,
    workers: int | None,
    limit: int | None,
    overwrite: bool,
    no_progress: bool,
    username: str | None,
    password: str | None,
    cached: bool,
    **query: Any,
) -> None:
    """Download the files of COLLECTION's products (or of --from FILE) into DIRECTORY."""
    import terracat

    if len(arguments) > 2:
        raise click.UsageError("expected [COLLECTION] DIRECTORY")
    directory = Path(arguments[-1])
    query["collection"] = arguments[0] if len(arguments) == 2 else None
    if source is not None and query["collection"]:
        raise click.UsageError("give either COLLECTION with filters or --from, not both")
    try:
        _sign_in(catalogue, username, password, cached)
        if source is not None:
            frame = terracat.read_parquet(source)
            frame = frame if limit is None else frame.head(limit)
        else:
            frame = _search(catalogue, limit=limit, **query)
    except KeyboardInterrupt:
        click.echo("interrupted before any download began: nothing was written", err=True)
        sys.exit(INTERRUPTED)
    from terracat.transfer import DownloadInterrupted

    try:
        report = frame.terracat.download(
            directory,
            types,
            workers=workers,
            progress=not no_progress,
            overwrite=overwrite,
            raise_on_failure=False,
            catalogue=catalogue,
        )
    except DownloadInterrupted as interrupted:
        _summarise(len(frame), interrupted.report, directory)
        click.echo(
            "interrupted: the partial files are kept; run the same command again to resume",
            err=True,
        )
        sys.exit(INTERRUPTED)
    if _summarise(len(frame), report, directory):
        sys.exit(1)


@main.command()
@catalogue_options
@filter_options
@click.argument("collection")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--types",
    default="data",
    show_default=True,
    help="File kinds: data,related,previews,alternates,all.",
)
@click.option(
    "--overlap",
    default="1D",
    show_default=True,
    help="How far before the last complete run to look again (1D, 6h, 30min).",
)
@click.option(
    "--keep-replaced",
    is_flag=True,
    help="Move the files a reprocessed product replaces to DIRECTORY/.replaced/ (else removed).",
)
@click.option("--workers", type=click.IntRange(min=1), help="Files transferred at once.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@login_options
def sync(
    catalogue: Catalogue,
    collection: str,
    directory: Path,
    types: str,
    overlap: str,
    keep_replaced: bool,
    workers: int | None,
    no_progress: bool,
    username: str | None,
    password: str | None,
    cached: bool,
    start: str | None,
    end: str | None,
    bbox: list[float] | None,
    geometry: Any,
    cloud_cover: Any,
    params: dict[str, str],
) -> None:
    """Bring the mirror of COLLECTION's search in DIRECTORY up to date: what is new or reprocessed.

    Run it again with the same filters (nightly, say): each run fetches only what the catalogue
    modified since the last complete run, and a run that was stopped resumes where it stopped.
    The exit code is 1 when some products failed (the next run tries them again).
    """
    import terracat

    _sign_in(catalogue, username, password, cached)
    given = {
        "start": start,
        "end": end,
        "bbox": bbox,
        "geometry": geometry,
        "cloudCover": cloud_cover,
    }
    filters = {k: v for k, v in given.items() if v is not None} | params
    try:
        report = terracat.sync(
            collection,
            directory,
            file_types=types,
            catalogue=catalogue,
            overlap=overlap,
            replaced="keep" if keep_replaced else "remove",
            workers=workers,
            progress=not no_progress,
            raise_on_failure=False,
            **filters,
        )
    except KeyboardInterrupt:  # a DownloadInterrupted, or Ctrl-C while it searched
        click.echo("interrupted: run the same command again to resume", err=True)
        sys.exit(INTERRUPTED)
    click.echo(f"{directory}: {report.summary()}")
    for product in report.gone:
        click.echo(f"gone from the catalogue (files kept): {product}")
    failed = report.products[report.products["status"] == "failed"]
    for row in failed.head(MAX_REASONS_SHOWN).itertuples():
        click.echo(f"failed: {row.id}: {row.error}", err=True)
    if len(failed):
        sys.exit(1)


MAX_REASONS_SHOWN = 5  # distinct failure reasons a download prints (each once)


def _summarise(products: int, report: Any, directory: Path) -> int:
    """Print what a download did and each distinct failure once; the number of failed files.

    Files refused for the same reason (a sign-in a whole batch needs) are one line with a
    count, and the Python advice on signing in becomes the command line's options.
    """
    from terracat.transfer.http import SIGN_IN_ADVICE
    from terracat.transfer.layout import public_href

    counts = ", ".join(f"{n} {status}" for status, n in report["status"].value_counts().items())
    size = report["bytes"].sum() / 1e6
    click.echo(
        f"{products} products, {len(report)} files, {size:.1f} MB into {directory}: {counts or 'nothing'}"
    )
    failed = report[report["status"] == "failed"]
    reasons: dict[str, list[Any]] = {}
    for row in failed.itertuples():
        error = str(row.error).replace(SIGN_IN_ADVICE, CLI_SIGN_IN_ADVICE)
        reasons.setdefault(error.replace(public_href(row.href), "<file>"), []).append((row, error))
    for same in list(reasons.values())[:MAX_REASONS_SHOWN]:
        row, error = same[0]
        more = f" (and {len(same) - 1} more files, the same)" if len(same) > 1 else ""
        click.echo(f"failed: {row.path}: {error}{more}", err=True)
    if len(reasons) > MAX_REASONS_SHOWN:
        click.echo(f"... and {len(reasons) - MAX_REASONS_SHOWN} more kinds of failure", err=True)
    return len(failed)


CLI_SIGN_IN_ADVICE = "--login (after 'terracat login') or --username USER"


@main.command()
@catalogue_options
@click.option("--username", help="Sign in with this user (password grant) instead of a browser.")
@click.option(
    "--password",
    envvar="TERRACAT_PASSWORD",
    help="Its password (or $TERRACAT_PASSWORD; asked if absent).",
)
@click.option("--device", is_flag=True, help="No browser here: confirm a code from another device.")
def login(catalogue: Catalogue, username: str | None, password: str | None, device: bool) -> None:
    """Sign in and keep the sign-in in the token cache for later commands (--login)."""
    import terracat

    if username and not password:
        password = click.prompt(f"password for {username}", hide_input=True)
    terracat.login(username, password, device=device, cache=True, catalogue=catalogue)
    click.echo(
        f"signed in to {catalogue.config.catalogue_url}; the sign-in is cached in {catalogue.config.token_cache_path}"
    )


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
    """Run a local catalogue speaking Terrascope's OpenSearch protocol and the STAC API."""
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
    _stop_on_signals()
    local.start()
    click.echo(f"serving {local.url} (OpenSearch) and {local.url}stac/ (STAC API)")
    click.echo(f"collections: {', '.join(local.store.collections)}")
    click.echo("sign in as demo/demo for protected downloads; Ctrl+C stops", err=True)
    sys.stdout.flush()
    try:
        local._thread.join()  # type: ignore[union-attr]
    except KeyboardInterrupt:
        pass
    finally:
        local.stop()


def _stop_on_signals() -> None:
    """Ctrl+C and SIGTERM (a container's or a service manager's stop) both stop the server.

    SIGINT is handled even where it was inherited ignored, as a shell does to the commands it
    starts in the background: Python then installs no handler of its own, and the server could
    only be killed.
    """
    import signal

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)


@main.command()
def demo() -> None:
    """Show terracat end to end on the embedded local catalogue (no network needed)."""
    from terracat._demo import run_demo

    run_demo()
