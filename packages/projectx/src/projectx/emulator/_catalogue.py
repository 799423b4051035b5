"""The default contract catalogue, listed around a date so that it never goes stale.

For each product: the month that expired last (clients probe prior months by id), the front
month and a few later ones, with expiries following each exchange's rule closely enough for
front-month logic: equity index futures on the third Friday of March, June, September and
December; micro gold (even months) and crude (every month) in the month before delivery
(the 26th and the 20th, moved back to a Friday over weekends).
"""

from __future__ import annotations

__all__ = ["default_contracts"]

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from projectx.emulator._settings import ContractSpec

_CODES = "FGHJKMNQUVXZ"
_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")  # fmt: skip


def _third_friday(year: int, month: int) -> dt.date:
    first = dt.date(year, month, 1)
    return first + dt.timedelta(days=(4 - first.weekday()) % 7 + 14)


def _before_delivery(day: int) -> Callable[[int, int], dt.date]:
    def expiry(year: int, month: int) -> dt.date:
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
        date = dt.date(year, month, day)
        return date - dt.timedelta(days=max(0, date.weekday() - 4))

    return expiry


@dataclass(frozen=True, slots=True)
class _Product:
    root: str
    symbol: str
    title: str
    tick_size: float
    tick_value: float
    price: float
    fee: float
    months: tuple[int, ...]
    expiry: Callable[[int, int], dt.date]
    later: int = 2


_QUARTERS = (3, 6, 9, 12)
_PRODUCTS = (
    _Product("MNQ", "MNQ", "Micro E-mini Nasdaq-100", 0.25, 0.5, 21_000.0, 0.37, _QUARTERS,
             _third_friday),
    _Product("NQ", "ENQ", "E-mini Nasdaq-100", 0.25, 5.0, 21_000.0, 1.40, _QUARTERS,
             _third_friday),
    _Product("MES", "MES", "Micro E-mini S&P 500", 0.25, 1.25, 6_000.0, 0.37, _QUARTERS,
             _third_friday),
    _Product("ES", "EP", "E-mini S&P 500", 0.25, 12.5, 6_000.0, 1.40, _QUARTERS, _third_friday),
    _Product("MGC", "MGC", "Micro Gold", 0.1, 1.0, 2_650.0, 0.62, (2, 4, 6, 8, 10, 12),
             _before_delivery(26)),
    _Product("CL", "CLE", "Crude Light", 0.01, 10.0, 70.0, 1.50, tuple(range(1, 13)),
             _before_delivery(20), later=3),
)  # fmt: skip


def default_contracts(today: dt.date) -> list[ContractSpec]:
    """The default catalogue around ``today``.

    Per product: the last expired month, the front month (the first expiring on or after
    ``today``) and the later months listed.
    """
    contracts = []
    for product in _PRODUCTS:
        listed = sorted(
            (product.expiry(year, month), year, month)
            for year in range(today.year - 1, today.year + 3)
            for month in product.months
        )
        front = next(i for i, (expiry, _, _) in enumerate(listed) if expiry >= today)
        for expiry, year, month in listed[front - 1 : front + product.later + 1]:
            code = f"{_CODES[month - 1]}{year % 100:02d}"
            contracts.append(
                ContractSpec(
                    id=f"CON.F.US.{product.symbol}.{code}",
                    name=f"{product.root}{code}",
                    description=f"{product.title}: {_NAMES[month - 1]} {year}",
                    symbol_id=f"F.US.{product.symbol}",
                    tick_size=product.tick_size,
                    tick_value=product.tick_value,
                    expiry=expiry,
                    price=product.price,
                    fee=product.fee,
                )
            )
    return contracts
