"""The layout is an architecture: each package imports only the packages before it.

    base (errors, checks, reporting)  <  dsp  <  io  <  editing  <  annotation  <  demo  <  audio
    <  commands  <  ui  <  cli

A module may import its own package and any package earlier in the list, never a later one
(an "upward" import). Everything before ``audio`` imports neither Qt nor sounddevice. The checker
reads the source with :mod:`ast`, so imports inside functions count as much as those at the top.
"""

from __future__ import annotations

import ast
import pathlib
import shutil
import subprocess
import sys

import pytest

import maskstudio

PACKAGE = pathlib.Path(maskstudio.__file__).parent

#: The rooms in import order. A module's room is its subpackage, or its own name at the top.
ORDER = ["__init__", "errors", "checks", "reporting", "dsp", "io", "editing", "annotation",
         "demo", "audio", "commands", "ui", "cli", "__main__"]
#: The base modules share one level: they may import each other (checks and reporting need errors).
LEVEL = {name: (0 if name in ("__init__", "errors", "checks", "reporting") else ORDER.index(name))
         for name in ORDER}
HEADLESS = ("dsp", "io", "editing", "annotation")
FORBIDDEN = ("PySide6", "pyqtgraph", "sounddevice", "shiboken6")


def room(module: str) -> str:
    """``maskstudio.io.npz`` -> ``io``; ``maskstudio.cli`` -> ``cli``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imported_modules(path: pathlib.Path, module: str, known: set[str]) -> list[tuple[int, str]]:
    """Every ``maskstudio`` module that ``path`` imports, with its line, relative ones resolved."""
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            # ``from maskstudio.io import npz`` imports the module maskstudio.io.npz;
            # ``from maskstudio import __version__`` imports a name of maskstudio itself
            found += [(node.lineno, f"{target}.{a.name}" if f"{target}.{a.name}" in known
                       else target) for a in node.names]
    return [(line, name) for line, name in found
            if name == "maskstudio" or name.startswith("maskstudio.")]


def modules(root: pathlib.Path) -> dict[str, pathlib.Path]:
    out = {}
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root.parent).with_suffix("")
        name = ".".join(rel.parts)
        out[name.removesuffix(".__init__")] = path
    return out


def upward_imports(root: pathlib.Path) -> list[str]:
    """Each import of a later room, or of a room the order does not know, as a readable line."""
    bad = []
    found = modules(root)
    for module, path in found.items():
        here = room(module)
        if here not in LEVEL:
            bad.append(f"{module}: a room the import order does not list ({here})")
            continue
        for line, target in imported_modules(path, module, set(found)):
            there = room(target)
            if there not in LEVEL:
                bad.append(f"{path.name}:{line} imports {target}, a room the order does not list")
            elif LEVEL[there] > LEVEL[here]:
                bad.append(f"{module} ({here}) line {line} imports {target} ({there}), "
                           "which comes after it")
    return bad


def test_no_module_imports_a_later_room():
    assert upward_imports(PACKAGE) == []


def test_every_room_is_in_the_order():
    rooms = {room(m) for m in modules(PACKAGE)}
    assert rooms <= set(ORDER), rooms - set(ORDER)
    assert {"dsp", "io", "editing", "annotation", "audio", "ui"} <= rooms


@pytest.mark.parametrize("module, injected", [
    ("dsp/stft.py", "from maskstudio.editing.document import Document\n"),
    ("io/npz.py", "    from maskstudio.annotation import project\n"),  # inside a function
    ("editing/document.py", "from ..ui import workers\n"),               # relative
    ("annotation/project.py", "import maskstudio.audio.player\n"),
    ("checks.py", "from maskstudio.dsp import stft\n"),
])
def test_the_checker_fails_on_an_upward_import(tmp_path, module, injected):
    """The test above is only worth something if an upward import makes it fail."""
    copy = tmp_path / "maskstudio"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert upward_imports(copy) == []
    target = copy / module
    text = target.read_text()
    if injected.startswith(" "):
        injected = "def _sneaky():\n" + injected
    target.write_text(text + "\n" + injected)
    bad = upward_imports(copy)
    assert len(bad) == 1 and module.split("/")[0].removesuffix(".py") in bad[0], bad


def test_headless_rooms_import_no_gui_or_audio_device():
    names = sorted(m for m in modules(PACKAGE)
                   if room(m) in HEADLESS or LEVEL.get(room(m)) == 0)
    assert len(names) >= 30
    code = ("import sys\n"
            + "".join(f"import {m}\n" for m in names)
            + f"bad = [m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}]\n"
            "print(','.join(bad))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"a headless room pulled in {out.stdout.strip()}"


#: The most lines a module may have (DESIGN: 100-400 is the aim; split before 500).
MAX_LINES = 500


def test_no_module_is_over_500_lines():
    long = {m: n for m, p in modules(PACKAGE).items()
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}, f"split these along a real seam: {long}"


def crossed_privates(root: pathlib.Path) -> list[str]:
    """Private names (one leading underscore) taken from another maskstudio module: imported
    (``from maskstudio.x import _helper``) or reached through an imported module
    (``stft._helper``). A module's privates are its own; what others need is made public."""
    bad = []
    for module, path in modules(root).items():
        tree = ast.parse(path.read_text(), str(path))
        aliases = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.level or (
                    node.module or "").startswith("maskstudio")):
                for a in node.names:
                    private = a.name.startswith("_") and not a.name.startswith("__")
                    if private:
                        bad.append(f"{module} line {node.lineno} imports {a.name}")
                    aliases.add(a.asname or a.name)
            elif isinstance(node, ast.Import):
                aliases |= {(a.asname or a.name).split(".")[0] for a in node.names
                            if a.name.startswith("maskstudio")}
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                    and node.value.id in aliases and node.attr.startswith("_") \
                    and not node.attr.startswith("__"):
                bad.append(f"{module} line {node.lineno} reads {node.value.id}.{node.attr}")
    return bad


def test_no_module_takes_another_modules_privates():
    assert crossed_privates(PACKAGE) == []


@pytest.mark.parametrize("module, injected", [
    ("editing/spectrogram.py", "from maskstudio.dsp.stft import _check_peak\n"),
    ("ui/app.py", "from maskstudio.io import npz\nX = npz._read\n"),
])
def test_the_checker_fails_on_a_crossed_private(tmp_path, module, injected):
    copy = tmp_path / "maskstudio"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    target = copy / module
    target.write_text(target.read_text() + "\n" + injected)
    bad = crossed_privates(copy)
    assert len(bad) == 1 and ("_check_peak" in bad[0] or "npz._read" in bad[0]), bad
