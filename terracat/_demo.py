"""``terracat demo``: the main job end to end, offline, on the embedded local catalogue."""

from __future__ import annotations

import time

import click
import requests

from terracat.server import LocalCatalogue

__all__ = ["run_demo"]

COLLECTION = "urn:eop:VITO:TERRASCOPE_S2_NDVI_V2"


def run_demo() -> None:
    """Start the local catalogue in-process and walk through a search."""
    began = time.perf_counter()
    with LocalCatalogue() as local, requests.Session() as session:
        click.echo(f"local catalogue at {local.url}")
        collections = session.get(f"{local.url}collections", timeout=30).json()
        for feature in collections["features"]:
            click.echo(f"  {feature['id']}: {feature['properties']['title']}")
        query = {
            "collection": COLLECTION,
            "start": "2022-02-01",
            "end": "2022-03-01",
            "bbox": "4.1,50.0,5.5,51.0",
            "cloudCover": "10]",
        }
        page = session.get(f"{local.url}products", params=query, timeout=30).json()
        click.echo(f"{page['totalResults']} clear NDVI products over Brussels in February 2022:")
        for feature in page["features"][:5]:
            click.echo(f"  {feature['properties']['title']}")
    click.echo(f"done in {time.perf_counter() - began:.1f} s")
