"""Accounts and contracts: search, choose an account, choose the front month by expiry."""

from __future__ import annotations

import datetime as dt

from projectx._models import Account, Contract
from projectx._session import Session
from projectx.errors import AccountSelectionError, ContractNotFoundError

__all__ = ["Accounts", "Contracts", "pick_front_month"]


class Accounts:
    """The user's trading accounts (``client.accounts``)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    async def search(self, *, only_active: bool = True) -> list[Account]:
        """Return the user's accounts (``Account/search``)."""
        data = await self._session.call("Account/search", {"onlyActiveAccounts": only_active})
        return [Account.model_validate(a) for a in data.get("accounts") or []]

    async def select(self, account: str | int | None = None) -> Account:
        """Return the account with this id or name (any case); ``None``: the first one.

        Raises:
            AccountSelectionError: no active account matches (the message lists them).
        """
        accounts = await self.search()
        chosen = choose_account(accounts, account)
        if chosen is None:
            names = ", ".join(f"{a.name} (id {a.id})" for a in accounts) or "none"
            msg = (
                f"no active account matches PROJECTX_ACCOUNT={account!r}; the user's active "
                f"accounts are: {names}"
            )
            raise AccountSelectionError(msg)
        return chosen


def choose_account(accounts: list[Account], wanted: str | int | None) -> Account | None:
    """Return the account matching ``wanted`` (id, or name in any case), or the first."""
    if wanted is None or wanted == "":
        return accounts[0] if accounts else None
    text = str(wanted).strip()
    for account in accounts:
        if text.isdigit() and account.id == int(text):
            return account
    lowered = text.casefold()
    return next((a for a in accounts if a.name.casefold() == lowered), None)


class Contracts:
    """Contract search and the front-month choice (``client.contracts``)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    async def search(self, text: str, *, live: bool = False) -> list[Contract]:
        """Return contracts whose name or symbol contains ``text`` (``Contract/search``).

        Args:
            text: e.g. ``"MNQ"``.
            live: search the live data subscription's contracts (excludes simulated-only).
        """
        data = await self._session.call("Contract/search", {"searchText": text, "live": live})
        return [Contract.model_validate(c) for c in data.get("contracts") or []]

    async def get(self, contract_id: str) -> Contract:
        """Return one contract by id, e.g. ``"CON.F.US.MNQ.H26"`` (``Contract/searchById``).

        Raises:
            ContractNotFoundError: no such contract.
        """
        data = await self._session.call("Contract/searchById", {"contractId": contract_id})
        return Contract.model_validate(data["contract"])

    async def available(self, *, live: bool = False) -> list[Contract]:
        """Return every contract the user may trade (``Contract/available``)."""
        data = await self._session.call("Contract/available", {"live": live})
        return [Contract.model_validate(c) for c in data.get("contracts") or []]

    async def front_month(
        self, symbol: str, *, live: bool = False, today: dt.date | None = None
    ) -> Contract:
        """Return the front-month contract of ``symbol`` (e.g. ``"MNQ"``), chosen by expiry.

        Among the contracts of exactly that product, the Gateway's active ones come first,
        then the nearest expiry not yet past, never the alphabetical first
        (``MNQZ25`` before ``MNQH26``).

        Raises:
            ContractNotFoundError: no contract of that product exists.
        """
        contracts = await self.search(symbol, live=live)
        if today is None:
            today = dt.datetime.fromtimestamp(self._session.clock.time(), dt.UTC).date()
        chosen = pick_front_month(contracts, symbol, today)
        if chosen is None:
            msg = (
                f"no contract of product {symbol!r} found (live={live}); "
                f"search with ProjectX.contracts.search({symbol!r}) to see what exists"
            )
            raise ContractNotFoundError(msg, endpoint="Contract/search", error_code=0)
        return chosen


def _of_product(contract: Contract, symbol: str) -> bool:
    wanted = symbol.strip().upper()
    product = contract.product.upper()
    return product == wanted or product.endswith("." + wanted)


def pick_front_month(contracts: list[Contract], symbol: str, today: dt.date) -> Contract | None:
    """Return the front month of ``symbol`` among ``contracts``, or ``None``."""
    matching = [c for c in contracts if _of_product(c, symbol)]
    if not matching:
        return None
    now = (today.year, today.month)
    live = [c for c in matching if (c.expiry_month or now) >= now] or matching
    # Unknown expiries sort last; the Gateway's own "active" flag wins over the calendar.
    return min(live, key=lambda c: (not c.active_contract, c.expiry_month or (9999, 12), c.id))
