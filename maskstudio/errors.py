"""Errors a user can cause.

Every one carries a message that says what was wrong and what to do about it.  The command
line prints the message on one line and exits with status 2; the window shows it in a dialog.
Anything else that escapes is a bug in maskstudio.
"""


class MaskStudioError(Exception):
    """Base class of every error a user can cause (bad file, bad option, bad shape)."""


class ParameterError(MaskStudioError, ValueError):
    """An option has a value that cannot be used (a negative hop, an unknown window, ...)."""


class AudioFileError(MaskStudioError):
    """An audio file is missing, unreadable, truncated or empty, or cannot be written."""


class MaskFileError(MaskStudioError):
    """A mask file is missing, malformed, or does not fit the mixture it is applied to."""


class OverwriteError(MaskStudioError):
    """Writing would replace a file the user gave as input."""


class Cancelled(MaskStudioError):
    """The user cancelled a long operation; nothing was changed."""
