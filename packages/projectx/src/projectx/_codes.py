"""The Gateway's ``errorCode`` values per endpoint, and the error each one raises.

The codes differ per endpoint (``2`` is ``UnitInvalid`` for bars and ``OrderRejected`` for
orders), so the table is keyed by endpoint. An unknown code raises the base
:class:`~projectx.errors.GatewayError` with the Gateway's message.
"""

from __future__ import annotations

from projectx.errors import (
    AccountNotFoundError,
    ContractNotActiveError,
    ContractNotFoundError,
    GatewayError,
    InsufficientFundsError,
    InvalidRequestError,
    LoginError,
    OrderNotFoundError,
    OrderPendingError,
    OrderRejectedError,
    PositionNotFoundError,
    SessionError,
)

_Entry = tuple[str, type[GatewayError]]

_LOGIN: dict[int, _Entry] = {
    1: ("UserNotFound", LoginError),
    2: ("PasswordVerificationFailed", LoginError),
    3: ("InvalidCredentials", LoginError),
    4: ("AppNotFound", LoginError),
    5: ("AppVerificationFailed", LoginError),
    6: ("InvalidDevice", LoginError),
    7: ("AgreementsNotSigned", LoginError),
    8: ("UnknownError", LoginError),
    9: ("ApiSubscriptionNotFound", LoginError),
    10: ("ApiKeyAuthenticationDisabled", LoginError),
}
_ACCOUNT_ONLY: dict[int, _Entry] = {1: ("AccountNotFound", AccountNotFoundError)}
_CANCEL: dict[int, _Entry] = {
    1: ("AccountNotFound", AccountNotFoundError),
    2: ("OrderNotFound", OrderNotFoundError),
    3: ("Rejected", OrderRejectedError),
    4: ("Pending", OrderPendingError),
    5: ("UnknownError", GatewayError),
    6: ("AccountRejected", OrderRejectedError),
}

CODES: dict[str, dict[int, _Entry]] = {
    "auth/loginkey": _LOGIN,
    "auth/logout": {1: ("InvalidSession", SessionError), 2: ("UnknownError", SessionError)},
    "auth/validate": {
        1: ("InvalidSession", SessionError),
        2: ("SessionNotFound", SessionError),
        3: ("ExpiredToken", SessionError),
        4: ("UnknownError", SessionError),
    },
    "contract/searchbyid": {1: ("ContractNotFound", ContractNotFoundError)},
    "history/retrievebars": {
        1: ("ContractNotFound", ContractNotFoundError),
        2: ("UnitInvalid", InvalidRequestError),
        3: ("UnitNumberInvalid", InvalidRequestError),
        4: ("LimitInvalid", InvalidRequestError),
    },
    "order/search": _ACCOUNT_ONLY,
    "order/searchopen": _ACCOUNT_ONLY,
    "position/searchopen": _ACCOUNT_ONLY,
    "trade/search": _ACCOUNT_ONLY,
    "order/searchbyid": {1: ("OrderNotFound", OrderNotFoundError)},
    "order/place": {
        1: ("AccountNotFound", AccountNotFoundError),
        2: ("OrderRejected", OrderRejectedError),
        3: ("InsufficientFunds", InsufficientFundsError),
        4: ("AccountViolation", OrderRejectedError),
        5: ("OutsideTradingHours", OrderRejectedError),
        6: ("OrderPending", OrderPendingError),
        7: ("UnknownError", GatewayError),
        8: ("ContractNotFound", ContractNotFoundError),
        9: ("ContractNotActive", ContractNotActiveError),
        10: ("AccountRejected", OrderRejectedError),
    },
    "order/cancel": _CANCEL,
    "order/modify": {**_CANCEL, 7: ("ContractNotFound", ContractNotFoundError)},
    "position/closecontract": {
        1: ("AccountNotFound", AccountNotFoundError),
        2: ("PositionNotFound", PositionNotFoundError),
        3: ("ContractNotFound", ContractNotFoundError),
        4: ("ContractNotActive", ContractNotActiveError),
        5: ("OrderRejected", OrderRejectedError),
        6: ("OrderPending", OrderPendingError),
        7: ("UnknownError", GatewayError),
        8: ("AccountRejected", OrderRejectedError),
    },
    "position/partialclosecontract": {
        1: ("AccountNotFound", AccountNotFoundError),
        2: ("PositionNotFound", PositionNotFoundError),
        3: ("ContractNotFound", ContractNotFoundError),
        4: ("ContractNotActive", ContractNotActiveError),
        5: ("InvalidCloseSize", InvalidRequestError),
        6: ("OrderRejected", OrderRejectedError),
        7: ("OrderPending", OrderPendingError),
        8: ("UnknownError", GatewayError),
        9: ("AccountRejected", OrderRejectedError),
    },
}

_ADVICE: dict[type[GatewayError], str] = {
    LoginError: "check PROJECTX_USERNAME and PROJECTX_API_KEY (and the API subscription)",
    SessionError: "log in again",
    AccountNotFoundError: "list the accounts with ProjectX.accounts.search() and use one of them",
    ContractNotFoundError: "find the contract id with ProjectX.contracts.search()",
    OrderNotFoundError: "list the account's orders with ProjectX.orders.search()",
    PositionNotFoundError: "list open positions with ProjectX.positions.open()",
    InvalidRequestError: "correct the argument named in the message",
    OrderRejectedError: "nothing was traded; check the order against the account's rules",
    InsufficientFundsError: "nothing was traded; reduce the size or fund the account",
    ContractNotActiveError: "nothing was traded; pick the current contract",
    OrderPendingError: "nothing changed; wait for the earlier change, then try again",
    GatewayError: "the Gateway gave no specific reason; try again later",
}


# A refused cancel or modify traded nothing, but the order may have filled meanwhile: the
# advice for placing orders ("nothing was traded") would mislead here.
_CHANGE_ADVICE: dict[type[GatewayError], str] = {
    OrderRejectedError: (
        "the order was not changed and may already be filled or cancelled; "
        "check it with ProjectX.orders.get()"
    ),
    GatewayError: (
        "the Gateway gave no specific reason; check the order with ProjectX.orders.get() "
        "before sending the change again"
    ),
}
# An unexplained failure of an order-placing call: look before sending it again.
_PLACE_UNKNOWN = (
    "the Gateway gave no specific reason; check ProjectX.orders.search() and "
    "ProjectX.positions.open() before sending it again"
)


def _advice(endpoint: str, cls: type[GatewayError]) -> str:
    lowered = endpoint.lower()
    if lowered in ("order/cancel", "order/modify") and cls in _CHANGE_ADVICE:
        return _CHANGE_ADVICE[cls]
    if cls is GatewayError and lowered in ("order/place", *_POSITION_CHANGES):
        return _PLACE_UNKNOWN
    return _ADVICE[cls]


_POSITION_CHANGES = ("position/closecontract", "position/partialclosecontract")


def gateway_error(endpoint: str, code: object, message: object) -> GatewayError:
    """Return the error for a ``success: false`` answer of ``endpoint``."""
    number = code if isinstance(code, int) and not isinstance(code, bool) else -1
    name, cls = CODES.get(endpoint.lower(), {}).get(number, ("", GatewayError))
    text = message if isinstance(message, str) and message else None
    label = f"errorCode {number}" + (f" {name}" if name else "")
    detail = f": {text}" if text else ""
    msg = f"{endpoint} failed with {label}{detail}; {_advice(endpoint, cls)}"
    return cls(msg, endpoint=endpoint, error_code=number, code_name=name, error_message=text)
