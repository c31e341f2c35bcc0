"""Hostile inputs at every boundary: one MaskStudioError (one line saying what to do), never a
crash, a hang, a huge allocation or silent garbage.

Mask files, STFT settings, oracle options, audio files and projects are attacked with tables
of the cases a hostile tester found, then fuzzed with hypothesis (mutated real files).
"""

from __future__ import annotations

import io
import json
import os
import threading
import tracemalloc
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from maskstudio.dsp.masks import MaskSet, check_mask
from maskstudio.dsp.oracle import oracle_from_stfts
from maskstudio.dsp.stft import STFTConfig, stft
from maskstudio.errors import AudioFileError, MaskFileError, MaskStudioError, ParameterError
from maskstudio.io.audiofile import load_audio
from maskstudio.io.info import describe_file
from maskstudio.io.npz import load_masks, read_mask_file, save_masks

from ..conftest import SR, harmonic

N = SR // 10  # a tenth of a second: small files, fast fuzzing
CFG = STFTConfig(n_fft=64, hop_length=32)
T = CFG.n_frames(N)
GRID = dict(n_channels=1, n_samples=N, samplerate=SR)


def _npy(array) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=True)
    return buf.getvalue()


def _zip(members: dict, compression=zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


@pytest.fixture(scope="module")
def valid_npz(tmp_path_factory) -> bytes:
    """A real mask file, as maskstudio writes it."""
    path = tmp_path_factory.mktemp("masks") / "ok.npz"
    rng = np.random.default_rng(0)
    save_masks(path, MaskSet(["voice", "drums"], rng.uniform(0, 0.5, (2, CFG.n_bins, T))),
               CFG, SR, metadata={"kind": "irm"})
    return path.read_bytes()


def _members(blob: bytes) -> dict:
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def _attempt(path, *, grid=True):
    """Read (and load) a mask file; only the project's own errors may come out."""
    try:
        read_mask_file(path)
        describe_file(path)  # maskstudio info: describes what it can read, never crashes
        if grid:
            load_masks(path, **GRID)
    except MaskStudioError as exc:
        assert "\n" not in str(exc)
        return str(exc)
    return None


# -- mask files: the table ----------------------------------------------------------------
def _bad_mask_members(valid: dict) -> dict:
    def with_(**kw):
        m = dict(valid)
        for key, value in kw.items():
            if value is None:
                m.pop(f"{key}.npy", None)
            else:
                m[f"{key}.npy"] = _npy(value)
        return m

    masks = np.zeros((1, CFG.n_bins, T), np.float32)
    nan = masks.copy()
    nan[0, :3, :4] = np.nan
    cases = {
        "metadata a list": (with_(metadata=np.str_("[1, 2]")), "not an object"),
        "metadata a number": (with_(metadata=np.str_("3")), "not an object"),
        "metadata nested 5000 deep": (with_(metadata=np.str_("[" * 5000 + "]" * 5000)),
                                      "nested"),
        "metadata not json": (with_(metadata=np.str_("{")), "not valid JSON"),
        "metadata an array": (with_(metadata=np.array([1, 2])), "not text"),
        "names a scalar": (with_(names=np.str_("voice")), "list of text"),
        "names too many": (with_(names=np.array(["a", "b", "c"])), "name(s) for 2"),
        "names numbers": (with_(names=np.array([1, 2])), "list of text"),
        "zero sources": (with_(masks=np.zeros((0, CFG.n_bins, T), np.float32),
                               names=np.array([], dtype=str)), "no masks"),
        "window a dict": (with_(window=np.str_('{"a": 1}')), "window"),
        "window a list of dicts": (with_(window=np.str_('[{"a": 1}]')), "window"),
        "window garbage json": (with_(window=np.str_("[[[")), "window"),
        "window a number array": (with_(window=np.arange(3)), "not text"),
        "masks pickled objects": (with_(masks=np.array([None, {}], dtype=object)),
                                  "objects"),
        "masks text": (with_(masks=np.full((1, CFG.n_bins, T), "x")), "not numbers"),
        "masks records": (with_(masks=np.zeros(3, dtype=[("a", "f4")])), "records"),
        "masks 1-d": (with_(masks=np.zeros(5, np.float32)), "shape"),
        "masks 5-d": (with_(masks=np.zeros((1, 1, 1, 1, 1), np.float32)), "shape"),
        "masks NaN": (with_(masks=nan, names=np.array(["a"])), "12 NaN"),
        "masks 5.0": (with_(masks=masks + 5, names=np.array(["a"])), "[0, 1]"),
        "masks -0.5": (with_(masks=masks - 0.5, names=np.array(["a"])), "[0, 1]"),
        "masks transposed": (with_(masks=masks.swapaxes(1, 2), names=np.array(["a"])),
                             "transpose"),
        "masks float64 overflowing float32": (
            with_(masks=np.full((1, CFG.n_bins, T), 1e300), names=np.array(["a"])), "NaN"),
        "no masks": (with_(masks=None), "no 'masks'"),
        "format_version text": (with_(format_version=np.str_("x")), "not a number"),
        "format_version newer": (with_(format_version=np.int64(99)), "newer"),
        "center text": (with_(center=np.str_("no")), "not a number"),
        "center 7": (with_(center=np.int64(7)), "center"),
    }
    for key in ("n_fft", "samplerate", "hop_length", "win_length"):
        for value in (np.inf, -np.inf, np.nan, -5.0, 0.0, 1e300, 2048.5, 10 ** 15):
            cases[f"{key}={value}"] = (with_(**{key: np.float64(value)}), key)
        cases[f"{key} an array"] = (with_(**{key: np.arange(3)}), "not a number")
    return cases


def test_every_malformed_mask_file_is_one_clear_error(valid_npz, tmp_path):
    cases = _bad_mask_members(_members(valid_npz))
    for label, (members, match) in cases.items():
        path = tmp_path / "bad.npz"
        path.write_bytes(_zip(members))
        message = _attempt(path)
        assert message is not None, label
        assert match in message, (label, message)
    assert len(cases) >= 60


@pytest.mark.parametrize("make,match", [
    (lambda p: p.write_bytes(b""), "cannot read"),
    (lambda p: p.write_bytes(b"PK\x03\x04" + b"\0" * 100), "cannot read"),
    (lambda p: p.write_bytes(os.urandom(3000)), "cannot read"),
    (lambda p: p.mkdir(), "folder"),
])
def test_garbage_npz(tmp_path, make, match):
    path = tmp_path / "x.npz"
    make(path)
    assert match in _attempt(path)


def test_a_zip_named_npy_and_an_npy_named_npz_are_explained(valid_npz, tmp_path):
    (tmp_path / "z.npy").write_bytes(valid_npz)
    assert "rename it to 'z.npz'" in _attempt(tmp_path / "z.npy")
    np.save(tmp_path / "a.npy", np.zeros((CFG.n_bins, T), np.float32))
    (tmp_path / "a.npz").write_bytes((tmp_path / "a.npy").read_bytes())
    assert "rename it to 'a.npy'" in _attempt(tmp_path / "a.npz")


def test_a_damaged_crc_is_refused(valid_npz, tmp_path):
    data = bytearray(valid_npz)
    data[len(data) // 3] ^= 0xFF  # inside the masks' data
    (tmp_path / "crc.npz").write_bytes(bytes(data))
    assert "cannot read" in _attempt(tmp_path / "crc.npz")


def test_a_complex_mask_where_real_masks_are_needed(tmp_path):
    path = tmp_path / "c.npz"
    save_masks(path, MaskSet(["a"], np.full((1, CFG.n_bins, T), 0.5 + 0.5j, np.complex64)),
               CFG, SR)
    assert load_masks(path, **GRID).masks.is_complex
    with pytest.raises(MaskFileError, match="complex"):
        load_masks(path, **GRID, allow_complex=False)


def test_check_mask_counts_non_finite_values():
    m = np.zeros((4, 5), np.float32)
    m[0, :3] = np.nan
    m[1, 0] = np.inf
    with pytest.raises(MaskFileError, match="4 NaN or infinite value"):
        check_mask(m, n_bins=4, n_frames=5, n_channels=1)


# -- decompression bombs ------------------------------------------------------------------
def _bomb(path, shape, *, write_bytes: int | None = None, settings=True):
    """An .npz whose masks declare ``shape`` (float32), deflated; ``write_bytes`` of zeros
    actually stored (all of them by default: an honest bomb)."""
    nbytes = int(np.prod(shape)) * 4
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("masks.npy", "w", force_zip64=True) as fh:
            np.lib.format.write_array_header_1_0(
                fh, {"descr": "<f4", "fortran_order": False, "shape": shape})
            left = nbytes if write_bytes is None else write_bytes
            zeros = bytes(1 << 20)
            while left > 0:
                fh.write(zeros[:min(left, len(zeros))])
                left -= len(zeros)
        if settings:
            for key, value in dict(n_fft=CFG.n_fft, hop_length=CFG.hop_length,
                                   samplerate=SR).items():
                with zf.open(f"{key}.npy", "w") as fh:
                    np.lib.format.write_array(fh, np.int64(value))


def _peak_allocation(fn) -> tuple:
    tracemalloc.start()
    try:
        with pytest.raises(MaskFileError) as err:
            fn()
        return tracemalloc.get_traced_memory()[1], str(err.value)
    finally:
        tracemalloc.stop()


def test_a_decompression_bomb_is_refused_before_it_is_read(tmp_path):
    """528 MB of zeros packed into 0.5 MB: refused from its header, allocating nothing."""
    path = tmp_path / "bomb.npz"
    _bomb(path, (1, CFG.n_bins, 4_000_000))
    assert path.stat().st_size < 2 << 20
    peak, message = _peak_allocation(lambda: read_mask_file(path))
    assert "decompression bomb" in message and peak < 20 << 20
    peak, message = _peak_allocation(lambda: load_masks(path, **GRID))
    assert "shape" in message and peak < 20 << 20  # judged against the grid


def test_a_header_declaring_more_than_the_file_holds_is_refused(tmp_path):
    """A 1 MB file declaring 600 GB (the 'huge array' that took 6 GB)."""
    path = tmp_path / "liar.npz"
    _bomb(path, (400, 1025, 400_000), write_bytes=1 << 20, settings=False)
    peak, message = _peak_allocation(lambda: read_mask_file(path))
    assert "truncated" in message and peak < 20 << 20
    npy = tmp_path / "liar.npy"
    with open(npy, "wb") as fh:
        np.lib.format.write_array_header_1_0(
            fh, {"descr": "<f4", "fortran_order": False, "shape": (1025, 10 ** 9)})
        fh.write(bytes(4096))
    peak, message = _peak_allocation(lambda: read_mask_file(npy))
    assert "truncated" in message and peak < 20 << 20


# -- mask files: fuzzing ------------------------------------------------------------------
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner,
                                                                max_size=4),
    max_leaves=10)

_dtypes = st.sampled_from(["<f4", "<f8", "<f2", "<i8", "<u1", "|b1", "<c8", "<c16", "<U3",
                           "|S2", "<M8[s]", "<m8[s]", "|V4"])


@st.composite
def _arrays(draw):
    dtype = np.dtype(draw(_dtypes))
    shape = tuple(draw(st.lists(st.sampled_from([0, 1, 2, 3, CFG.n_bins, T]), max_size=4)))
    if np.prod(shape) > 200_000:
        shape = shape[:2]
    fill = draw(st.sampled_from([0, 1, 0.5, -1, 5, np.nan, np.inf, 1e300]))
    try:
        with np.errstate(all="ignore"):
            return np.full(shape, fill).astype(dtype)
    except (ValueError, TypeError, OverflowError):
        return np.zeros(shape, dtype)


@st.composite
def _mutated_mask_file(draw, valid: bytes) -> bytes:
    kind = draw(st.sampled_from(["bytes", "truncate", "value", "json", "array", "drop"]))
    if kind == "bytes":
        data = bytearray(valid)
        for _ in range(draw(st.integers(1, 8))):
            i = draw(st.integers(0, len(data) - 1))
            data[i] = draw(st.integers(0, 255))
        return bytes(data)
    if kind == "truncate":
        return valid[:draw(st.integers(0, len(valid) - 1))]
    members = _members(valid)
    key = draw(st.sampled_from(sorted(members)))
    if kind == "drop":
        members.pop(key)
    elif kind == "value":
        members[key] = _npy(np.asarray(draw(st.one_of(
            st.integers(-2 ** 63, 2 ** 63 - 1), st.floats(), st.text(max_size=30),
            st.booleans()))))
    elif kind == "json":
        try:
            text = json.dumps(draw(_json_values))
        except ValueError:
            text = "nan"
        members[key] = _npy(np.str_(text))
    else:
        members[key] = _npy(draw(_arrays()))
    return _zip(members, draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])))


#: Inputs each fuzzer runs (the "ci" profile keeps them; "thorough" runs 3000).
FUZZ_EXAMPLES = 300


def test_fuzzed_mask_files_only_raise_maskstudio_errors(valid_npz, tmp_path):
    seen = []

    @settings(max_examples=FUZZ_EXAMPLES, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(blob=_mutated_mask_file(valid_npz))
    def check(blob):
        path = tmp_path / "fuzz.npz"
        path.write_bytes(blob)
        message = _attempt(path)
        seen.append(message)
        if message is None:  # it loaded: then it is a usable mask file
            mf = load_masks(path, **GRID)
            assert np.isfinite(mf.masks.data).all()

    check()
    assert len(seen) >= FUZZ_EXAMPLES // 2
    assert sum(m is not None for m in seen) > len(seen) // 3  # most mutations are refused


# -- STFT settings and oracle options -----------------------------------------------------
_hostile_numbers = st.one_of(
    st.integers(-2 ** 70, 2 ** 70), st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([None, "2048", b"x", [512], {"a": 1}, True, np.float32(np.nan),
                     np.int64(-1), np.float64(1e300), 256.0, 256.5]))
_hostile_windows = st.one_of(
    st.text(max_size=12), st.floats(), st.integers(-10, 10),
    st.sampled_from(["hann", "hamming", ("kaiser", 8.0), ["tukey", 0.5], ("kaiser", np.nan),
                     ("kaiser", {"x": 1}), {"a": 1}, (), [], ("general_gaussian", 1.5, 7),
                     ("kaiser", 1e300), ("dpss",), b"hann", None, object()]),
    st.lists(st.one_of(st.text(max_size=8), st.floats(), st.none()), max_size=4))


@settings(max_examples=FUZZ_EXAMPLES, deadline=None)
@given(n_fft=_hostile_numbers, hop=_hostile_numbers, win=_hostile_numbers,
       window=_hostile_windows, center=st.sampled_from([True, False, 0, 1, "no", None, 2.5]))
def test_stft_settings_are_valid_or_refused_with_a_parameter_error(n_fft, hop, win, window,
                                                                   center):
    try:
        cfg = STFTConfig(n_fft=n_fft, hop_length=hop, win_length=win, window=window,
                         center=center)
    except ParameterError as exc:
        assert "\n" not in str(exc)
        return
    assert 2 <= cfg.n_fft <= 1 << 20 and 1 <= cfg.win_length <= cfg.n_fft
    assert 1 <= cfg.hop_length and isinstance(cfg.center, bool)


def test_windows_scipy_refuses_are_parameter_errors():
    for window in ({"a": 1}, ("kaiser", {"x": 1}), [], ("dpss",), "nope", ("kaiser", np.nan),
                   (1, 2), [{"a": 1}], np.ones(4), b"hann"):
        with pytest.raises(ParameterError, match="window"):
            STFTConfig(n_fft=256, window=window)


@settings(max_examples=FUZZ_EXAMPLES // 3, deadline=None)
@given(log_scale=st.floats(-30, 12), n_fft=st.sampled_from([16, 64, 512, 4096]),
       seed=st.integers(0, 2 ** 16))
def test_finite_audio_gives_a_finite_spectrum_and_power(log_scale, n_fft, seed):
    """Any finite signal stft accepts (up to 1e12) has a finite STFT whose power sums over
    channels stay finite in float32 (they overflow at 1.8e19 per bin)."""
    y = np.random.default_rng(seed).uniform(-1, 1, (2, 8192)).astype(np.float32)
    y *= np.float32(10.0 ** log_scale)
    S = stft(y, n_fft=n_fft, hop_length=n_fft // 4)
    assert np.isfinite(S).all()
    assert np.isfinite((np.abs(S) ** 2).sum(axis=0)).all()


def test_samples_that_would_overflow_the_spectrum_are_refused():
    with pytest.raises(ParameterError, match="scale it down"):
        stft(np.full(4096, 1e30, np.float32), n_fft=512)


@pytest.mark.parametrize("options,match", [
    (dict(p=np.nan), "p must be a finite"), (dict(lc_db=np.nan), "lc_db must be a finite"),
    (dict(beta=np.inf), "beta must be a finite"), (dict(p=-1), "p > 0"),
    (dict(lc_db=1e9), "lc_db"), (dict(compress=(np.nan, 0.1)), "K"),
    (dict(compress=(10, -1)), "C"), (dict(p="2"), "number"),
])
def test_oracle_options_are_checked(options, match):
    Y = np.ones((1, 5, 4), np.complex64)
    kind = "cirm" if "compress" in options else "irm"
    with pytest.raises(ParameterError, match=match):
        oracle_from_stfts(Y, [0.5 * Y], kind, **options)


@settings(max_examples=FUZZ_EXAMPLES // 2, deadline=None)
@given(kind=st.sampled_from(["ibm", "irm", "wiener", "psm", "cirm"]),
       p=st.floats(1e-3, 1e6), beta=st.floats(1e-3, 1e3), lc_db=st.floats(-200, 200),
       log_scale=st.integers(-30, 30), seed=st.integers(0, 2 ** 16))
def test_finite_stfts_never_give_nan_masks(kind, p, beta, lc_db, log_scale, seed):
    """Any finite STFTs (1e-30 to 1e30) and any finite options: finite masks, in [0, 1]."""
    rng = np.random.default_rng(seed)
    shape = (2, 9, 6)  # channels, bins, frames
    S = [(rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) * 10.0 ** log_scale
         for _ in range(2)]
    S[0][:, 0] = 0  # silent bins too
    Y = S[0] + S[1] + 0.1 * S[1]
    m = oracle_from_stfts(Y, S, kind, p=p, beta=beta, lc_db=lc_db,
                          compress=(10, 0.1) if kind == "cirm" else None)
    assert np.isfinite(m).all()
    if kind != "cirm":
        assert m.min() >= 0 and m.max() <= 1


# -- audio --------------------------------------------------------------------------------
def _within(seconds, fn):
    """Call ``fn`` in a thread; fail (instead of hanging the suite) if it blocks."""
    out = {}

    def target():
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 - reported below
            out["exc"] = exc
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "blocked"
    return out.get("exc")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
@pytest.mark.parametrize("name", ["fifo.wav", "fifo.npz", "fifo.msproj"])
def test_a_fifo_is_refused_before_it_is_opened(tmp_path, name):
    from maskstudio.annotation.project import load_project

    fifo = tmp_path / name
    os.mkfifo(fifo)
    fn = {".wav": load_audio, ".npz": read_mask_file,
          ".msproj": lambda p: load_project(p, start_journal=False)}[fifo.suffix]
    exc = _within(5, lambda: fn(fifo))
    assert isinstance(exc, MaskStudioError) and "not a regular file" in str(exc)


@pytest.mark.parametrize("device", ["/dev/null", "/dev/zero"])
def test_devices_are_not_audio(device):
    if not os.path.exists(device):
        pytest.skip("no such device")
    exc = _within(5, lambda: load_audio(device))
    assert isinstance(exc, AudioFileError) and "not a regular file" in str(exc)


@pytest.mark.parametrize("value,match", [
    (1e37, "over full scale"), (2e4, "over full scale"), (np.nan, "NaN"), (np.inf, "NaN"),
])
def test_absurd_samples_are_refused(write_wav, value, match):
    x = harmonic(N)
    x[100] = value
    with pytest.raises(AudioFileError, match=match):
        load_audio(write_wav("x.wav", x))


def test_loud_but_sane_audio_is_kept(write_wav):
    x = 50 * harmonic(N)  # 34 dB over full scale, as float WAVs allow
    assert load_audio(write_wav("loud.wav", x)).samples.max() > 1
