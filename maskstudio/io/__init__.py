"""Files: audio, mask files, export targets, atomic writes, safe names, info.

Imports :mod:`maskstudio.dsp` and nothing above it."""
