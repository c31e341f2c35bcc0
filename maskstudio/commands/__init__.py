"""The headless subcommands of ``maskstudio``, one module per kind of work.

Each module declares its subcommands' options (``add_*_parser``) beside the functions that
run them (``cmd_*``): :mod:`~maskstudio.commands.separation` (oracle, separate, batch, demo),
:mod:`~maskstudio.commands.listening` (play, devices); :mod:`~maskstudio.commands.options`
holds what they share (the STFT and phase options, the one-line usage errors).
:mod:`maskstudio.cli` parses the command line, dispatches, and turns failures into one line
and an exit status.
"""
