"""What is heard of a document: the transport's choices, and the playback renderer with the
export's checks (the oracle phase needs stems, the complex phase unedited cIRM layers)."""

import numpy as np
import pytest

from maskstudio.dsp.stft import STFTConfig
from maskstudio.editing.document import Document
from maskstudio.editing.edits import Box
from maskstudio.editing.hearing import HEARD_KEYS, heard_for, playback_renderer
from maskstudio.errors import MaskStudioError
from maskstudio.io.audiofile import AudioClip

from ..conftest import SR, clicks, harmonic

CFG = STFTConfig(n_fft=512, hop_length=128)


@pytest.fixture
def doc():
    n = SR // 2
    return Document(AudioClip(np.stack([harmonic(n), clicks(n)]), SR, None), CFG)


def test_each_choice_maps_to_what_it_plays(doc):
    sel = (Box(0, 10, 0, 10), np.ones((10, 10), np.float32))
    assert {heard_for(doc, key, 0, sel, False).kind for key in HEARD_KEYS} == {
        "mixture", "solo", "unmuted"}  # no layers: a layer or the residual plays the mixture
    doc.add_layer("voice")
    doc.add_layer("drums")
    doc.set_layer(0, solo=True)
    doc.set_layer(1, muted=True)
    assert heard_for(doc, "layer", 5, None, False).layers == (1,)  # the last layer, at most
    assert heard_for(doc, "solo", 0, None, False).layers == (0,)
    assert heard_for(doc, "unmuted", 0, None, False).layers == (1,)
    assert heard_for(doc, "residual", 0, sel, True).selection is sel
    assert heard_for(doc, "residual", 0, sel, False).selection is None
    assert heard_for(doc, "mixture", 0, sel, True).kind == "mixture"


def test_the_renderer_reads_the_layers_and_checks_the_phase(doc):
    assert playback_renderer(doc, "oracle").phase == "mixture"  # nothing to separate
    doc.add_layer("voice", np.full((doc.n_bins, doc.n_frames), 0.5, np.float32))
    r = playback_renderer(doc, "mixture", heard_for(doc, "layer", 0, None, False))
    assert r.heard.kind == "layer" and r.n_layers == 1
    out = r.render(SR // 4)
    assert out.shape == (2, SR // 4) and np.abs(out).max() > 0
    with pytest.raises(MaskStudioError, match="stems of voice: compute an oracle first"):
        playback_renderer(doc, "oracle")
    doc.references["voice"] = doc.clip.samples * 0.5
    assert playback_renderer(doc, "oracle").phase == "oracle"
    with pytest.raises(MaskStudioError, match="unedited complex"):
        playback_renderer(doc, "complex")
