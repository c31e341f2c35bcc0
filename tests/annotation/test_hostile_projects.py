"""Damaged projects: every corrupt ``.msproj`` is one MaskStudioError naming the file, never a
traceback, a hang or a document holding NaN or 5.0.

A real project is saved, then damaged the ways a disk, a sync tool or a hand edit damage it:
a table of the cases the hostile tester found (bad CRC, empty, truncated, wrong JSON types,
missing keys, tile arrays of the wrong shape or type, keys out of range, NaN or 5.0 values,
absurd tile/lead/next_uid, uids that do not match) and hypothesis mutations of the same file.
"""

from __future__ import annotations

import copy
import io
import json
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from maskstudio.annotation.project import load_project, save_project
from maskstudio.dsp.stft import STFTConfig
from maskstudio.editing.document import Document
from maskstudio.errors import MaskStudioError
from maskstudio.io.audiofile import load_audio

from ..conftest import SR, harmonic

FUZZ_EXAMPLES = 200


def _npy(array) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=True)
    return buf.getvalue()


def _zip(members: dict) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A real saved project (two layers, one painted) and its parts."""
    folder = tmp_path_factory.mktemp("proj")
    wav = folder / "mix.wav"
    import soundfile as sf

    sf.write(str(wav), harmonic(SR // 2), SR, subtype="FLOAT")
    doc = Document(load_audio(wav), STFTConfig(n_fft=256))
    doc.add_layer("a")
    doc.add_layer("b")
    doc.store.write([0], 0, 0, np.full((1, 129, 20), 0.5, np.float32))
    path = save_project(doc, folder / "p.msproj")
    if doc.journal is not None:
        doc.journal.discard()
    blob = path.read_bytes()
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    meta = json.loads(str(np.load(io.BytesIO(members["project.npy"]))))
    return {"folder": folder, "blob": blob, "members": members, "meta": meta,
            "n_frames": doc.n_frames}


def _load(project, blob: bytes):
    """Load ``blob`` as a project beside the mixture; the error message, or None if it
    loaded (then its masks are checked: finite and in [0, 1])."""
    path = project["folder"] / "damaged.msproj"
    path.write_bytes(blob)
    try:
        doc = load_project(path, start_journal=False)
    except MaskStudioError as exc:
        assert "\n" not in str(exc)
        return str(exc)
    for i in range(len(doc.layers)):
        values = doc.store.read([i], 0, doc.n_bins, 0, doc.n_frames)
        assert np.isfinite(values).all() and values.min() >= 0 and values.max() <= 1
    return None


def _with_meta(project, **changes) -> bytes:
    meta = copy.deepcopy(project["meta"])
    for key, value in changes.items():
        if value is KeyError:
            meta.pop(key, None)
        else:
            meta[key] = value
    return _zip(dict(project["members"], **{"project.npy": _npy(np.str_(json.dumps(meta)))}))


def _with_layer(project, index, **changes) -> bytes:
    meta = copy.deepcopy(project["meta"])
    meta["layers"][index].update(changes)
    return _zip(dict(project["members"], **{"project.npy": _npy(np.str_(json.dumps(meta)))}))


def _with_array(project, name, array) -> bytes:
    return _zip(dict(project["members"], **{f"{name}.npy": _npy(array)}))


def _damaged(project) -> dict:
    blob, members = project["blob"], project["members"]
    tiles = np.load(io.BytesIO(members["tiles_0.npy"]))
    idx = np.load(io.BytesIO(members["idx_0.npy"]))
    flipped = bytearray(blob)
    flipped[len(blob) // 2] ^= 0xFF
    cases = {
        "empty file": b"",
        "truncated to half": blob[: len(blob) // 2],
        "truncated by 10 bytes": blob[:-10],
        "a byte flipped (bad CRC)": bytes(flipped),
        "not a zip": b"hello" * 100,
        "project.json a list": _zip(dict(members, **{"project.npy": _npy(np.str_("[1]"))})),
        "project.json nested 5000 deep": _zip(dict(members, **{
            "project.npy": _npy(np.str_("[" * 5000 + "]" * 5000))})),
        "project.json not json": _zip(dict(members, **{"project.npy": _npy(np.str_("{"))})),
        "project.json a number array": _zip(dict(members, **{
            "project.npy": _npy(np.arange(3))})),
        "project.json pickled": _zip(dict(members, **{
            "project.npy": _npy(np.array([{"a": 1}], dtype=object))})),
        "no project.json": _zip({k: v for k, v in members.items() if k != "project.npy"}),
        "format_version a string": _with_meta(project, format_version="1"),
        "format_version newer": _with_meta(project, format_version=99),
        "tile absurd": _with_meta(project, tile=10 ** 9),
        "tile zero": _with_meta(project, tile=0),
        "tile other": _with_meta(project, tile=5),
        "lead absurd": _with_meta(project, lead=[10 ** 6]),
        "lead of 2 channels for a mono mixture": _with_meta(project, lead=[2]),
        "next_uid negative": _with_meta(project, next_uid=-1),
        "next_uid huge": _with_meta(project, next_uid=10 ** 30),
        "next_uid float": _with_meta(project, next_uid=2.5),
        "residual a number": _with_meta(project, residual=3),
        "residual a list": _with_meta(project, residual=[]),
        "status unknown": _with_meta(project, status="whatever"),
        "config window a dict": _with_meta(project, config=dict(project["meta"]["config"],
                                                                 window={"a": 1})),
        "config n_fft infinite": _with_meta(project, config=dict(project["meta"]["config"],
                                                                  n_fft=1e400)),
        "config unknown key": _with_meta(project, config=dict(project["meta"]["config"], x=1)),
        "n_samples differs": _with_meta(project, n_samples=7),
        "layer uid mismatch": _with_layer(project, 0, uid=77),
        "layer uid duplicate": _with_layer(project, 0, uid=project["meta"]["layers"][1]["uid"]),
        "layer name duplicate": _with_layer(project, 0, name="b"),
        "layer name empty": _with_layer(project, 0, name=" "),
        "layer colour 999": _with_layer(project, 0, color=[999, 0, 0]),
        "layer opacity NaN-like": _with_layer(project, 0, opacity=1e308),
        "layer locked a string": _with_layer(project, 0, locked="yes"),
        "layer provenance a list": _with_layer(project, 0, provenance=[1]),
        "tiles NaN": _with_array(project, "tiles_0", np.full_like(tiles, np.nan)),
        "tiles 5.0": _with_array(project, "tiles_0", tiles + 5),
        "tiles negative": _with_array(project, "tiles_0", tiles - 1),
        "tiles wrong shape": _with_array(project, "tiles_0", tiles[..., :3]),
        "tiles integers": _with_array(project, "tiles_0", tiles.astype(np.int32)),
        "tiles text": _with_array(project, "tiles_0", np.full(tiles.shape, "x")),
        "tiles objects": _with_array(project, "tiles_0", np.array([None], dtype=object)),
        "tiles missing": _zip({k: v for k, v in members.items() if k != "tiles_1.npy"}),
        "tile key out of range": _with_array(project, "idx_0", idx + 10 ** 6),
        "tile key negative": _with_array(project, "idx_0", idx - 5),
        "tile keys floats": _with_array(project, "idx_0", idx.astype(float)),
        "tile key twice": _with_array(project, "idx_0", np.concatenate([idx, idx])),
        "complex mask real": _zip(dict(members, **{"complex_0.npy": _npy(np.zeros((129, 5)))})),
        "complex mask NaN": _zip(dict(members, **{"complex_0.npy": _npy(
            np.full((129, project["n_frames"]), np.nan, np.complex64))})),
        "complex mask transposed": _zip(dict(members, **{"complex_0.npy": _npy(
            np.zeros((project["n_frames"], 129), np.complex64))})),
    }
    for key in project["meta"]:
        cases[f"{key} missing"] = _with_meta(project, **{key: KeyError})
        for value in ("x", 5, None, [], {}, 1e308, -1, True):
            cases[f"{key}={value!r}"] = _with_meta(project, **{key: value})
    return cases


def test_every_damaged_project_is_one_clear_error(project):
    harmless = {"token='x'", "mixture='x'", "mixture_abs='x'", "notes='x'", "notes missing",
                "status missing", "samplerate missing", "n_samples missing",
                "n_channels missing", "next_uid=5", "lead=[]", "layers=[]"}
    loaded = []
    for label, blob in _damaged(project).items():
        message = _load(project, blob)
        if message is None:
            loaded.append(label)
        else:
            assert "'" in message, (label, message)  # names the file (or the mixture)
    assert set(loaded) <= harmless, set(loaded) - harmless  # loaded, and rightly so
    assert len(_damaged(project)) >= 97


def test_values_outside_0_1_and_nan_are_named(project):
    tiles = np.load(io.BytesIO(project["members"]["tiles_0.npy"]))
    assert "outside [0, 1]" in _load(project, _with_array(project, "tiles_0", tiles + 5))
    assert "NaN" in _load(project, _with_array(project, "tiles_0", tiles * np.nan))
    assert "damaged.msproj" in _load(project, b"")


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-2 ** 70, 2 ** 70) | st.floats()
    | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=3),
    max_leaves=8)


@st.composite
def _mutations(draw, project):
    blob, members, meta = project["blob"], project["members"], project["meta"]
    kind = draw(st.sampled_from(["bytes", "truncate", "meta", "layer", "array", "drop"]))
    if kind == "bytes":
        data = bytearray(blob)
        for _ in range(draw(st.integers(1, 6))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        return bytes(data)
    if kind == "truncate":
        return blob[:draw(st.integers(0, len(blob) - 1))]
    if kind == "meta":
        return _with_meta(project, **{draw(st.sampled_from(sorted(meta))): draw(_json)})
    if kind == "layer":
        field = draw(st.sampled_from(sorted(meta["layers"][0]) + ["extra"]))
        return _with_layer(project, draw(st.integers(0, 1)), **{field: draw(_json)})
    name = draw(st.sampled_from(sorted(n[:-4] for n in members)))
    if kind == "drop":
        return _zip({k: v for k, v in members.items() if k != f"{name}.npy"})
    dtype = draw(st.sampled_from(["<f4", "<f8", "<i8", "|b1", "<c8", "<U2", "<f2"]))
    shape = tuple(draw(st.lists(st.sampled_from([0, 1, 2, 129, 128]), max_size=4)))
    fill = draw(st.sampled_from([0, 0.5, 1, 5, -1, np.nan, np.inf, 10 ** 6]))
    with np.errstate(all="ignore"):
        try:
            array = np.full(shape, fill).astype(dtype)
        except (ValueError, OverflowError):
            array = np.zeros(shape, dtype)
    return _with_array(project, name, array)


def test_fuzzed_projects_only_raise_maskstudio_errors(project):
    outcomes = []

    @settings(max_examples=FUZZ_EXAMPLES, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(blob=_mutations(project))
    def check(blob):
        outcomes.append(_load(project, blob))

    check()
    assert len(outcomes) >= FUZZ_EXAMPLES // 2
    refused = sum(m is not None for m in outcomes)
    print(f"{len(outcomes)} mutated projects: {refused} refused, {len(outcomes) - refused} "
          f"loaded (and checked)")
    assert refused > len(outcomes) // 3
