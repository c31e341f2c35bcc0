"""Stem subsets (``--mix NAME=a+b``): parsed against the layers, written beside the sources as
the sum of the rendered signals, through the real command line."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from maskstudio.cli import main
from maskstudio.errors import ParameterError
from maskstudio.io.audiofile import load_audio
from maskstudio.io.stems import parse_mix, parse_mixes

from ..conftest import SR, clicks, harmonic, noise

NAMES = ["vocals", "drums", "bass", "lead-vox"]


@pytest.mark.parametrize("spec, name, weights, mixture", [
    ("rhythm=drums+bass", "rhythm", (0, 1, 1, 0, 0), 0),
    ("karaoke=mixture-vocals", "karaoke", (-1, 0, 0, 0, 0), 1),
    ("k=Mixture - VOCALS", "k", (-1, 0, 0, 0, 0), 1),
    ("x=lead-vox", "x", (0, 0, 0, 1, 0), 0),          # a hyphen inside a name
    ("y=lead-vox-drums", "y", (0, -1, 0, 1, 0), 0),
    ("z=-drums+mixture", "z", (0, -1, 0, 0, 0), 1),
    ("r=residual+bass", "r", (0, 0, 1, 0, 1), 0),
    ("m=mixture", "m", (0, 0, 0, 0, 0), 1),
])
def test_specs(spec, name, weights, mixture):
    mix = parse_mix(spec, NAMES)
    assert mix.name == name and mix.weights == tuple(float(w) for w in weights)
    assert mix.mixture == mixture


@pytest.mark.parametrize("spec, match", [
    ("rhythm", "NAME=a"), ("=drums", "NAME=a"), ("r=", "NAME=a"), ("r=drums+", "no layer ''"),
    ("r=guitar", "no layer 'guitar'"), ("r=drums bass", "no layer"),
    ("r=drums-drums", "sums to nothing"), ("drums=bass", "name of a source"),
    ("mixture=bass", "reserved"), ("../up=bass", "--mix"), ("residual=bass", "reserved"),
])
def test_bad_specs_are_one_clear_line(spec, match):
    with pytest.raises(ParameterError, match=match) as err:
        parse_mix(spec, NAMES)
    assert "\n" not in str(err.value)


def test_a_subset_named_twice_is_refused():
    with pytest.raises(ParameterError, match="twice"):
        parse_mixes(["a=drums", "A=bass"], NAMES)


@pytest.fixture
def three(tmp_path, write_wav):
    n = SR * 2
    voice, drums, hum = harmonic(n)[None], clicks(n)[None], noise(n)[None]
    return dict(mix=write_wav("mix.wav", voice + drums + hum),
                voice=write_wav("stems/voice.wav", voice),
                drums=write_wav("stems/drums.wav", drums), out=tmp_path / "out")


@pytest.mark.parametrize("phase", ["mixture", "misi", "mwf"])
def test_oracle_writes_the_subsets_as_sums_of_what_it_writes(three, phase, capsys):
    s = three
    assert main(["oracle", str(s["mix"]), "--source", f"voice={s['voice']}", "--source",
                 f"drums={s['drums']}", "--mask", "wiener", "--phase", phase, "--n-iter", "2",
                 "--mix", "minus-voice=mixture-voice", "--mix", "both=voice+drums",
                 "--out", str(s["out"])]) == 0
    out = s["out"]
    got = {n: load_audio(out / f"{n}.wav").samples
           for n in ("voice", "drums", "residual", "minus-voice", "both")}
    np.testing.assert_allclose(got["both"], got["voice"] + got["drums"], atol=1e-4)
    np.testing.assert_allclose(got["minus-voice"], got["drums"] + got["residual"], atol=1e-4)
    printed = capsys.readouterr().out
    assert "minus-voice.wav" in printed and "both.wav" in printed


def test_separate_writes_subsets_and_checks_them_before_rendering(three, tmp_path, capsys):
    s = three
    assert main(["oracle", str(s["mix"]), "--source", f"voice={s['voice']}", "--source",
                 f"drums={s['drums']}", "--mask", "ibm", "--out", str(s["out"])]) == 0
    again = tmp_path / "again"
    assert main(["separate", str(s["mix"]), "--masks", str(s["out"] / "masks.npz"),
                 "--mix", "karaoke=mixture-voice", "--out", str(again)]) == 0
    mix = load_audio(s["mix"]).samples
    voice = load_audio(again / "voice.wav").samples
    np.testing.assert_allclose(load_audio(again / "karaoke.wav").samples, mix - voice,
                               atol=1e-4)
    capsys.readouterr()
    bad = tmp_path / "bad"
    assert main(["separate", str(s["mix"]), "--masks", str(s["out"] / "masks.npz"),
                 "--mix", "k=mixture-guitar", "--out", str(bad)]) == 2
    assert "no layer 'guitar'" in capsys.readouterr().err and not bad.exists()


def test_the_term_mixture_is_the_mixture_even_where_masks_overlap(three, capsys):
    """IRM masks overlap (their sum passes one), so the clipped residual and the sources add
    up to more than the mixture: the term ``mixture`` is the file's own samples."""
    s = three
    assert main(["oracle", str(s["mix"]), "--source", f"voice={s['voice']}", "--source",
                 f"drums={s['drums']}", "--mask", "irm", "--mix", "karaoke=mixture-voice",
                 "--out", str(s["out"])]) == 0
    mix = load_audio(s["mix"]).samples
    voice = load_audio(s["out"] / "voice.wav").samples
    np.testing.assert_allclose(load_audio(s["out"] / "karaoke.wav").samples, mix - voice,
                               atol=1e-5)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab-+= ./\\\x00émixturesidualvocalsdrums")),
               max_size=40))
def test_any_spec_gives_a_subset_or_one_clear_line(spec):
    """Hostile specs: a subset whose weights name only known signals, or a ParameterError of
    one line; never another exception, never a name that could leave the output folder."""
    try:
        mix = parse_mix(spec, NAMES)
    except ParameterError as exc:
        assert "\n" not in str(exc)
        return
    assert len(mix.weights) == len(NAMES) + 1 and (any(mix.weights) or mix.mixture)
    assert "/" not in mix.name and "\\" not in mix.name and mix.name not in ("", ".", "..")
