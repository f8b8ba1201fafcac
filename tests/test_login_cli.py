"""``terracat login`` where no browser opens: it falls back to a code from another device; and
``terracat login --url`` / ``download --login`` sign in at the catalogue's own identity provider,
never at Terrascope's."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from terracat.server import LocalCatalogue
from tests.hostile import HostileServer, send
from tests.test_auth import _confirm_device as _approve

TERRACAT = str(Path(sys.executable).parent / "terracat")
DEVICE_LINE = re.compile(r"open (\S+) and confirm the code (\S+)")
LOGIN_ONE = ("--limit", "1", "--login", "--no-progress")  # one product, signed in from the cache


def _ini(local: LocalCatalogue, tmp_path: Path) -> Path:
    """An .ini pointing at the local catalogue and its identity provider, as a user writes one."""
    path = tmp_path / "local.ini"
    with path.open("w") as out:
        local.config().config.write(out)
    return path


def _environment(
    tmp_path: Path, browser: str | None, proxy: HostileServer | None = None
) -> dict[str, str]:
    """No display; with ``proxy``, every request off this machine goes to it (to be seen)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.pop("BROWSER", None)
    env.pop("TERRACAT_URL", None)
    if browser is not None:
        env["BROWSER"] = browser
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    if proxy is not None:
        for variable in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
            env[variable] = proxy.url("/")
        env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    return env


def _refuse(request, connection) -> None:
    send(connection, 403, b"not through here")


def _sign_in_by_device(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    """Run a command that signs in with a device code, confirming the code it prints."""
    told: list[str] = []
    with subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    ) as process:
        try:
            assert process.stderr is not None and process.stdout is not None
            for line in process.stderr:
                told.append(line)
                found = DEVICE_LINE.search(line)
                if found:
                    _approve(*found.groups())
            out = process.stdout.read()
            process.wait(timeout=60)
        finally:
            process.kill()
    return process.returncode, out, "".join(told)


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
def test_login_without_a_browser_falls_back_to_a_device_code_printing_no_dead_url(
    quick_device, tmp_path, browser, reason
):
    code, out, text = _sign_in_by_device(
        [TERRACAT, "login", "--config", str(_ini(quick_device, tmp_path))],
        _environment(tmp_path, browser),
    )
    assert code == 0, text
    # the browser's URL, which nobody can open here, is not printed; the device's is
    assert "code_challenge=" not in text and "openid-connect/auth?" not in text
    assert f"To sign in, open {quick_device.url}auth/realms/terrascope/device" in text
    assert f"{reason}: signing in with a code from another device instead" in text
    assert "Waiting up to 5 min for the code to be confirmed" in text
    assert quick_device.idp.grants[-1] == "urn:ietf:params:oauth:grant-type:device_code"
    assert "signed in to" in out
    cached = json.loads((tmp_path / "cache" / "terracat" / "tokens.json").read_text())
    assert any("refresh_token" in token for token in cached.values())


@pytest.mark.parametrize(
    ("face", "collection"),
    [("", "urn:eop:VITO:TERRASCOPE_S2_TOC_V2"), ("stac/", "terrascope-s2-toc-v2")],
)
def test_login_by_url_signs_in_at_the_catalogue_s_identity_provider_and_download_login_uses_it(
    quick_device, tmp_path, face, collection
):
    url = quick_device.url + face
    with HostileServer(_refuse) as proxy:
        env = _environment(tmp_path, None, proxy)
        code, out, err = _sign_in_by_device([TERRACAT, "login", "--url", url], env)
        assert code == 0, err
        assert f"signed in to {url}" in out
        assert f"To sign in, open {quick_device.url}auth/realms/terrascope/device" in err
        target = tmp_path / "out"
        download = subprocess.run(
            [TERRACAT, "download", collection, str(target), "--url", url, *LOGIN_ONE],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
        assert download.returncode == 0, download.stderr
        assert "failed" not in download.stdout and " downloaded" in download.stdout, download
        assert [p for p in target.rglob("*") if p.is_file() and p.stat().st_size]
        assert not proxy.requests, [r.target for r in proxy.requests]  # no Terrascope at all
    cached = json.loads((tmp_path / "cache" / "terracat" / "tokens.json").read_text())
    assert list(cached) == [
        f"{quick_device.url}auth/realms/terrascope/protocol/openid-connect/token|terracatalogueclient"
    ]
    assert quick_device.idp.grants[-1] == "refresh_token"  # download --login: the cached one


def _says_nothing(request, connection) -> None:
    send(connection, 200, b'{"title": "elsewhere"}', {"Content-Type": "application/json"})


def test_login_at_a_catalogue_that_says_nothing_names_it_and_the_keys_in_one_line(tmp_path):
    with HostileServer(_refuse) as proxy, HostileServer(_says_nothing) as elsewhere:
        done = subprocess.run(
            [TERRACAT, "login", "--url", elsewhere.url("/"), "--username", "a", "--password", "b"],
            capture_output=True,
            text=True,
            env=_environment(tmp_path, None, proxy),
            timeout=60,
        )
        assert not proxy.requests
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"error: {elsewhere.url('/')} does not say where to sign in")
    assert "[Auth] TokenEndpoint" in done.stderr and "--config FILE" in done.stderr
