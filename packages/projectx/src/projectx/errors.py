"""Errors raised by projectx.

Every error projectx raises itself derives from :class:`ProjectXError`, a
:class:`corekit.errors.CorekitError`, so one ``except CorekitError`` catches failures from any
package in the workspace. Transport failures and HTTP statuses the Gateway answers with (401
after a re-login, 429 past the retry budget, 5xx) come from :mod:`corekit.errors` unchanged,
except on order-changing calls, where an unknown outcome is :class:`OrderSubmissionUncertain`.

::

    ProjectXError
    ├── SettingsError (also ConfigurationError)           a PROJECTX_* setting is missing/invalid
    ├── AccountSelectionError (also ConfigurationError)   no account matches the setting
    ├── GatewayError (also OperationError)               success: false with an errorCode
    │   ├── LoginError                                   Auth/loginKey refused
    │   ├── SessionError                                 Auth/validate or Auth/logout refused
    │   ├── AccountNotFoundError
    │   ├── ContractNotFoundError
    │   ├── OrderNotFoundError
    │   ├── PositionNotFoundError
    │   ├── InvalidRequestError                          bad unit, limit, size: fix the call
    │   └── OrderRejectedError                           the Gateway refused to trade
    │       ├── InsufficientFundsError
    │       ├── ContractNotActiveError
    │       └── OrderPendingError
    └── OrderSubmissionUncertain (also OperationError)   sent, outcome unknown: reconcile
"""

from __future__ import annotations

__all__ = [
    "AccountNotFoundError",
    "AccountSelectionError",
    "ContractNotActiveError",
    "ContractNotFoundError",
    "GatewayError",
    "InsufficientFundsError",
    "InvalidRequestError",
    "LoginError",
    "OrderNotFoundError",
    "OrderPendingError",
    "OrderRejectedError",
    "OrderSubmissionUncertain",
    "PositionNotFoundError",
    "ProjectXError",
    "SessionError",
    "SettingsError",
]

from typing import Any

from corekit.errors import ConfigurationError, CorekitError, OperationError


class ProjectXError(CorekitError):
    """Root of every error raised by projectx."""


class SettingsError(ProjectXError, ConfigurationError):
    """A ``PROJECTX_*`` setting is missing or invalid; the message names each one."""


class AccountSelectionError(ProjectXError, ConfigurationError):
    """No account of the user matches the configured name or id (``PROJECTX_ACCOUNT``)."""


class GatewayError(ProjectXError, OperationError):
    """The Gateway answered ``success: false``.

    Attributes:
        endpoint: the endpoint called, e.g. ``"Order/place"``.
        error_code: the Gateway's ``errorCode``.
        code_name: the name of the code for that endpoint (e.g. ``"InsufficientFunds"``).
        error_message: the Gateway's ``errorMessage``, if any.
    """

    def __init__(
        self,
        message: str,
        *,
        endpoint: str,
        error_code: int,
        code_name: str = "",
        error_message: str | None = None,
    ) -> None:
        super().__init__(message)
        self.endpoint = endpoint
        self.error_code = error_code
        self.code_name = code_name
        self.error_message = error_message


class LoginError(GatewayError):
    """``Auth/loginKey`` refused the user name or API key (check the credentials)."""


class SessionError(GatewayError):
    """``Auth/validate`` or ``Auth/logout`` refused the session token."""


class AccountNotFoundError(GatewayError):
    """The account id is unknown to the Gateway or not accessible to this user."""


class ContractNotFoundError(GatewayError):
    """The contract id is unknown to the Gateway."""


class OrderNotFoundError(GatewayError):
    """The order id is unknown for this account."""


class PositionNotFoundError(GatewayError):
    """There is no open position in that contract for this account."""


class InvalidRequestError(GatewayError):
    """The Gateway refused an argument (bar unit, unit number, limit, close size)."""


class OrderRejectedError(GatewayError):
    """The Gateway refused to place, change, cancel or close (nothing was traded)."""


class InsufficientFundsError(OrderRejectedError):
    """The account lacks the margin or balance for the order."""


class ContractNotActiveError(OrderRejectedError):
    """The contract cannot be traded now (expired or not yet listed)."""


class OrderPendingError(OrderRejectedError):
    """The order or position is busy with an earlier change; try again shortly."""


class OrderSubmissionUncertain(ProjectXError, OperationError):
    """An order-changing request left, but whether the Gateway executed it is unknown.

    The connection failed or the server failed (timeout, dropped connection, 5xx) after the
    request was sent. It is never retried blindly: that could book the order twice. Pass this
    error to :meth:`projectx.Orders.reconcile`, which searches the account's orders by custom
    tag (or time window) and tells you what happened.

    Attributes:
        endpoint: the endpoint called, e.g. ``"Order/place"``.
        payload: the JSON body that was sent.
        account_id: the account the request was for.
        custom_tag: the order's custom tag, if it had one (the surest way to find it).
        sent_at: when the request was sent, seconds since the Unix epoch.
    """

    def __init__(
        self,
        message: str,
        *,
        endpoint: str,
        payload: dict[str, Any],
        sent_at: float,
    ) -> None:
        super().__init__(message)
        self.endpoint = endpoint
        self.payload = payload
        self.sent_at = sent_at
        account = payload.get("accountId")
        self.account_id: int | None = account if isinstance(account, int) else None
        tag = payload.get("customTag")
        self.custom_tag: str | None = tag if isinstance(tag, str) else None
