"""Exit 0 when this virtualenv holds the project and every requirement it declares (with the
extras named on the command line), at a version that satisfies pyproject.toml, and the program
imports; else print what is missing and exit 1. scripts/setup.sh runs it instead of trusting a
stamp file: a package removed or downgraded after the install is noticed on the next run."""

import importlib.metadata as md
import sys
import tomllib
from pathlib import Path

from pip._vendor.packaging.requirements import Requirement  # pip is in every venv

ROOT = Path(__file__).resolve().parents[1]


def problems(extras: list[str]) -> list[str]:
    """What is missing or off, one line each."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = list(project["dependencies"])
    for extra in extras:
        wanted += project["optional-dependencies"][extra]
    found = []
    try:
        md.distribution(project["name"])
    except md.PackageNotFoundError:
        found.append(f"{project['name']} itself is not installed")
    for line in wanted:
        req = Requirement(line)
        try:
            version = md.version(req.name)
        except md.PackageNotFoundError:
            found.append(f"{req.name}: not installed")
            continue
        if req.specifier and not req.specifier.contains(version, prereleases=True):
            found.append(f"{req.name} {version} does not satisfy {req.specifier}")
        for extra in req.extras:  # e.g. sqlalchemy[asyncio] -> greenlet
            for sub in md.requires(req.name) or []:
                sub_req = Requirement(sub)
                if sub_req.marker and sub_req.marker.evaluate({"extra": extra}) and \
                        not sub_req.marker.evaluate({"extra": ""}):
                    try:
                        md.version(sub_req.name)
                    except md.PackageNotFoundError:
                        found.append(f"{sub_req.name} (for {req.name}[{extra}]): not installed")
    if not found:
        try:
            import grid.api.app  # noqa: F401  the program's whole import graph
            import grid.cli  # noqa: F401
        except ImportError as exc:
            found.append(f"import failed: {exc}")
    return found


if __name__ == "__main__":
    missing = problems(sys.argv[1:])
    for line in missing:
        print(f"    {line}")
    sys.exit(1 if missing else 0)
