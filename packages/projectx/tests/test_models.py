import datetime as dt

import pytest

from projectx import (
    Account,
    AccountNotFoundError,
    Contract,
    GatewayError,
    InsufficientFundsError,
    InvalidRequestError,
    LoginError,
    Order,
    OrderRejectedError,
    OrderSide,
    OrderStatus,
    OrderType,
    Position,
    PositionType,
    Trade,
)
from projectx._codes import CODES, gateway_error
from projectx._contracts import choose_account, pick_front_month
from projectx._models import one_digit_year


def contract(name: str, *, active: bool = False, symbol: str = "F.US.MNQ") -> Contract:
    return Contract.model_validate(
        {
            "id": f"CON.{symbol}.{name[-3:]}",
            "name": name,
            "description": "",
            "tickSize": 0.25,
            "tickValue": 0.5,
            "activeContract": active,
            "symbolId": symbol,
            "somethingNew": [1, 2],
        }
    )


def test_models_read_camel_case_and_ignore_unknown_fields() -> None:
    account = Account.model_validate(
        {
            "id": 7,
            "name": "A",
            "balance": 1.5,
            "canTrade": True,
            "isVisible": True,
            "simulated": False,
            "extra": "x",
        }
    )
    assert account.can_trade is True
    order = Order.model_validate(
        {
            "id": 1,
            "accountId": 7,
            "contractId": "C",
            "creationTimestamp": "2026-01-02T03:04:05Z",
            "updateTimestamp": None,
            "status": 2,
            "type": 1,
            "side": 1,
            "size": 3,
            "filledSize": 3,
            "customTag": "t",
        }
    )
    assert order.status is OrderStatus.FILLED
    assert order.status.is_terminal
    assert order.fill_volume == 3
    assert order.side is OrderSide.SELL
    assert order.creation_timestamp == dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert not OrderStatus.OPEN.is_terminal
    position = Position.model_validate(
        {
            "id": 1,
            "accountId": 7,
            "contractId": "C",
            "creationTimestamp": "2026-01-02T03:04:05Z",
            "type": 2,
            "size": 1,
            "averagePrice": 10,
        }
    )
    assert position.type is PositionType.SHORT
    assert position.average_price == 10.0
    trade = Trade.model_validate(
        {
            "id": 1,
            "accountId": 7,
            "contractId": "C",
            "creationTimestamp": "2026-01-02T03:04:05Z",
            "price": 1,
            "profitAndLoss": None,
            "commissions": 0.74,
            "side": 0,
            "size": 1,
            "voided": False,
            "orderId": 9,
        }
    )
    assert trade.fees == 0.74
    assert trade.profit_and_loss is None


def test_expiry_comes_from_the_month_code() -> None:
    assert contract("MNQH26").expiry_month == (2026, 3)
    assert contract("MNQZ5").expiry_month == (2025, 12)
    nameless = Contract(id="X", name="SPOT", tick_size=1, tick_value=1)
    assert nameless.expiry_month is None
    assert nameless.product == "SPOT"
    assert Contract(id="CON.F.US.EP.Z26", name="ESZ26", tick_size=1, tick_value=1).product == (
        "F.US.EP"
    )


def test_front_month_is_chosen_by_expiry_not_alphabetically() -> None:
    listed = [contract("MNQZ25"), contract("MNQH26"), contract("MNQM26")]
    today = dt.date(2025, 11, 20)
    assert pick_front_month(listed, "MNQ", today).name == "MNQZ25"  # type: ignore[union-attr]
    # Expired months are skipped; the Gateway's active flag wins over the calendar.
    assert pick_front_month(listed, "MNQ", dt.date(2026, 1, 5)).name == "MNQH26"  # type: ignore[union-attr]
    flagged = [contract("MNQZ25"), contract("MNQH26", active=True)]
    assert pick_front_month(flagged, "MNQ", today).name == "MNQH26"  # type: ignore[union-attr]
    # Another product that merely contains the text is not a candidate.
    other = [contract("MNQZ25", symbol="F.US.XMNQ")]
    assert pick_front_month(other, "MNQ", today) is None
    # All expired: the latest listing still answers rather than nothing.
    assert pick_front_month(listed, "MNQ", dt.date(2030, 1, 1)) is not None


def test_accounts_are_chosen_by_id_or_name_in_any_case() -> None:
    accounts = [
        Account(id=1, name="Alpha", balance=0, can_trade=True),
        Account(id=22, name="Beta", balance=0, can_trade=True),
    ]
    assert choose_account(accounts, None) == accounts[0]
    assert choose_account(accounts, 22) == accounts[1]
    assert choose_account(accounts, "beta") == accounts[1]
    assert choose_account(accounts, "gamma") is None
    assert choose_account([], None) is None


@pytest.mark.parametrize(
    ("endpoint", "code", "error", "name"),
    [
        ("Auth/loginKey", 3, LoginError, "InvalidCredentials"),
        ("Order/place", 3, InsufficientFundsError, "InsufficientFunds"),
        ("Order/place", 2, OrderRejectedError, "OrderRejected"),
        ("order/search", 1, AccountNotFoundError, "AccountNotFound"),
        ("History/retrieveBars", 2, InvalidRequestError, "UnitInvalid"),
        ("Order/place", 99, GatewayError, ""),
        ("Unknown/endpoint", 1, GatewayError, ""),
    ],
)
def test_each_error_code_maps_to_a_specific_error(
    endpoint: str, code: int, error: type[GatewayError], name: str
) -> None:
    raised = gateway_error(endpoint, code, "the Gateway's words")
    assert type(raised) is error
    assert raised.error_code == code
    assert raised.code_name == name
    assert "the Gateway's words" in str(raised)
    assert raised.endpoint == endpoint


def test_every_documented_code_has_an_error() -> None:
    for endpoint, codes in CODES.items():
        for code, (name, _) in codes.items():
            assert gateway_error(endpoint, code, None).code_name == name
    assert gateway_error("Order/place", None, None).error_code == -1


def test_advice_never_tells_to_resend_an_order_change_blindly() -> None:
    cancel = str(gateway_error("Order/cancel", 3, "already filled"))
    assert "nothing was traded" not in cancel
    assert "orders.get()" in cancel
    assert "orders.get()" in str(gateway_error("Order/modify", 5, None))
    place = str(gateway_error("Order/place", 7, None))
    assert "try again later" not in place
    assert "orders.search()" in place
    assert "positions.open()" in str(gateway_error("Position/closeContract", 7, None))
    assert "nothing was traded" in str(gateway_error("Order/place", 2, None))
    assert "try again later" in str(gateway_error("Contract/search", 9, None))


def test_order_type_values_match_the_wire() -> None:
    assert [OrderType.LIMIT, OrderType.MARKET, OrderType.STOP, OrderType.TRAILING_STOP] == [
        1, 2, 4, 5,
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("digit", "this_year", "expected"),
    [(6, 2026, 2026), (5, 2026, 2025), (4, 2026, 2034), (0, 2029, 2030), (9, 2030, 2029)],
)
def test_a_one_digit_year_is_read_in_the_current_decade_or_the_next(
    digit: int, this_year: int, expected: int
) -> None:
    assert one_digit_year(digit, this_year) == expected
