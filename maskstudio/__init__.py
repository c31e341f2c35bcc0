"""maskstudio: a spectrogram mask editor for audio source separation.

The numerical core (:mod:`maskstudio.core`) needs only numpy, scipy and soundfile;
the window (:mod:`maskstudio.ui`) and playback (:mod:`maskstudio.audio`) sit on top of it.
"""

__version__ = "0.1.0"
