"""Settings of the Gateway emulator: credentials, token lifetime, rate limits, accounts, contracts.

The defaults describe a small, realistic practice environment (two active accounts, one
closed one, six futures products listed around the clock's date); every value can be
overridden when the emulator is built.
"""

from __future__ import annotations

__all__ = ["AccountSpec", "ContractSpec", "EmulatorSettings"]

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator


class AccountSpec(BaseModel):
    """A trading account the emulator serves.

    Attributes:
        id: the account id (``accountId`` in requests).
        name: the account name.
        balance: the starting balance; realised P&L and fees move it.
        can_trade: whether orders may be placed (``canTrade``); ``Order/place`` answers
            errorCode 10 (AccountRejected) otherwise.
        active: whether ``Account/search {onlyActiveAccounts: true}`` lists it.
        simulated: the ``simulated`` flag of the account.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: int = Field(gt=0)
    name: str = Field(min_length=1)
    balance: float = 50_000.0
    can_trade: bool = True
    active: bool = True
    simulated: bool = True


class ContractSpec(BaseModel):
    """A futures contract the emulator lists, quotes and trades.

    Attributes:
        id: the contract id, e.g. ``CON.F.US.MNQ.Z26``.
        name: the short name, e.g. ``MNQZ26``.
        description: a human description.
        symbol_id: the product, e.g. ``F.US.MNQ``.
        tick_size: the price increment; order prices must be multiples of it.
        tick_value: currency value of one tick for one contract (drives P&L).
        expiry: last trading day; the front month of a product is its earliest unexpired one
            and is the only one with ``activeContract: true``.
        price: the starting last price (market orders fill at the current last price).
        fee: fees per contract per fill.
        live: whether ``Contract/search {live: true}`` lists it (``False`` for sim-only data).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    description: str = ""
    symbol_id: str = Field(min_length=1)
    tick_size: float = Field(gt=0)
    tick_value: float = Field(gt=0)
    expiry: dt.date
    price: float = Field(gt=0)
    fee: float = Field(default=0.37, ge=0)
    live: bool = True


def default_accounts() -> list[AccountSpec]:
    """Two tradable practice accounts and one closed account."""
    return [
        AccountSpec(id=1001, name="PRAC-V2-EMU-1", balance=50_000.0),
        AccountSpec(id=1002, name="EMU-COMBINE-150K", balance=150_000.0),
        AccountSpec(id=1003, name="EMU-CLOSED", balance=0.0, can_trade=False, active=False),
    ]


class EmulatorSettings(BaseModel):
    """How the emulator behaves; every field has a documented default.

    Attributes:
        username: the user name ``Auth/loginKey`` accepts.
        api_key: the API key ``Auth/loginKey`` accepts.
        token_lifetime: seconds from issue to the JWT's ``exp``; the Gateway's is 24 h.
        validate_window: seconds after ``exp`` during which ``Auth/validate`` still renews a
            token; later it answers errorCode 3 (ExpiredToken).
        bars_rate_limit: requests allowed per ``bars_rate_period`` on ``History/retrieveBars``.
        bars_rate_period: the window of the bars budget, in seconds.
        rate_limit: requests allowed per ``rate_period`` on every other endpoint.
        rate_period: the window of that budget, in seconds.
        rate_limits: whether the two budgets are enforced (429 with ``Retry-After``).
        max_bars: most bars one ``History/retrieveBars`` answer holds; larger limits are capped.
        accounts: the accounts of the user.
        contracts: the contract catalogue; by default (``None``) six futures products,
            each with its last expired month, its front month and later months, listed
            around the clock's date when the emulator is built.
        hub_ping_interval: seconds between the hubs' keep-alive pings.
        market_interval: seconds between scripted market-data steps on the market hub
            (the last price follows the bar generator's price path); ``0`` turns them off,
            so prices move only when told to (``set_price``).
        seed: varies the generated price path; the same seed gives the same bars.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    username: str = Field(default="emulator", min_length=1)
    api_key: SecretStr = SecretStr("emulator-api-key")
    token_lifetime: float = Field(default=86_400.0, gt=0)
    validate_window: float = Field(default=86_400.0, ge=0)
    bars_rate_limit: int = Field(default=50, ge=1)
    bars_rate_period: float = Field(default=30.0, gt=0)
    rate_limit: int = Field(default=200, ge=1)
    rate_period: float = Field(default=60.0, gt=0)
    rate_limits: bool = True
    max_bars: int = Field(default=20_000, ge=1)
    accounts: list[AccountSpec] = Field(default_factory=default_accounts, min_length=1)
    contracts: list[ContractSpec] | None = Field(default=None, min_length=1)
    hub_ping_interval: float = Field(default=15.0, gt=0)
    market_interval: float = Field(default=0.0, ge=0)
    seed: int = 0

    @model_validator(mode="after")
    def _unique_ids(self) -> EmulatorSettings:
        for kind, ids in (
            ("account", [str(a.id) for a in self.accounts]),
            ("contract", [c.id for c in self.contracts or []]),
        ):
            duplicates = sorted({i for i in ids if ids.count(i) > 1})
            if duplicates:
                msg = f"{kind} ids must be unique; repeated: {', '.join(duplicates)}"
                raise ValueError(msg)
        return self
