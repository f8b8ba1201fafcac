"""terracat in a real Jupyter kernel (ipykernel, driven by jupyter_client), without ipywidgets:
what a notebook user sees on import and during a download."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator

import pytest
from jupyter_client.manager import start_new_kernel

DOWNLOAD = """
import tempfile, terracat
catalogue = terracat.Catalogue.from_url({url!r})
frame = catalogue.search("urn:eop:VITO:TERRASCOPE_S2_NDVI_V2", tileId="31UES", limit=1)
report = frame.terracat.download(tempfile.mkdtemp(), progress=True)
print("downloaded", (report["status"] == "downloaded").sum(), "of", len(report))
"""


@pytest.fixture
def kernel() -> Iterator[object]:
    assert importlib.util.find_spec("ipywidgets") is None  # the case the issue is about
    manager, client = start_new_kernel(kernel_name="python3", startup_timeout=120)
    try:
        yield client
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def _run(client, code: str) -> dict[str, str]:
    """What the cell printed, by stream (``stdout``, ``stderr``), and its error, if any."""
    shown = {"stdout": "", "stderr": "", "error": ""}

    def output(message: dict) -> None:
        kind, content = message["msg_type"], message["content"]
        if kind == "stream":
            shown[content["name"]] += content["text"]
        elif kind == "error":
            shown["error"] += f"{content['ename']}: {content['evalue']}"

    client.execute_interactive(code, output_hook=output, timeout=120)
    return shown


def test_the_kernel_is_one_where_tqdm_auto_warns(kernel):
    """The control: in this kernel tqdm's notebook bars want ipywidgets, and say so."""
    shown = _run(kernel, "import warnings; warnings.simplefilter('always'); import tqdm.auto")
    assert "IProgress not found" in shown["stderr"], shown


def test_import_and_a_download_in_a_kernel_show_a_text_bar_and_no_warning(kernel, local_catalogue):
    shown = _run(kernel, "import warnings; warnings.simplefilter('always'); import terracat")
    assert shown == {"stdout": "", "stderr": "", "error": ""}
    shown = _run(kernel, DOWNLOAD.format(url=local_catalogue.url))
    assert not shown["error"], shown
    assert shown["stdout"].startswith("downloaded ") and " 0 of" not in shown["stdout"]
    assert "Warning" not in shown["stderr"] and "IProgress" not in shown["stderr"]
    assert "download:" in shown["stderr"] and "B/s" in shown["stderr"]  # tqdm's text bar
