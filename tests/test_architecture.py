"""The house rules of issue 21, checked: layers only import downwards, no import circles, `ginr_core` never imports
streamlit, each subpackage declares its public names (and the README's list agrees), pages and tests use only those.

The import graph comes from grimp (the library behind import-linter), which reads the source without importing it.
"""
import ast
import importlib
import re
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "ginr_core"
# The library's subpackages (the `cli` package is the command line's entry point, not an API to import from)
SUBPACKAGES = sorted(p.parent.name for p in PACKAGE.glob("*/__init__.py") if p.parent.name != "cli")

# Highest first; a layer may import the ones below it, never one above. `viz` draws meshes for runs, tasks, the CLI
# and the pages, so it sits just below runs (test_viz_reads_only_meshes keeps it from reading io, data or learning).
LAYERS = ("cli", "tasks", "runs", "viz", "learning", "data", "io", "geometry")
BOTTOM = ("storage", "settings", "errors")


@pytest.fixture(scope="module")
def graph():
    return grimp.build_graph("ginr_core", include_external_packages=True, cache_dir=None)


def layer_of(module: str) -> str:
    return module.split(".")[1] if "." in module else ""


def test_layers_import_only_downwards(graph):
    layers = [grimp.Layer(name) for name in LAYERS] + [grimp.Layer(*BOTTOM, independent=False)]
    illegal = graph.find_illegal_dependencies_for_layers(layers=layers, containers={"ginr_core"})
    routes = sorted(f"{dep.importer} -> {dep.imported}: {[list(route.heads), list(route.tails)]}"
                    for dep in illegal for route in dep.routes)
    assert not routes, "imports from a lower layer up to a higher one:\n" + "\n".join(routes)


def test_every_subpackage_has_a_layer():
    assert set(SUBPACKAGES) | {"cli", "settings", "errors"} == set(LAYERS) | set(BOTTOM)


def test_viz_reads_only_meshes(graph):
    allowed = {"viz", "geometry", *BOTTOM}
    upward = sorted(f"{m} -> {t}" for m in graph.find_descendants("ginr_core.viz")
                    for t in graph.find_modules_directly_imported_by(m)
                    if t.startswith("ginr_core.") and layer_of(t) not in allowed)
    assert not upward


def import_circles(graph) -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iteratively)."""
    modules = sorted(m for m in graph.modules if m.split(".")[0] == "ginr_core")
    index, low, stack, on_stack, circles = {}, {}, [], set(), []
    for root in modules:
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next((c for c in children if c.startswith("ginr_core")), None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        circles.append(component)
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return circles


def test_no_import_circles():
    # an import made for annotations only (under TYPE_CHECKING: the interpolation networks name the problem type
    # that runs them) runs nothing, so it closes no circle; the layer test above still counts it
    circles = import_circles(grimp.build_graph("ginr_core", exclude_type_checking_imports=True, cache_dir=None))
    assert circles == []


def test_the_circle_finder_finds_a_circle():
    graph = grimp.ImportGraph()
    for a, b in [("ginr_core.a", "ginr_core.b"), ("ginr_core.b", "ginr_core.c"), ("ginr_core.c", "ginr_core.a"),
                 ("ginr_core.c", "ginr_core.d")]:
        graph.add_import(importer=a, imported=b)
    assert import_circles(graph) == [{"ginr_core.a", "ginr_core.b", "ginr_core.c"}]


def test_ginr_core_never_imports_streamlit_or_the_pages(graph):
    for outside in ("streamlit", "pages", "app"):
        if outside in graph.modules:
            assert graph.find_modules_that_directly_import(outside) == set(), outside


def test_importing_the_packages_stays_cheap():
    """The re-exports load on first use: importing every subpackage imports neither torch nor streamlit."""
    code = ("import sys, ginr_core, " + ", ".join(f"ginr_core.{p}" for p in SUBPACKAGES)
            + "; print(sorted(m for m in ('torch', 'streamlit', 'ray', 'plotly') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def declared(subpackage: str) -> dict[str, tuple[str, ...]]:
    return importlib.import_module(f"ginr_core.{subpackage}").PUBLIC_NAMES


def modules_of(subpackage: str) -> set[str]:
    """The modules (and packages) a subpackage holds."""
    folder = PACKAGE / subpackage
    return {p.stem for p in folder.glob("*.py") if p.stem != "__init__"} | {p.parent.name for p in folder.glob("*/__init__.py")}


@pytest.mark.parametrize("subpackage", SUBPACKAGES)
def test_each_subpackage_declares_names_that_exist(subpackage):
    package = importlib.import_module(f"ginr_core.{subpackage}")
    modules = modules_of(subpackage)
    assert set(package.PUBLIC_NAMES) <= modules
    for module, names in package.PUBLIC_NAMES.items():
        source = importlib.import_module(f"ginr_core.{subpackage}.{module}")
        assert [n for n in names if n.startswith("_") or not hasattr(source, n)] == [], module
        for name in set(names) & set(package.__all__):
            assert getattr(package, name) is getattr(source, name)
    assert not any(name.startswith("_") for name in package.__all__)


def readme_rows() -> dict[str, tuple[list[str], list[str]]]:
    text = (REPO / "README.md").read_text()
    rows = re.findall(r"^\| `(\w+)` \| (.*?) \| (.*?) \|$", text, re.M)
    return {package: (re.findall(r"`(\w+)`", modules), re.findall(r"`([\w.]+)`", names))
            for package, modules, names in rows if package in SUBPACKAGES}


def test_the_readme_lists_the_declared_names():
    rows = readme_rows()
    assert set(rows) == set(SUBPACKAGES)
    for subpackage, (modules, names) in rows.items():
        assert set(modules) == modules_of(subpackage), subpackage
        public = importlib.import_module(f"ginr_core.{subpackage}").__all__
        for name in names:
            module, _, short = name.rpartition(".")
            assert (short in declared(subpackage)[module]) if module else (name in public), f"{subpackage}: {name}"


def test_the_readme_examples_import_public_names():
    text = (REPO / "README.md").read_text()
    imports = re.findall(r"^from (ginr_core[\w.]*) import (.+)$", text, re.M)
    assert imports
    for module, names in imports:
        for name in (n.strip() for n in names.split(",")):
            assert public_name(module, name), f"from {module} import {name}"


def public_name(module: str, name: str) -> bool:
    """Whether `name` is public where `from module import name` takes it: declared by the subpackage (or, in the
    modules without one, `errors`, `settings` and `cli`, not starting with an underscore)."""
    parts = module.split(".")
    if name.startswith("_"):
        return False
    if len(parts) < 2 or parts[1] not in SUBPACKAGES:
        return True
    if len(parts) == 2:
        return name in importlib.import_module(module).__all__
    return name in declared(parts[1]).get(parts[2], ())


def ginr_imports(path: Path):
    """(line, module, name) of each name a file takes from ginr_core, and of each `alias._private` attribute it reads
    from a ginr_core module it imported."""
    tree = ast.parse(path.read_text())
    aliases = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ginr_core"):
            for alias in node.names:
                yield node.lineno, node.module, alias.name
                if f"{node.module}.{alias.name}".count(".") >= 2:
                    aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Import):
            aliases.update({a.asname: a.name for a in node.names if a.asname and a.name.startswith("ginr_core")})
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
            module = aliases[node.value.id]
            if node.attr.startswith("_") and not node.attr.startswith("__"):
                yield node.lineno, module, node.attr


def test_pages_import_only_public_names():
    files = [REPO / "app.py", *sorted((REPO / "pages").rglob("*.py"))]
    private = [f"{path.relative_to(REPO)}:{line} {module}.{name}" for path in files
               for line, module, name in ginr_imports(path) if not public_name(module, name)]
    assert private == []


def test_tests_use_no_private_names():
    files = sorted((REPO / "tests").glob("*.py")) + sorted((REPO / "bench").glob("*.py"))
    private = [f"{path.relative_to(REPO)}:{line} {module}.{name}" for path in files
               for line, module, name in ginr_imports(path) if name.startswith("_")]
    in_strings = [f"{path.relative_to(REPO)}: {line}" for path in files  # code a test runs in a subprocess
                  for line in re.findall(r"from ginr_core[\w.]* import .*\b_[a-z]\w*", path.read_text())]
    assert private + in_strings == []
