"""The document being edited: tiles, edits, history, display spectrogram, events.

Imports :mod:`maskstudio.dsp` and :mod:`maskstudio.io`, nothing above."""
