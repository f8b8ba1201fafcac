"""``terracat login`` where no browser opens: it prints the sign-in URL and falls back to a code."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from terracat.server import LocalCatalogue
from tests.test_auth import _confirm_device as _approve

TERRACAT = str(Path(sys.executable).parent / "terracat")
DEVICE_LINE = re.compile(r"open (\S+) and confirm the code (\S+)")


def _ini(local: LocalCatalogue, tmp_path: Path) -> Path:
    """An .ini pointing at the local catalogue and its identity provider, as a user writes one."""
    path = tmp_path / "local.ini"
    with path.open("w") as out:
        local.config().config.write(out)
    return path


def _environment(tmp_path: Path, browser: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.pop("BROWSER", None)
    if browser is not None:
        env["BROWSER"] = browser
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    return env


@pytest.mark.parametrize(
    ("browser", "reason"),
    [
        ("false", "no browser could be opened"),  # webbrowser.open answers False
        (
            None,
            "no display here ($DISPLAY and $WAYLAND_DISPLAY are unset) and no $BROWSER is set",
        ),  # no display and no $BROWSER: not even tried
    ],
)
def test_login_prints_the_url_and_falls_back_to_a_device_code(
    quick_device, tmp_path, browser, reason
):
    told: list[str] = []
    with subprocess.Popen(
        [TERRACAT, "login", "--config", str(_ini(quick_device, tmp_path))],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_environment(tmp_path, browser),
    ) as process:
        try:
            assert process.stderr is not None and process.stdout is not None
            for line in process.stderr:  # to the end: the command exits once signed in
                told.append(line)
                found = DEVICE_LINE.search(line)
                if found:
                    _approve(*found.groups())
            out = process.stdout.read()
            process.wait(timeout=30)
        finally:
            process.kill()
    text = "".join(told)
    assert process.returncode == 0, text
    assert f"To sign in, open {quick_device.url}auth/realms/" in text  # the browser's URL
    assert "code_challenge=" in text
    assert f"{reason}: signing in with a code from another device instead" in text
    assert "Waiting up to 5 min for the code to be confirmed" in text
    assert quick_device.idp.grants[-1] == "urn:ietf:params:oauth:grant-type:device_code"
    assert "signed in to" in out
    cached = json.loads((tmp_path / "cache" / "terracat" / "tokens.json").read_text())
    assert any("refresh_token" in token for token in cached.values())
