"""The STAC face passes stac-api-validator, a validator we did not write, with no errors.

The validators fetch JSON schemas from the web; ``../shared/stac-schemas/offline.py`` serves them
from disk. The validator runs in a subprocess through ``offline.py``, against a demo catalogue
whose page maximum is small (the validator asks for ``limit=1000000``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from terracat.server import LocalCatalogue, Settings

SCHEMAS = Path(__file__).resolve().parents[3] / "shared" / "stac-schemas"
OFFLINE = SCHEMAS / "offline.py"
CONFORMANCE = [
    "core",
    "item-search",
    "features",
    "filter",
    "collections",
    "item-search#sort",
    "item-search#fields",
]

pytestmark = pytest.mark.skipif(not OFFLINE.exists(), reason=f"{OFFLINE} is not there")


@pytest.fixture(scope="module")
def stac_catalogue() -> Iterator[LocalCatalogue]:
    with LocalCatalogue(settings=Settings(stac_max_limit=50)) as local:
        yield local


@pytest.mark.timeout(300)
def test_stac_api_validator_finds_no_errors(stac_catalogue: LocalCatalogue) -> None:
    command = [sys.executable, str(OFFLINE), "stac-api-validator"]
    command += ["--root-url", f"{stac_catalogue.url}stac/"]
    for name in CONFORMANCE:
        command += ["--conformance", name]
    command += ["--collection", "terrascope-s2-ndvi-v2"]
    command += ["--geometry", json.dumps({"type": "Point", "coordinates": [4.4, 51.2]})]
    command += ["--fields-nested-property", "properties.eo:cloud_cover"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=280)
    assert "Errors: none" in result.stdout, result.stdout[-4000:] + result.stderr[-2000:]
    assert result.returncode == 0


@pytest.mark.parametrize("collection", ["terrascope-s2-toc-v2", "cgs-s1-grd-sigma0-l1"])
def test_served_items_pass_stac_validator_with_their_extensions(
    stac_catalogue: LocalCatalogue, collection: str, tmp_path: Path
) -> None:
    url = f"{stac_catalogue.url}stac/collections/{collection}/items"
    item = requests.get(url, params={"limit": 1}, timeout=60).json()["features"][0]
    path = tmp_path / "item.json"
    path.write_text(json.dumps(item))
    result = subprocess.run(
        [sys.executable, str(OFFLINE), "stac-validator", "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    report = json.loads(result.stdout[result.stdout.index("[") : result.stdout.rindex("]") + 1])
    assert report[0]["valid_stac"], report
    assert set(item["stac_extensions"]) <= set(report[0]["schema"]), report
