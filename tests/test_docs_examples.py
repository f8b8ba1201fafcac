"""Every shell and Python example of README.md and docs/guide runs, so that none can rot.

Each document runs in a subprocess of its own (this file run as a script): a local catalogue of
the demo store, a fresh working directory, and the document's examples in their order, the
Python ones in one namespace as a reader types them into one session, the shell ones with
bash. What a reader would have done first is done for them, and said here:

- the local catalogue is the catalogue: ``http://127.0.0.1:8080/`` (``terracat serve --demo
  --port 8080``) is rewritten to its address, a command that names no catalogue (``--url``,
  ``--config``) gets it as ``$TERRACAT_URL``, and Python's default catalogue is it;
- Python's default catalogue is signed in as the demo user ("Signing in"), and the token cache
  holds that sign-in, as after ``terracat login``: ``--login`` finds it (the local catalogue's
  own identity provider, which ``--url`` and ``$TERRACAT_URL`` sign in at);
- an ``ini`` block whose first line is ``; NAME.ini`` is that file in the working directory;
- ``curl`` fails on an HTTP error (``--fail``), so a refused request is a failed example.

Examples that cannot run here are listed in :data:`EXCLUDED` with the reason; a test checks
that each still names an example, so the list shrinks with the docs and never hides one.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs" / "guide").glob("*.rst"))]
LOCAL_ADDRESS = "http://127.0.0.1:8080/"
PYTHON = ("python", "pycon")
SHELL = ("sh", "bash", "shell", "console")

REAL_TERRASCOPE = "needs network: the real Terrascope catalogue (Catalogue() is its default)"
EXCLUDED: dict[tuple[str, str], str] = {
    ("README.md", "python3 -m venv .venv"): "installs the package into a new venv (CI does)",
    ("README.md", "terracat login "): "interactive: a browser or a device code",
    ("README.md", "terracat serve --demo  "): "runs until stopped: the local catalogue is it",
    ("README.md", "terracat serve --demo --port 8080"): "runs until stopped: the local one is it",
    ("README.md", "terracat serve --store"): "runs until stopped",
    ("README.md", "catalogue.authenticate()"): "interactive sign-in, placeholder credentials",
    ("README.md", "opensearch = Catalogue()"): REAL_TERRASCOPE,
    ("README.md", "'.[bench]'"): "installs the bench extra",
    ("README.md", "benchmarks.search_speed"): "a benchmark: a minute or more",
    ("README.md", "benchmarks.download_speed"): "a benchmark: a minute or more",
    ("README.md", "benchmarks.stac_speed"): "a benchmark against the STAC peers: minutes",
    ("README.md", "benchmarks.stac_parse"): "a benchmark: needs the bench extra's peers",
    (
        "README.md",
        "benchmarks.sync_speed",
    ): "a benchmark: a minute or more (its smallest form runs in tests/test_benchmarks_sync.py)",
    ("README.md", "import terracat.dask"): "a day of Sentinel-1 since 2020 into out/: minutes",
    ("cli.rst", "terracat download [COLLECTION] DIRECTORY"): "a synopsis, not a command",
    ("cli.rst", "terracat sync COLLECTION DIRECTORY"): "a synopsis, not a command",
    ("cli.rst", "terracat login --device"): "interactive: a code confirmed from another device",
    ("downloading.rst", "catalogue = terracat.Catalogue()"): REAL_TERRASCOPE,
    ("local-catalogue.rst", "terracat serve --demo --port 8080"): "runs until stopped",
    ("moving-to-stac.rst", "opensearch = Catalogue()"): REAL_TERRASCOPE,
    ("reference-client.rst", "from terracatalogueclient import"): (
        "the reference client is not installed; and an interactive sign-in on Terrascope"
    ),
    ("searching.rst", "CatalogueEnvironment.HRVPP"): "needs network: the real HR-VPP catalogue",
    ("searching.rst", "stac.dataspace.copernicus.eu"): "needs network: the Copernicus Data Space",
    ("signing-in.rst", "catalogue.authenticate()"): "interactive sign-in on the real Terrascope",
    ("signing-in.rst", 'terracat.login("alice", password)'): "placeholder credentials",
}

CONTEXT: dict[tuple[str, str], tuple[str, ...]] = {
    # a fragment of a test: the guide says it runs with these names bound
    ("local-catalogue.rst", "local.faults.set("): ("local", "catalogue"),
}


@dataclass
class Example:
    document: str
    line: int
    language: str  # "python", "pycon", "shell" or "ini"
    code: str

    def named(self, pairs: dict[tuple[str, str], object]) -> object | None:
        for (document, snippet), value in pairs.items():
            if document == self.document and snippet in self.code:
                return value
        return None


_FENCE = re.compile(r"^```(\w*)\s*$")
_DIRECTIVE = re.compile(r"^\.\. code-block::\s*(\w+)\s*$")


def _kind(language: str) -> str | None:
    if language in PYTHON:
        return language
    if language in SHELL:
        return "shell"
    return "ini" if language == "ini" else None


def markdown_blocks(text: str, document: str) -> list[Example]:
    found, lines, open_at, language = [], text.splitlines(), None, ""
    for number, line in enumerate(lines, 1):
        fence = _FENCE.match(line.strip())
        if fence and open_at is None:
            open_at, language = number, fence.group(1)
        elif line.strip() == "```" and open_at is not None:
            kind = _kind(language)
            if kind:
                body = textwrap.dedent("\n".join(lines[open_at : number - 1]))
                found.append(Example(document, open_at + 1, kind, body))
            open_at = None
    return found


def rst_blocks(text: str, document: str) -> list[Example]:
    found, lines = [], text.splitlines()
    for number, line in enumerate(lines, 1):
        directive = _DIRECTIVE.match(line)
        kind = _kind(directive.group(1)) if directive else None
        if not kind:
            continue
        body = []
        for following in lines[number:]:
            if following.strip() and not following.startswith((" ", "\t")):
                break
            body.append(following)
        blank = next((i for i, text in enumerate(body) if text.strip()), 0)
        code = textwrap.dedent("\n".join(body)).strip("\n")
        found.append(Example(document, number + 1 + blank, kind, code))
    return found


def commands(example: Example) -> list[Example]:
    """A shell block's commands, continuation lines joined; console output lines left out."""
    console = any(line.startswith("$ ") for line in example.code.splitlines())
    found: list[Example] = []
    pending: list[str] = []
    for offset, line in enumerate(example.code.splitlines()):
        if not pending:
            if console and not line.startswith("$ "):
                continue  # what the command printed
            if not line.strip():
                continue
            line = line[2:] if console else line
            start = example.line + offset
        pending.append(line)
        if not line.rstrip().endswith("\\"):
            found.append(Example(example.document, start, "shell", "\n".join(pending)))
            pending = []
    return found


def examples(path: Path) -> list[Example]:
    """The document's runnable examples in order: Python blocks, shell commands, ini files."""
    text = path.read_text()
    name = path.name
    blocks = markdown_blocks(text, name) if path.suffix == ".md" else rst_blocks(text, name)
    return [
        one
        for block in blocks
        for one in (commands(block) if block.language == "shell" else [block])
        if one.language != "ini" or _ini_name(one.code)  # a configuration shown, not a file
    ]


def _ini_name(code: str) -> str | None:
    """``local.ini`` for an ini block whose first line is ``; local.ini``."""
    first = code.splitlines()[0] if code else ""
    return first[2:].strip() if first.startswith("; ") and first.endswith(".ini") else None


def pycon_to_python(code: str) -> str:
    """A pycon block as Python: each statement run, an expected traceback checked."""
    statements: list[tuple[str, list[str]]] = []
    for line in code.splitlines():
        if line.startswith(">>> "):
            statements.append((line[4:], []))
        elif line.startswith("... ") and statements and not statements[-1][1]:
            statements[-1] = (statements[-1][0] + "\n" + line[4:], [])
        elif statements:
            statements[-1][1].append(line)
    out = []
    for statement, shown in statements:
        if shown and shown[0].startswith("Traceback"):
            out.append(f"_expect_raises({statement!r}, {shown[-1].strip()!r})")
        else:
            out.append(statement)
    return "\n".join(out)


# ---- the tests -------------------------------------------------------------------------------


def _all_examples() -> list[Example]:
    return [example for path in DOCUMENTS for example in examples(path)]


def test_the_examples_are_found_in_every_document():
    found = _all_examples()
    assert {e.document for e in found} == {p.name for p in DOCUMENTS}
    assert sum(e.language == "shell" for e in found) >= 20
    assert sum(e.language in PYTHON for e in found) >= 20
    run = [e for e in found if not e.named(EXCLUDED)]
    assert (
        sum(e.language == "shell" for e in run) >= 12
        and sum(e.language in PYTHON for e in run) >= 12
    )


def test_every_exclusion_still_names_an_example():
    found = _all_examples()
    stale = [key for key in EXCLUDED if not any(e.named({key: True}) for e in found)]
    assert not stale, f"these exclusions name no example any more: {stale}"
    assert not [key for key in CONTEXT if not any(e.named({key: True}) for e in found)]


def test_no_curl_example_trips_on_brackets():
    """curl reads [] and {} as globs: an example with them needs -g (or encoded brackets)."""
    for example in _all_examples():
        url = re.search(r"https?://[^\s'\"]+", example.code)
        if example.code.startswith("curl ") and url and re.search(r"[\[\]{}]", url.group()):
            assert example.code.startswith("curl -g "), (example.document, example.line)


import pytest  # noqa: E402 - the runner below needs no pytest


@pytest.fixture(scope="module")
def document_runs(tmp_path_factory):
    """Every document's runner, started at once: the wall time is the slowest one's."""
    logs = tmp_path_factory.mktemp("docs")
    env = {k: v for k, v in os.environ.items() if k != "TERRACAT_URL"}
    env["TQDM_DISABLE"] = "1"  # progress bars are not what is checked
    started = {}
    for path in RUNNABLE:
        log = (logs / f"{path.name}.log").open("w")
        process = subprocess.Popen(
            [sys.executable, __file__, str(path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        started[path.name] = (process, log)
    yield {name: (process, Path(log.name)) for name, (process, log) in started.items()}
    for process, log in started.values():
        process.kill()
        process.wait()
        log.close()


RUNNABLE = [p for p in DOCUMENTS if any(not e.named(EXCLUDED) for e in examples(p))]


@pytest.mark.timeout(
    300
)  # the first waits for all runners: ~40 s on an idle machine, not 120 s loaded
@pytest.mark.parametrize("path", RUNNABLE, ids=[p.name for p in RUNNABLE])
def test_the_examples_of_a_document_run(document_runs, path):
    process, log = document_runs[path.name]
    returncode = process.wait(timeout=300)
    told = log.read_text()
    assert returncode == 0, told[-6000:]
    summary = json.loads(told.strip().splitlines()[-1])
    assert summary["ran"] >= 1 and summary["ran"] + summary["excluded"] == summary["found"]


# ---- the runner (this file as a script) ------------------------------------------------------


def _expect_raises(statement: str, expected: str, namespace: dict) -> None:
    try:
        exec(statement, namespace)
    except Exception as error:
        got = f"{type(error).__module__}.{type(error).__qualname__}: {error}"
        assert got == expected, f"raised {got!r}, the docs show {expected!r}"
    else:
        raise AssertionError(f"{statement!r} raised nothing; the docs show {expected!r}")


def _shell(command: str, workdir: Path, env: dict[str, str]) -> None:
    strict = 'curl() { command curl --fail --silent --show-error "$@"; }\n'
    ran = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", strict + command],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        stdin=subprocess.DEVNULL,
    )
    if ran.returncode != 0:
        raise AssertionError(f"exit {ran.returncode}\n{ran.stdout[-2000:]}\n{ran.stderr[-2000:]}")


def run(path: Path) -> int:
    import terracat
    from terracat.server import LocalCatalogue

    found = examples(path)
    ran = excluded = 0
    with LocalCatalogue() as local, tempfile.TemporaryDirectory() as scratch:
        workdir = Path(scratch)
        (workdir / ".venv").symlink_to(sys.prefix)  # .venv/bin/terracat, as after installing
        env = {
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "XDG_CACHE_HOME": str(workdir / "cache"),
        }
        os.environ["XDG_CACHE_HOME"] = env["XDG_CACHE_HOME"]
        catalogue = terracat.Catalogue(local.config())
        catalogue.authenticate_non_interactive("demo", "demo", cache=True)
        terracat.set_default_catalogue(catalogue)
        namespace: dict = {"_expect_raises": lambda s, e: _expect_raises(s, e, namespace)}
        os.chdir(workdir)
        for example in found:
            if example.named(EXCLUDED):
                excluded += 1
                continue
            code = example.code.replace(LOCAL_ADDRESS, local.url)
            began = time.perf_counter()
            try:
                if example.language == "ini":
                    (workdir / str(_ini_name(code))).write_text(code)
                elif example.language == "shell":
                    named = "--url" in code or "--config" in code
                    _shell(code, workdir, env if named else {**env, "TERRACAT_URL": local.url})
                else:
                    for name in example.named(CONTEXT) or ():
                        namespace[name] = {"local": local, "catalogue": catalogue}[name]
                    python = pycon_to_python(code) if example.language == "pycon" else code
                    exec(compile(python, f"{example.document}:{example.line}", "exec"), namespace)
            except BaseException:
                print(f"FAILED {example.document}:{example.line}\n{example.code}", flush=True)
                traceback.print_exc()
                return 1
            ran += 1
            took = time.perf_counter() - began
            print(f"ok {example.document}:{example.line} {took:.1f} s", flush=True)
    print(json.dumps({"found": len(found), "ran": ran, "excluded": excluded}))
    return 0


if __name__ == "__main__":
    sys.exit(run(Path(sys.argv[1])))
