"""Work that outlives a session: projects and their journal, datasets, batch, live scores.

Imports ``dsp``, ``io`` and ``editing``; never Qt or an audio device."""
