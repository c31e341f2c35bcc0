"""The numerical core must stay importable without Qt or an audio device."""

import pathlib
import subprocess
import sys

import maskstudio.core

CORE = pathlib.Path(maskstudio.core.__file__).parent
FORBIDDEN = ("PySide6", "pyqtgraph", "sounddevice", "shiboken6")


def test_core_imports_no_gui_or_audio_device():
    modules = sorted(f"maskstudio.core.{p.stem}" for p in CORE.glob("*.py")
                     if p.stem != "__init__")
    assert len(modules) >= 8
    code = ("import sys\n"
            + "".join(f"import {m}\n" for m in modules)
            + f"bad = [m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}]\n"
            "print(','.join(bad))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"maskstudio.core pulled in {out.stdout.strip()}"


def test_core_source_names_no_gui_or_audio_module():
    for path in CORE.glob("*.py"):
        text = path.read_text()
        for name in FORBIDDEN:
            assert f"import {name}" not in text and f"from {name}" not in text, path.name
