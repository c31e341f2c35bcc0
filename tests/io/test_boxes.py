"""Box annotations: regions of masks, the three file formats, and round trips through them."""

import csv
import math
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import scipy.ndimage
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from maskstudio.annotation.labels import find_boxes, open_layers, write_box_masks
from maskstudio.annotation.project import load_project, save_project
from maskstudio.dsp.grid import STFTConfig
from maskstudio.dsp.regions import (
    LabelBox,
    Region,
    box_to_region,
    find_regions,
    merge_regions,
    region_to_box,
)
from maskstudio.editing.document import Document
from maskstudio.errors import MaskStudioError
from maskstudio.io.audiofile import load_audio
from maskstudio.io.boxes import BoxFileError, parse_boxes, read_boxes, write_boxes
from maskstudio.io.npz import write_mask_file

from ..conftest import SR, harmonic, noise

CFG = STFTConfig.for_samplerate(SR)  # 1024 / 256 at 16 kHz
N = 3 * SR
T = CFG.n_frames(N)


@pytest.fixture
def mixture(write_wav):
    return write_wav("mix.wav", harmonic(N) + noise(N))


@pytest.fixture
def stereo(write_wav):
    return write_wav("stereo.wav", np.stack([harmonic(N), noise(N)]))


def _reference_regions(binary):
    """The regions scipy finds labelling the whole mask at once."""
    labels, n = scipy.ndimage.label(binary, structure=np.ones((3, 3)))
    out = []
    for k, (fs, ts) in enumerate(scipy.ndimage.find_objects(labels), 1):
        out.append(Region(fs.start, fs.stop, ts.start, ts.stop, int((labels == k).sum())))
    return sorted(out, key=lambda r: (r.t0, r.f0))


def _cells(r):
    return (r.f0, r.f1, r.t0, r.t1)


# -- regions ----------------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31), density=st.floats(0.02, 0.6), block=st.integers(1, 40))
def test_regions_found_block_by_block_are_those_of_the_whole_mask(seed, density, block):
    rng = np.random.default_rng(seed)
    binary = scipy.ndimage.binary_dilation(rng.random((24, 70)) < density / 4) \
        & (rng.random((24, 70)) < 0.9)
    assert find_regions(binary, block=block) == _reference_regions(binary)


def test_a_component_cut_by_blocks_many_times_is_one_region():
    binary = np.zeros((30, 200), bool)
    f = np.round(15 + 8 * np.sin(np.arange(200) / 12)).astype(int)  # a wobbling partial
    binary[f, np.arange(200)] = True
    regions = find_regions(binary, block=3)
    assert regions == [Region(int(f.min()), int(f.max()) + 1, 0, 200, 200)]


def test_small_specks_go_before_joining_and_never_grow_a_box():
    binary = np.zeros((40, 100), bool)
    binary[10:20, 10:40] = True      # an event of 300 cells
    binary[22, 42] = True            # a speck 2 bins and 2 frames away
    binary[30:33, 70:72] = True      # a small region of 6 cells
    kept = find_regions(binary, min_cells=4, block=16)
    assert [r.cells for r in kept] == [300, 6]
    merged = merge_regions(kept, gap_frames=2, gap_bins=2)
    assert merged[0] == Region(10, 20, 10, 40, 300)  # the speck did not stretch it


@pytest.mark.parametrize("gap, joined", [(0, True), (2, True), (3, False)])
def test_regions_join_within_the_tolerance_in_time(gap, joined):
    a = Region(10, 20, 0, 10, 100)
    b = Region(30, 40, 10 + gap, 20 + gap, 100)  # 10 bins apart in frequency
    out = merge_regions([a, b], gap_frames=2, gap_bins=10)
    assert (len(out) == 1) == joined
    assert merge_regions([a, b], gap_frames=2, gap_bins=9) == [a, b]  # 10 bins apart


def test_joining_goes_on_until_no_two_boxes_are_close():
    # a and c are far apart, but a+b's box reaches c: all three become one
    a, b, c = Region(0, 5, 0, 5, 25), Region(0, 30, 6, 8, 60), Region(25, 30, 0, 3, 15)
    assert merge_regions([a, b, c], gap_frames=1, gap_bins=0) == [Region(0, 30, 0, 8, 100)]
    # harmonics (same time, far apart in frequency) stay apart
    h = [Region(10 * k, 10 * k + 2, 0, 50, 100) for k in range(1, 5)]
    assert merge_regions(h, gap_frames=5, gap_bins=4) == h


# -- cells <-> seconds and hertz ----------------------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(n_fft=st.sampled_from([256, 512, 1024, 2048]), hop_div=st.sampled_from([2, 4, 8]),
       center=st.booleans(), sr=st.sampled_from([8000, 16000, 22050, 44100, 48000]),
       data=st.data())
def test_a_region_written_as_a_box_reads_back_as_the_same_cells(n_fft, hop_div, center, sr,
                                                                 data):
    cfg = STFTConfig(n_fft=n_fft, hop_length=n_fft // hop_div, center=center)
    n_samples = data.draw(st.integers(n_fft, 40 * n_fft))
    n_frames = cfg.n_frames(n_samples)
    t0 = data.draw(st.integers(0, n_frames - 1))
    t1 = data.draw(st.integers(t0 + 1, n_frames))
    f0 = data.draw(st.integers(0, cfg.n_bins - 1))
    f1 = data.draw(st.integers(f0 + 1, cfg.n_bins))
    box = region_to_box(Region(f0, f1, t0, t1, 1), cfg, sr, n_samples, label="x")
    assert 0 <= box.begin < box.end <= n_samples / sr and 0 <= box.low < box.high <= sr / 2
    # as the files store it: six decimals
    stored = LabelBox(*(float(f"{v:.6f}") for v in (box.begin, box.end, box.low, box.high)),
                      "x")
    back = box_to_region(stored, cfg, sr, n_frames)
    assert (back.f0, back.f1, back.t0, back.t1) == (f0, f1, t0, t1)


def test_the_grid_convention_is_the_cells_edges():
    # frame t is centred at t * 256 / 16000 s; its cell spans half a hop either side
    box = region_to_box(Region(2, 5, 10, 20, 30), CFG, SR, N, label="x")
    assert box.begin == pytest.approx((10 * 256 - 128) / SR)
    assert box.end == pytest.approx((19 * 256 + 128) / SR)
    assert box.low == pytest.approx(1.5 * SR / 1024) and box.high == pytest.approx(4.5 * SR / 1024)
    first = region_to_box(Region(0, CFG.n_bins, 0, T, 1), CFG, SR, N, label="x")
    assert (first.begin, first.low, first.high) == (0.0, 0.0, SR / 2)  # clipped to the file
    # a box thinner than a cell still covers the cell nearest its middle
    thin = box_to_region(LabelBox(1.0001, 1.0002, 400.1, 400.2, "x"), CFG, SR, T)
    assert (thin.t1 - thin.t0, thin.f1 - thin.f0) == (1, 1)
    assert thin.t0 == round(1.00015 * SR / 256) and thin.f0 == round(400.15 / (SR / 1024))


@pytest.mark.parametrize("box, message", [
    (LabelBox(5.0, 6.0, 0, 100, "x"), "outside the file"),
    (LabelBox(0.5, 1.0, 9000, 9500, "x"), "outside the file"),
    (LabelBox(1.0, 0.5, 0, 100, "x"), "ends before it begins"),
    (LabelBox(0.1, 0.5, 300, 100, "x"), "ends before it begins"),
    (LabelBox(math.nan, 0.5, 0, 100, "x"), "not a finite number"),
])
def test_a_box_that_cannot_be_drawn_says_why(box, message):
    with pytest.raises(MaskStudioError, match=message):
        box_to_region(box, CFG, SR, T)


# -- the files, read by parsers of the test's own ------------------------------------------------
BOXES = [LabelBox(0.1, 0.52, 100.0, 812.5, "bird song", 1),
         LabelBox(0.6, 1.25, 2000.0, 4000.0, "frog", 2),
         LabelBox(1.3, 2.0, 0.0, 8000.0, "bird song", 1)]


def test_a_raven_table_reads_in_the_csv_module(tmp_path):
    path = write_boxes(tmp_path / "t.txt", BOXES, "raven")
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    assert list(rows[0]) == ["Selection", "View", "Channel", "Begin Time (s)", "End Time (s)",
                             "Low Freq (Hz)", "High Freq (Hz)", "Annotation"]
    assert [r["Selection"] for r in rows] == ["1", "2", "3"]
    assert {r["View"] for r in rows} == {"Spectrogram 1"}
    assert [(float(r["Begin Time (s)"]), float(r["High Freq (Hz)"]), r["Annotation"],
             int(r["Channel"])) for r in rows] == [(b.begin, b.high, b.label, b.channel)
                                                   for b in BOXES]
    assert read_boxes(path, "raven") == BOXES


def test_an_audacity_label_file_is_what_audacity_writes(tmp_path):
    path = write_boxes(tmp_path / "labels.txt", BOXES, "audacity")
    lines = path.read_text().splitlines()
    assert lines[:2] == ["0.100000\t0.520000\tbird song", "\\\t100.000000\t812.500000"]
    assert len(lines) == 6
    back = read_boxes(path, "audacity")
    assert back == [LabelBox(b.begin, b.end, b.low, b.high, b.label) for b in BOXES]


def test_audacity_labels_without_frequencies_cover_every_bin(tmp_path):
    text = "0.5\t1.0\tknock\n1.5\t1.5\tpoint\n2.0\t2.5\tband\n\\\t-1\t3000\n"
    boxes = parse_boxes(text, "audacity")
    assert boxes[0].high == math.inf and boxes[2].low == 0.0 and boxes[2].high == 3000.0
    r = box_to_region(boxes[0], CFG, SR, T)
    assert (r.f0, r.f1) == (0, CFG.n_bins)


def test_raven_rows_of_the_waveform_view_are_not_boxes_twice():
    text = ("Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\t"
            "High Freq (Hz)\tSpecies\n"
            "1\tWaveform 1\t1\t0.5\t1.0\t0\t8000\tWIWA\n"
            "1\tSpectrogram 1\t1\t0.5\t1.0\t2500\t6000\tWIWA\n"
            "2\tSpectrogram 1\t1\t1.5\t2.0\t300\t900\t\n")
    boxes = parse_boxes(text, "raven", label_column="Species")
    assert boxes == [LabelBox(0.5, 1.0, 2500, 6000, "WIWA"), LabelBox(1.5, 2.0, 300, 900, "box")]
    assert {b.label for b in parse_boxes(text, "raven")} == {"box"}  # no Annotation column


def test_an_svl_file_is_a_sonic_visualiser_box_layer(tmp_path):
    path = write_boxes(tmp_path / "boxes.svl", BOXES, "svl", samplerate=SR)
    root = ET.parse(path).getroot()
    assert root.tag == "sv"
    models = root.findall("data/model")
    assert [m.get("name") for m in models] == ["bird song", "frog"]
    assert {(m.get("type"), m.get("subtype"), m.get("dimensions"), m.get("sampleRate"),
             m.get("units")) for m in models} == {("sparse", "box", "2", str(SR), "Hz")}
    layers = root.findall("display/layer")
    assert [(la.get("type"), la.get("model")) for la in layers] == \
        [("boxes", m.get("id")) for m in models]
    for model in models:
        dataset = root.find(f"data/dataset[@id='{model.get('dataset')}']")
        points = dataset.findall("point")
        mine = [b for b in BOXES if b.label == model.get("name")]
        assert len(points) == len(mine)
        for p, b in zip(points, mine):
            assert int(p.get("frame")) == round(b.begin * SR)
            assert int(p.get("duration")) == round(b.end * SR) - round(b.begin * SR)
            assert float(p.get("value")) == pytest.approx(b.low)
            assert float(p.get("extent")) == pytest.approx(b.high - b.low)
            assert p.get("label") == b.label


# -- round trips through real files -------------------------------------------------------------
def _grid_boxes(draw_ints, n_boxes, labels, channels):
    """Boxes in separate time slots (so none touch), random sizes, labels and channels."""
    slot = T // n_boxes
    out = []
    for k in range(n_boxes):
        a, b = sorted(draw_ints(0, slot - 2, 2))
        f0, f1 = sorted(draw_ints(0, CFG.n_bins, 2))
        out.append((Region(f0, max(f1, f0 + 1), k * slot + a, k * slot + b + 1, 0),
                    labels[draw_ints(0, len(labels) - 1, 1)[0]],
                    draw_ints(1, channels, 1)[0]))
    return out


@pytest.mark.parametrize("fmt", ["raven", "audacity"])
@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**31), n_boxes=st.integers(1, 7))
def test_boxes_to_masks_to_boxes_gives_the_same_boxes(fmt, stereo, tmp_path, seed, n_boxes):
    rng = np.random.default_rng(seed)

    def ints(lo, hi, k):
        return [int(x) for x in rng.integers(lo, hi + 1, k)]

    channels = 2 if fmt == "raven" else 1  # Audacity labels have no channel
    placed = _grid_boxes(ints, n_boxes, ["voice", "bird song", "frog"], channels)
    boxes = [region_to_box(r, CFG, SR, N, label=label, channel=c) for r, label, c in placed]
    table = write_boxes(tmp_path / f"in-{seed}.txt", boxes, fmt)
    masks = tmp_path / f"masks-{seed}.npz"
    report = write_box_masks(read_boxes(table, fmt), stereo, masks)
    source = open_layers(masks)
    back = find_boxes(source, merge_ms=0, merge_hz=0, min_cells=0,
                      mean_channels=fmt != "raven")
    source.close()
    order = sorted(boxes, key=lambda b: (b.begin, b.channel, b.low, b.label))
    if not report.per_channel:  # every box was on channel 1: masks shared, boxes on channel 1
        assert {b.channel for b in order} == {1}
    assert back == order


@pytest.mark.parametrize("fmt", ["raven", "audacity"])
def test_hand_drawn_boxes_come_back_to_the_grids_resolution(fmt, mixture, tmp_path):
    drawn = [LabelBox(0.1234, 0.9876, 333.3, 1234.5, "call"),
             LabelBox(1.5, 2.71, 4000.0, 7777.7, "song"),
             LabelBox(2.0, 2.5, 100.0, 250.0, "call")]
    table = write_boxes(tmp_path / "drawn.txt", drawn, fmt)
    write_box_masks(read_boxes(table, fmt), mixture, tmp_path / "m.npz")
    source = open_layers(tmp_path / "m.npz")
    back = find_boxes(source, merge_ms=0, merge_hz=0, min_cells=0)
    hop_s, bin_hz = CFG.hop_length / SR, SR / CFG.n_fft
    assert [b.label for b in back] == ["call", "song", "call"]
    for a, b in zip(drawn, back):
        assert abs(a.begin - b.begin) <= hop_s and abs(a.end - b.end) <= hop_s
        assert abs(a.low - b.low) <= bin_hz and abs(a.high - b.high) <= bin_hz
    # and again: the grid's boxes are a fixed point
    write_boxes(tmp_path / "again.txt", back, fmt)
    write_box_masks(read_boxes(tmp_path / "again.txt", fmt), mixture, tmp_path / "m2.npz")
    assert find_boxes(open_layers(tmp_path / "m2.npz"), merge_ms=0, merge_hz=0,
                      min_cells=0) == back


def test_overlapping_labels_keep_the_partition_and_the_first_label_wins(mixture, tmp_path):
    boxes = [LabelBox(0.5, 1.5, 500, 2000, "a"), LabelBox(1.0, 2.0, 1000, 3000, "b")]
    report = write_box_masks(boxes, mixture, tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz") as z:
        masks, names = z["masks"], list(z["names"])
    assert names == ["a", "b"] and set(np.unique(masks)) == {0.0, 1.0}
    assert masks.sum(axis=0).max() == 1.0
    a = box_to_region(boxes[0], CFG, SR, T)
    b = box_to_region(boxes[1], CFG, SR, T)
    assert masks[0, a.f0:a.f1, a.t0:a.t1].all()  # a keeps the overlap
    shared = (min(a.f1, b.f1) - max(a.f0, b.f0)) * (min(a.t1, b.t1) - max(a.t0, b.t0))
    assert report.overlap_cells == shared
    assert masks[1].sum() == (b.f1 - b.f0) * (b.t1 - b.t0) - shared


def test_per_channel_masks_give_boxes_per_channel(stereo, tmp_path):
    masks = np.zeros((1, 2, CFG.n_bins, T), np.float32)
    masks[0, 1, 50:80, 40:90] = 0.9
    masks[0, 0, 200:210, 10:20] = 0.7
    path = write_mask_file(tmp_path / "m.npz", ["voice"], masks.shape,
                           lambda i, f0, f1: masks[i, :, f0:f1], CFG, SR)
    each = find_boxes(open_layers(path))
    assert [(b.channel, _cells(box_to_region(b, CFG, SR, T))) for b in each] == \
        [(1, (200, 210, 10, 20)), (2, (50, 80, 40, 90))]
    mean = find_boxes(open_layers(path), mean_channels=True)  # 0.45 and 0.35: below 0.5
    assert mean == []
    assert len(find_boxes(open_layers(path), mean_channels=True, threshold=0.3)) == 2


def test_a_projects_layers_export_with_their_labels(mixture, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    doc = Document(load_audio(mixture))
    data = np.zeros((CFG.n_bins, T), np.float32)
    data[100:140, 20:60] = 1.0
    data[300:302, 100:101] = 1.0  # a speck of 2 cells: dropped
    doc.add_layer("voice", data, label="singing")
    doc.add_layer("drums")
    path = save_project(doc, tmp_path / "take.msproj")
    doc.close()
    source = open_layers(path)
    boxes = find_boxes(source)
    source.close()
    assert [(b.label, _cells(box_to_region(b, CFG, SR, T))) for b in boxes] == \
        [("singing", (100, 140, 20, 60))]
    assert load_project(path, start_journal=False).layers[0].label == "singing"


@pytest.mark.parametrize("text, message", [
    ("Selection\tView\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\n1\tS\t0\t1\t0\n",
     "no column 'High Freq \\(Hz\\)'"),
    ("Begin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)\n0.5\tsoon\t0\t100\n",
     "line 2: End Time \\(s\\) 'soon' is not a number"),
    ("Begin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)\n0.5\n", "line 2 has 1 cells"),
    ("Channel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)\nleft\t0\t1\t0\t9\n",
     "not a channel number"),
    ("", "is empty"),
    ("Begin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)\n0\tnan\t0\t1\n",
     "not a finite number"),
])
def test_a_bad_raven_table_is_one_line_naming_the_problem(text, message):
    with pytest.raises(BoxFileError, match=message) as info:
        parse_boxes(text, "raven")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("text, message", [
    ("0.5\tlater\tx\n", "the end time 'later' is not a number"),
    ("\\\t100\t200\n", "must follow a label"),
    ("just some words\n", "is it an Audacity label file"),
])
def test_a_bad_audacity_file_is_one_line_naming_the_problem(text, message):
    with pytest.raises(BoxFileError, match=message):
        parse_boxes(text, "audacity")
