"""The install story of pyproject.toml: every dependency pinned in constraints.txt (so
`make run` and `make test` install what was tested), extras as the README names them."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def _requirements() -> list[tuple[str, Requirement]]:
    """(where, requirement) for every dependency and extra, the project itself left out."""
    found = [("dependencies", Requirement(text)) for text in PROJECT["dependencies"]]
    for extra, texts in PROJECT["optional-dependencies"].items():
        found += [(f"optional-dependencies.{extra}", Requirement(text)) for text in texts]
    return [(where, req) for where, req in found
            if canonicalize_name(req.name) != canonicalize_name(PROJECT["name"])]


def _pins() -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9._-]+)==(\S+)", line)
        assert match is not None, f"constraints.txt: {line!r} is not NAME==VERSION"
        pins[canonicalize_name(match.group(1))] = Version(match.group(2))
    return pins


def test_every_dependency_is_pinned_within_its_range() -> None:
    pins = _pins()
    problems = []
    for where, req in _requirements():
        pin = pins.get(canonicalize_name(req.name))
        if pin is None:
            problems.append(f"{where}: {req.name} is not in constraints.txt (run make lock)")
        elif not req.specifier.contains(pin, prereleases=True):
            problems.append(f"{where}: {req.name}=={pin} in constraints.txt is outside "
                            f"{req.specifier} (run make lock)")
    assert not problems, "\n".join(problems)


def test_running_needs_no_extra_and_the_extras_are_the_documented_ones() -> None:
    core = {canonicalize_name(Requirement(text).name) for text in PROJECT["dependencies"]}
    assert not core & {"matrix-nio", "asyncpg", "pytest", "playwright", "mypy", "atheris"}
    extras = PROJECT["optional-dependencies"]
    assert [Requirement(t).name for t in extras["matrix"]] == ["matrix-nio"]
    assert [Requirement(t).name for t in extras["postgres"]] == ["asyncpg"]
    assert Requirement(extras["all"][0]).extras == {"matrix", "postgres"}
    # The tests need every transport and database: `make test` installs them through dev.
    (dev,) = [Requirement(t).extras for t in extras["dev"]
              if Requirement(t).name == PROJECT["name"]]
    assert dev == {"test", "all"}


def test_license_is_an_spdx_expression() -> None:
    # A table (`{text = ...}`) is deprecated: setuptools warns on every build.
    assert PROJECT["license"] == "Apache-2.0"


def test_the_statusdesk_package_is_installed() -> None:
    find = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "statusdesk*" in find["packages"]["find"]["include"]
    assert (REPO / "statusdesk" / "__main__.py").is_file()


def test_both_make_targets_install_with_the_constraints() -> None:
    """`make run` installs '.' (no test or dev tools), `make test` '.[dev]'; both pinned."""
    makefile = (REPO / "Makefile").read_text()
    installs = [line.strip() for line in makefile.splitlines()
                if line.startswith("\t$(PIP_INSTALL)")]
    assert installs == ["$(PIP_INSTALL) .", "$(PIP_INSTALL) -e '.[dev]'"]
    assert re.search(r"^PIP_INSTALL := .*pip install .*-c constraints\.txt$", makefile, re.M)
    assert re.search(r"^run: \$\(RUN_STAMP\)$", makefile, re.M)
    assert re.search(r"^test: \$\(STAMP\) ", makefile, re.M)
