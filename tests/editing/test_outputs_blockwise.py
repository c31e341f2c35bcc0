"""The window's export of every phase mode goes through the command line's block-wise renderer:
no layer is made whole, and the files are the whole-array render's (the iterative phases to
their chunking)."""

import numpy as np
import pytest
import soundfile as sf

from maskstudio.dsp.metrics import si_sdr
from maskstudio.editing.outputs import mask_set
from maskstudio.editing.tiles import TiledMasks
from maskstudio.io.export import render
from maskstudio.io.npz import read_mask_file

from .test_document import _stream_doc


@pytest.mark.parametrize("phase, per_channel", [("misi", False), ("hybrid", True),
                                                ("fgla", False), ("mwf", True)])
def test_iterative_phases_export_from_the_tiles_close_to_the_whole_render(
        two_sources, tmp_path, monkeypatch, phase, per_channel):
    doc = _stream_doc(two_sources, per_channel)
    masks = mask_set(doc)
    kw = dict(n_iter=3) if phase == "fgla" else {}
    whole = render(doc.clip, masks, doc.config, phase=phase, **kw)

    def no_dense(*a, **k):
        raise AssertionError("export made a layer whole")
    monkeypatch.setattr(TiledMasks, "dense", no_dense)
    written = doc.export(tmp_path / "out", phase=phase, **kw)
    got = np.stack([sf.read(str(p), dtype="float32", always_2d=True)[0].T
                    for p in written[:-1]])
    assert got.shape == whole.shape
    mix, refs = two_sources
    for i, ref in enumerate(refs):
        r = ref if not per_channel else np.concatenate([ref, 0.5 * ref])
        assert si_sdr(r, got[i]) > si_sdr(r, whole[i]) - 0.2
    if phase != "fgla":  # MISI keeps the sum
        np.testing.assert_allclose(got.sum(axis=0), doc.clip.samples, atol=1e-5)
    np.testing.assert_array_equal(read_mask_file(written[-1]).data, masks.data)
