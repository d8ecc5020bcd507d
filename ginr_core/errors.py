"""The one exception type users see: bad input, explained in plain words."""


class GinrError(ValueError):
    """Raised for any input the library cannot use (bad file, wrong signal length, NaNs...).

    The message is meant to be shown to a user as is, in the UI or on the command line.
    """


class Cancelled(GinrError):
    """Long work (a simulation, a series being built) stopped because its `cancel` event was set."""


def error_message(exc: Exception) -> str:
    """What a user is shown: a GinrError's own words, else the exception's type and message."""
    return str(exc) if isinstance(exc, GinrError) else f"{type(exc).__name__}: {exc}"
