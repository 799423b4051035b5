"""Turn corekit's errors into pym2v's, keeping every attribute and adding what to do."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

from corekit import errors as core
from pym2v import errors

# Most specific first: the first class the corekit error is an instance of wins.
_CLASSES: tuple[tuple[type[core.CorekitError], type[errors.Pym2vError]], ...] = (
    (core.AuthenticationError, errors.M2VAuthenticationError),
    (core.NotFoundError, errors.M2VNotFoundError),
    (core.RateLimitedError, errors.M2VRateLimitedError),
    (core.ClientError, errors.M2VClientError),
    (core.ServerError, errors.M2VServerError),
    (core.HTTPStatusError, errors.M2VStatusError),
    (core.ConnectError, errors.M2VConnectError),
    (core.TimeoutError, errors.M2VTimeoutError),
    (core.TransportError, errors.M2VTransportError),
    (core.ResponseTooLargeError, errors.M2VResponseTooLargeError),
    (core.ConfigurationError, errors.M2VConfigurationError),
    (core.OperationError, errors.M2VOperationError),
)

_HINTS: dict[type[errors.Pym2vError], str] = {
    errors.M2VAuthenticationError: (
        "check EUROGARD_USERNAME, EUROGARD_PASSWORD, EUROGARD_CLIENT_ID and "
        "EUROGARD_CLIENT_SECRET, and that the user may read this resource"
    ),
    errors.M2VNotFoundError: "check the machine uuid (see get_machines / find_machine)",
    errors.M2VConnectError: "check EUROGARD_BASE_URL and that the platform is reachable",
    errors.M2VTimeoutError: "raise EUROGARD_TIMEOUT or use a smaller max_frame_length",
    errors.M2VResponseTooLargeError: (
        "use a smaller max_frame_length or raise EUROGARD_MAX_RESPONSE_BYTES"
    ),
}


def translate(exc: core.CorekitError) -> errors.Pym2vError:
    """Return the pym2v error for a corekit error: same attributes, a hint appended."""
    if isinstance(exc, errors.Pym2vError):
        return exc
    target = next((t for s, t in _CLASSES if isinstance(exc, s)), errors.M2VOperationError)
    new = target.__new__(target)
    message = str(exc)
    hint = _HINTS.get(target)
    if hint:
        message = f"{message} ({hint})"
    Exception.__init__(new, message)
    new.__dict__.update(exc.__dict__)
    new.__cause__ = exc.__cause__
    new.__traceback__ = exc.__traceback__
    return new


def reraise(exc: core.CorekitError) -> NoReturn:
    """Raise the pym2v error for ``exc`` in its place."""
    raise translate(exc) from exc.__cause__


@contextmanager
def translated() -> Iterator[None]:
    """Raise pym2v errors for the corekit errors raised inside the block."""
    try:
        yield
    except errors.Pym2vError:
        raise
    except core.CorekitError as exc:
        reraise(exc)
