"""Items of the Copernicus Data Space's shape, searched and downloaded end to end.

The Data Space's assets are ``s3://eodata/...`` (S3 keys needed) and each carries the same file
over https as ``alternate.https``, on a download service that takes the sign-in's bearer token.
``[Catalogue] Alternate = https`` (the bundled ``CDSE`` environment's) makes the file lists take
those hrefs; without it they keep the ``s3://`` ones, which the ``[S3]`` settings fetch. The
token goes by ``[Auth] TokenHosts`` alone: an asset's ``auth:refs`` never sends it elsewhere.

The items are the local catalogue's, reshaped on their way through a proxy (the proxy stands in
for the Data Space's catalogue; the https alternates point at the local catalogue's downloads,
another origin, as the Data Space's download service is another host than its catalogue).
"""

from __future__ import annotations

import configparser
import json
import socket
from pathlib import Path

from terracat import Catalogue
from terracat.config import CatalogueConfig, CatalogueEnvironment
from terracat.server import LocalCatalogue, content
from terracat.transfer import s3 as _s3
from tests.hostile import HostileServer, Request, send
from tests.protocols.stac.proxy import Proxy
from tests.transfer import test_s3

TOC_URN = "urn:eop:VITO:TERRASCOPE_S2_TOC_V2"  # protected: its files need the token
QUERY = {"start": "2021-07-01", "end": "2021-07-10", "tileId": "31UFS", "limit": 2}
BUCKET = "eodata"

s3_endpoint = test_s3.s3_endpoint  # moto's S3 server on a loopback port


def _path(href: str) -> str:
    """``/download/...`` of a local catalogue href, whichever host wrote it."""
    return "/" + href.split("/", 3)[3]


def _data_space(downloads: str, elsewhere: str | None = None):
    """An ``alter`` reshaping search answers as the Data Space's: each asset's href an
    ``s3://eodata/...`` key, its https alternate on ``downloads`` (the first asset's on
    ``elsewhere`` when given), the local paths gone."""

    def alter(request: Request, body: bytes) -> bytes:
        if not request.path.endswith("/search"):
            return body
        page = json.loads(body)
        for item in page["features"]:
            for number, asset in enumerate(item["assets"].values()):
                path = _path(asset["href"])
                host = elsewhere if number == 0 and elsewhere else downloads
                asset["href"] = f"s3://{BUCKET}{path.removeprefix('/download')}"
                asset["auth:refs"] = ["s3"]
                asset["alternate"] = {
                    "https": {
                        "href": host.rstrip("/") + path,
                        "alternate:name": "HTTPS",
                        "auth:refs": ["oidc"],
                    }
                }
        return json.dumps(page).encode()

    return alter


def _config(local: LocalCatalogue, proxy: Proxy, **keys: str) -> CatalogueConfig:
    """The local catalogue's sign-in, the proxy as the catalogue, the keys written as in an
    ``.ini`` (``Catalogue.Alternate = https``, say)."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_dict(local.config().config)
    parser.set("Catalogue", "URL", proxy.url("/stac/"))
    parser.set("Catalogue", "Protocol", "stac")
    parser.set("Auth", "TokenHosts", local.url)  # the download service, as the Data Space's
    for name, value in keys.items():
        section, _, key = name.partition("_")
        parser.set(section, key, value)
    return CatalogueConfig(parser)


def _served(local: LocalCatalogue, path: str) -> bytes:
    return content.read(path, 0, local.store.files[path].length)


def test_the_bundled_data_space_takes_the_https_alternates():
    assert CatalogueConfig.from_environment(CatalogueEnvironment.CDSE).alternates == ("https",)


def test_the_https_alternates_download_with_the_bearer_token(local_catalogue, tmp_path):
    with Proxy(local_catalogue.url, alter=_data_space(local_catalogue.url)) as proxy:
        config = _config(local_catalogue, proxy, Catalogue_Alternate="https")
        catalogue = Catalogue(config).authenticate_non_interactive("demo", "demo")
        frame = catalogue.search(TOC_URN, **QUERY)
        files = frame.terracat.files("data")
        assert len(frame) == 2 and len(files)
        assert files["href"].str.startswith(local_catalogue.url + "download/").all()
        before = len(local_catalogue.app.downloads)
        report = frame.terracat.download(tmp_path, progress=False)
        assert (report["status"] == "downloaded").all(), report[["status", "error"]]
        for row in report.itertuples():
            assert Path(row.path).read_bytes() == _served(local_catalogue, _path(row.href))
        asked = local_catalogue.app.downloads[before:]
        assert asked and all(request.authorized for request in asked)
        # the item keeps its own href and every alternate: the frame's properties are the item
        item = json.loads(frame["properties"].iloc[0])
        asset = next(iter(item["assets"].values()))
        assert asset["href"].startswith("s3://") and "https" in asset["alternate"]


def test_without_the_alternate_the_s3_hrefs_download_with_the_s3_keys(
    local_catalogue, s3_endpoint, tmp_path
):
    with Proxy(local_catalogue.url, alter=_data_space(local_catalogue.url)) as proxy:
        config = _config(
            local_catalogue,
            proxy,
            S3_EndpointUrl=s3_endpoint,
            S3_AccessKey="terracat-test-access-key",
            S3_SecretKey="terracat-test-secret",
        )
        assert config.alternates == ()
        frame = Catalogue(config).search(TOC_URN, **QUERY)
        files = frame.terracat.files("data")
        assert files["href"].str.startswith(f"s3://{BUCKET}/").all()
        client = _s3._client(config)
        client.create_bucket(Bucket=BUCKET)
        for href in files["href"]:
            key = href.removeprefix(f"s3://{BUCKET}/")
            client.put_object(
                Bucket=BUCKET, Key=key, Body=_served(local_catalogue, f"/download/{key}")
            )
        report = frame.terracat.download(tmp_path, catalogue=Catalogue(config), progress=False)
        assert (report["status"] == "downloaded").all(), report[["status", "error"]]
        for row in report.itertuples():
            key = row.href.removeprefix(f"s3://{BUCKET}/")
            assert Path(row.path).read_bytes() == _served(local_catalogue, f"/download/{key}")


class _Files(HostileServer):
    """Another origin serving the local catalogue's files, recording who asked with a token."""

    def __init__(self, local: LocalCatalogue) -> None:
        super().__init__(self._file)
        self.local = local

    def _file(self, request: Request, connection: socket.socket) -> None:
        data = _served(self.local, request.path)
        if request.method == "HEAD":
            send(connection, 200, b"", {"Content-Length": str(len(data))})
            return
        send(connection, 200, data, {"Content-Type": "image/tiff"})


def test_auth_refs_never_send_the_token_beyond_the_token_hosts(local_catalogue, tmp_path):
    with _Files(local_catalogue) as elsewhere:
        alter = _data_space(local_catalogue.url, elsewhere=elsewhere.url("/"))
        with Proxy(local_catalogue.url, alter=alter) as proxy:
            config = _config(local_catalogue, proxy, Catalogue_Alternate="https")
            catalogue = Catalogue(config).authenticate_non_interactive("demo", "demo")
            frame = catalogue.search(TOC_URN, **QUERY)
            item = json.loads(frame["properties"].iloc[0])
            first = next(iter(item["assets"].values()))
            assert first["alternate"]["https"]["auth:refs"] == ["oidc"]  # it asks for the token
            report = frame.terracat.download(tmp_path, "all", progress=False)
        assert (report["status"] == "downloaded").all(), report[["status", "error"]]
        assert elsewhere.requests  # the first asset of each item came from there
        assert not any("authorization" in r.headers for r in elsewhere.requests)
