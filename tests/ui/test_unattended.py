"""The window with nobody at it (``--screenshot``) never waits on a question: a project whose
mixture moved, or a damaged project, ends in one line and exit 2, in bounded time."""

import shutil
import subprocess
import sys

import pytest

from maskstudio.annotation.project import save_project
from maskstudio.dsp.stft import STFTConfig
from maskstudio.editing.document import Document
from maskstudio.io.audiofile import load_audio


@pytest.fixture
def project(tmp_path, mixture_files, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    doc = Document(load_audio(mixture_files["mixture"]), STFTConfig(n_fft=512, hop_length=128))
    doc.add_layer("voice")
    path = save_project(doc, tmp_path / "take.msproj")
    doc.close()
    return path


def _screenshot(path, tmp_path):
    return subprocess.run([sys.executable, "-m", "maskstudio", str(path), "--screenshot",
                           str(tmp_path / "shot.png")], capture_output=True, text=True,
                          timeout=60)


@pytest.mark.parametrize("damage", ["moved mixture", "truncated project"])
def test_screenshot_of_a_project_it_cannot_open_says_so_and_exits(project, tmp_path,
                                                                  mixture_files, damage):
    if damage == "moved mixture":
        shutil.move(str(mixture_files["mixture"]), str(tmp_path / "gone.wav"))
    else:
        project.write_bytes(project.read_bytes()[:200])
    proc = _screenshot(project, tmp_path)  # before: waited forever on an invisible question
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("maskstudio")]  # not Qt's
    assert len(lines) == 1 and lines[0].startswith("maskstudio: error:"), proc.stderr
    assert "internal error" not in proc.stderr and not (tmp_path / "shot.png").exists()
