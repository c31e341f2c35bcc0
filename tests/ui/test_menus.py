"""The window's menus, shortcuts, toolbars and docks, pinned.

The window is composed of controllers (playback, projects, datasets, masks from elsewhere),
each adding its own actions: composing them must not move, rename or drop a menu entry, a
shortcut, a toolbar or a dock (the saved window state finds docks and toolbars by name)."""

from pyqtgraph.Qt import QtWidgets

MENUS = [
    ("&File", [
        "&Open… | Ctrl+O",
        "&Save | Ctrl+S | save the project (the first time, choose where; a dataset's item is "
        "saved in place)",
        "Save &As… | Ctrl+Shift+S | save the project under another name",
        ("Open &Recent", []),
        "Open the &demo",
        "Open &dataset… | Ctrl+Shift+O | a folder of items (mixture + sources/) or a CSV/JSON "
        "manifest",
        "Export the &dataset…",
        "---",
        "&Export sources and residual… | Ctrl+E",
        "Export the &masks (.npz)…",
        "Export the view as &PNG…",
        "---",
        "Export &annotations… | each layer's regions as labelled boxes (Raven, Audacity, Sonic "
        "Visualiser)",
        "&Import annotations… | boxes of a Raven table or Audacity labels as new layers, one "
        "per label",
        "---",
        "&Quit | Ctrl+Q"]),
    ("&Edit", [
        "&Undo | Ctrl+Z",
        "&Redo | Ctrl+Shift+Z",
        "---",
        "&Fill the selection | F",
        "&Erase the selection | Del",
        "&Invert | I",
        "&Binarise | Ctrl+B",
        "S&mooth the selection | Ctrl+Shift+M",
        "&Threshold… | T",
        "Selection &bounds… | Ctrl+Shift+B | type the selection's start, end, low and high "
        "frequency",
        "&Local threshold… | Shift+T | keep the layer where the mixture stands above its local "
        "level",
        "---",
        "Audio &output…"]),
    ("&Play", [
        "&Play / pause | Space",
        "&Stop (or clear the selection) | Esc"]),
    ("&Tools", [
        "Brush  (B) | B | checkable",
        "Eraser  (E) | E | checkable",
        "Rectangle  (R) | R | checkable",
        "Time range  (Y) | Y | checkable",
        "Frequency band  (U) | U | checkable",
        "Lasso  (L) | L | checkable",
        "Harmonics  (A) | A | checkable",
        "Magic wand  (W) | W | checkable",
        "Pan  (H) | H | checkable",
        "---",
        "Smaller brush | [",
        "Larger brush | ]"]),
    ("&View", [
        "Zoom to &fit | Ctrl+0",
        "&STFT settings…",
        "&Difference from the oracle | D",
        "&Outline the layers | O | draw each layer as the contour of mask ≥ 0.5 over a faint "
        "fill | checkable",
        "&Note names | label the frequency axis with notes (A4 = 440 Hz) | checkable",
        "---",
        "Layers | checkable",
        "Levels | checkable",
        "Scores | checkable",
        "Items | checkable"]),
    ("&Masks", [
        "&New layer | Ctrl+N",
        "&Delete layer",
        "&Link the channels | K | edits change every channel; off: only the channel shown | "
        "checkable",
        "---",
        ("&Give the selection to", []),
        ("T&ake the selection from", []),
        ("&Cast the active layer over", []),
        "---",
        "&Oracle from stems…",
        "&Load model masks…",
        ("&Separate", [])]),
    ("&Help", [
        "&Keyboard shortcuts | F1",
        "&About"]),
]

#: shortcuts that no menu shows: the dataset's item keys
HIDDEN = ["Next item | PgDown", "Previous item | PgUp", "Done: next item to do | Ctrl+Return"]


def _describe(action) -> str:
    parts = [action.text(), action.shortcut().toString(), action.statusTip(),
             "checkable" if action.isCheckable() else ""]
    return " | ".join(p for p in parts if p)


def _menu(menu) -> list:
    out = []
    for a in menu.actions():
        if a.isSeparator():
            out.append("---")
        elif a.menu() is not None:
            out.append((a.text(), _menu(a.menu())))
        else:
            out.append(_describe(a))
    return out


def test_the_menus_are_as_pinned(window, mixture_files):
    got = [(a.text(), _menu(a.menu())) for a in window.menuBar().actions()]
    recent = [str(mixture_files["mixture"])]  # the file the window opened
    assert got == [(title, [("Open &Recent", recent) if e == ("Open &Recent", []) else e
                            for e in entries]) for title, entries in MENUS]


def test_every_shortcut_works_from_the_window(window):
    """Each action is the window's (its shortcut works wherever the focus is), once."""
    docks = {"Layers | checkable", "Levels | checkable", "Scores | checkable",
             "Items | checkable"}  # the docks' own toggles, shown in View

    def flat(entries):
        for e in entries:
            if isinstance(e, tuple):
                yield from flat(e[1])
            elif e != "---" and e not in docks:
                yield e
    on_window = sorted(_describe(a) for a in window.actions())
    assert on_window == sorted([e for _, entries in MENUS for e in flat(entries)] + HIDDEN)


def test_toolbars_and_docks_keep_their_names_and_places(window):
    bars = {(t.objectName(), window.toolBarArea(t).name)
            for t in window.findChildren(QtWidgets.QToolBar)}
    assert bars == {("toolsBar", "TopToolBarArea"), ("optionsBar", "TopToolBarArea"),
                    ("toolOptionsBar", "TopToolBarArea"),
                    ("transportBar", "BottomToolBarArea")}
    docks = {(d.objectName(), d.windowTitle(), window.dockWidgetArea(d).name)
             for d in window.findChildren(QtWidgets.QDockWidget)}
    assert docks == {("layersDock", "Layers", "LeftDockWidgetArea"),
                     ("levelsDock", "Levels", "LeftDockWidgetArea"),
                     ("scoresDock", "Scores", "LeftDockWidgetArea"),
                     ("itemsDock", "Items", "RightDockWidgetArea")}
