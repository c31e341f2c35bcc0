"""Opening a dataset's item: its project, or a new one with a layer per label.

Each item's annotation is a project in the dataset's annotation folder
(:meth:`~maskstudio.annotation.dataset.Dataset.project_path`).  :func:`open_item` opens it
once (on a worker thread: it decodes the mixture and the stems): the project if the item has
one, whose journal the window then offers to recover (:func:`~maskstudio.annotation.recovery.
begin_editing`); otherwise, on a first visit, a new document on the dataset's grid with one
empty layer per label, saved at once so it is journaled from the first stroke.  The item's
stems, when it has them, are conformed to its mixture for the live scores.
"""

from __future__ import annotations

from collections.abc import Callable

from maskstudio.annotation.dataset import Dataset
from maskstudio.annotation.journal import journal_for
from maskstudio.annotation.layouts import prepare
from maskstudio.annotation.project import save_project
from maskstudio.annotation.recovery import Opened, open_for_editing
from maskstudio.editing.document import Document
from maskstudio.errors import ParameterError
from maskstudio.io.ondemand import open_audio, open_reference

__all__ = ["open_item", "enter_item", "kept_note"]


def open_item(dataset: Dataset, index: int, *,
              progress: Callable[[int, int], object] | None = None) -> Opened:
    """Open item ``index`` of ``dataset`` for editing.

    Parameters
    ----------
    dataset : Dataset
    index : int
        The item's position in ``dataset.items``.
    progress : callable, optional
        Accepted for a worker's ``progress(done, total)``; opening reports nothing yet.

    Returns
    -------
    Opened
        The item's document, with its stems in ``doc.references`` (and in ``references``).
        An existing project is not journaled yet: pass it to
        :func:`~maskstudio.annotation.recovery.begin_editing` after asking about recovery.  A
        first visit (``created``) is saved and journaled already.  The dataset's grid is set
        to the document's if it had none.

    Raises
    ------
    maskstudio.annotation.project.MixtureMovedError
        The item's project exists but its mixture is missing or changed (the annotation is
        kept in the project: see :func:`kept_note`).
    maskstudio.errors.MaskStudioError
        The mixture or a stem cannot be read or does not fit, or the new project cannot be
        saved.
    """
    del progress
    if not 0 <= index < len(dataset.items):
        raise ParameterError(f"there is no item {index + 1}: the dataset has "
                             f"{len(dataset.items)}")
    item = prepare(dataset.items[index])  # a MUSDB18 .stem.mp4 decoded on its first visit
    project = dataset.project_path(item)
    if project.exists():
        opened = open_for_editing(project, mixture=item.mixture)
    else:  # the dataset's one grid: chosen, or the one for its first item's rate
        doc = Document(open_audio(item.mixture), dataset.default_config())
        opened = Opened(doc, journal_for(doc), created=True)
    doc = opened.doc
    refs = {}
    for name, path in item.sources.items():
        refs[name] = open_reference(path, doc.clip, name=f"stem '{name}' of {item.name}")
    if dataset.config is None:
        dataset.set_config(doc.config)
    if opened.created:  # a first visit: one empty layer per label, and a project to keep it in
        for label in dataset.labels:
            doc.add_layer(label, label=label, record=False)
        doc.set_status("in progress")
        save_project(doc, project)
        opened.project, opened.journal_path = project, journal_for(doc)
    doc.references.update(refs)
    opened.references = refs
    return opened


def enter_item(dataset: Dataset, index: int, doc: Document) -> None:
    """The item is open in the window: a "to do" item becomes "in progress" in the dataset,
    and the document takes the dataset's status for it (journaled like any edit)."""
    item = dataset.items[index]
    if dataset.status(item) == "to do":
        dataset.set_status(item, "in progress")
    doc.set_status(dataset.status(item))


def kept_note(dataset: Dataset, index: int) -> str:
    """What to add to the message of an item whose mixture moved: its annotation is safe."""
    item = dataset.items[index]
    return (f"\n\nThe annotation of '{item.name}' is kept in {dataset.project_path(item)}; "
            f"restore the item's mixture to go on with it.")
