"""Exceptions that the CLI turns into one-line messages and exit code 2.

Every error a user can cause (bad file, missing dataset, bad option) derives from
``SrmetaError`` so the command line can tell user mistakes from bugs: the former get a
clear line, the latter a traceback.
"""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (library errors can span pages)."""
    lines = str(exc).strip().splitlines()
    return lines[0].strip() if lines else type(exc).__name__


class SrmetaError(Exception):
    """Base class for errors caused by user input; the CLI prints them on one line."""


class ImageError(SrmetaError):
    """An image file cannot be read or written (unreadable, truncated, too large, exists)."""


class DatasetError(SrmetaError):
    """A dataset cannot be found or is empty."""


class DegradationError(SrmetaError):
    """A degradation specification is malformed."""


class ConfigError(SrmetaError):
    """An experiment config cannot be read or is invalid; the message is one line."""


class ModelError(SrmetaError):
    """A model name or file cannot be resolved."""
