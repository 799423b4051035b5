"""The ``projectx`` command: accounts, contracts, bars, orders and positions from a shell.

Settings come from ``PROJECTX_*`` variables (or ``--env-file``). Results go to stdout as JSON
lines (bars as CSV or Parquet), diagnostics to stderr; a failure exits 1 with the reason, a
configuration problem exits 2. The client, polars and tqdm are imported inside the commands so
``projectx --help`` stays fast.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

if TYPE_CHECKING:
    from projectx._client import ProjectX

__all__ = ["app", "main"]

T = TypeVar("T")

app = typer.Typer(
    name="projectx",
    help="ProjectX Gateway from the shell. Configure with PROJECTX_* variables.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
orders_app = typer.Typer(help="List, place and cancel orders.", no_args_is_help=True)
app.add_typer(orders_app, name="orders")

_state: dict[str, Any] = {"env_file": None, "account": None}

EnvFile = Annotated[
    Path | None, typer.Option("--env-file", help="dotenv file with PROJECTX_* variables.")
]


@app.callback()
def _options(
    env_file: EnvFile = None,
    account: Annotated[
        str | None, typer.Option(help="Account name or id (overrides PROJECTX_ACCOUNT).")
    ] = None,
) -> None:
    _state["env_file"] = env_file
    _state["account"] = account


def _run(work: Callable[[ProjectX], Awaitable[T]]) -> T:
    """Connect, run ``work``, and turn failures into a message and an exit code."""
    import anyio

    from corekit.errors import ConfigurationError, CorekitError
    from projectx._client import ProjectX

    async def session() -> T:
        overrides = {} if _state["account"] is None else {"account": _state["account"]}
        async with ProjectX.from_env(_state["env_file"], **overrides) as px:
            return await work(px)

    try:
        return anyio.run(session)
    except ConfigurationError as exc:
        typer.echo(f"projectx: configuration error: {exc}", err=True)
        raise typer.Exit(2) from None
    except CorekitError as exc:
        typer.echo(f"projectx: {exc}", err=True)
        raise typer.Exit(1) from None


def _emit(rows: list[Any]) -> None:
    for row in rows:
        typer.echo(row.model_dump_json())


@app.command()
def accounts() -> None:
    """List the user's active accounts."""
    _emit(_run(lambda px: px.accounts.search()))


@app.command()
def contracts(
    text: Annotated[str, typer.Argument(help="Symbol or name to search, e.g. MNQ.")],
    live: Annotated[bool, typer.Option(help="Search live-data contracts.")] = False,
    front: Annotated[bool, typer.Option(help="Print only the front month (by expiry).")] = False,
) -> None:
    """Search contracts; ``--front`` picks the front month by expiry."""
    if front:
        _emit([_run(lambda px: px.contracts.front_month(text, live=live))])
    else:
        _emit(_run(lambda px: px.contracts.search(text, live=live)))


_UNITS = ["second", "minute", "hour", "day", "week", "month"]


@app.command()
def bars(  # noqa: PLR0917 - typer maps each parameter to an option
    contract_id: Annotated[str, typer.Argument(help="Contract id, e.g. CON.F.US.MNQ.H26.")],
    start: Annotated[
        dt.datetime | None, typer.Option(help="First bar time (UTC unless it has an offset).")
    ] = None,
    end: Annotated[dt.datetime | None, typer.Option(help="Last bar time; default now.")] = None,
    days: Annotated[float | None, typer.Option(help="Window length, instead of --start.")] = None,
    unit: Annotated[str, typer.Option(help=f"One of {', '.join(_UNITS)}.")] = "minute",
    unit_number: Annotated[int, typer.Option(help="Units per bar (5 = 5-minute bars).")] = 1,
    out: Annotated[
        Path | None,
        typer.Option(help="Write a .csv or .parquet file; default: CSV to stdout."),
    ] = None,
) -> None:
    """Download bars (oldest first) to CSV or Parquet."""
    from tqdm import tqdm  # type: ignore[import-untyped]

    from projectx._models import BarUnit

    if unit.lower() not in _UNITS:
        typer.echo(f"projectx: --unit must be one of {', '.join(_UNITS)}, got {unit!r}", err=True)
        raise typer.Exit(2)
    if start is None and days is None:
        typer.echo("projectx: give --start or --days", err=True)
        raise typer.Exit(2)
    lookback = None if days is None else dt.timedelta(days=days)
    with tqdm(desc="bars", unit=" bars", file=sys.stderr, disable=None) as progress:
        frame = _run(
            lambda px: px.bars.get(
                contract_id,
                start,
                end,
                lookback=lookback,
                unit=BarUnit[unit.upper()],
                unit_number=unit_number,
                on_page=progress.update,
            )
        )
    if out is None:
        sys.stdout.write(frame.write_csv())
    elif out.suffix.lower() == ".parquet":
        frame.write_parquet(out)
    else:
        frame.write_csv(out)
    if out is not None:
        typer.echo(f"wrote {frame.height} bars to {out}", err=True)


@app.command()
def positions() -> None:
    """List the account's open positions."""
    _emit(_run(lambda px: px.positions.open()))


@orders_app.command("list")
def orders_list(
    open_only: Annotated[bool, typer.Option("--open", help="Only working orders.")] = False,
    days: Annotated[float, typer.Option(help="How far back to search.")] = 1.0,
) -> None:
    """List orders (all of the last ``--days``, or only the open ones)."""

    async def work(px: ProjectX) -> list[Any]:
        if open_only:
            return list(await px.orders.open())
        now = dt.datetime.now(dt.UTC)
        return list(await px.orders.search(now - dt.timedelta(days=days)))

    _emit(_run(work))


@orders_app.command("place")
def orders_place(  # noqa: PLR0917 - typer maps each parameter to an option
    contract_id: Annotated[str, typer.Argument(help="Contract id.")],
    side: Annotated[str, typer.Argument(help="buy or sell.")],
    size: Annotated[int, typer.Argument(help="Number of contracts.")],
    limit: Annotated[float | None, typer.Option(help="Limit price (a limit order).")] = None,
    stop: Annotated[float | None, typer.Option(help="Stop price (a stop order).")] = None,
    tag: Annotated[str | None, typer.Option(help="Custom tag, unique per account.")] = None,
) -> None:
    """Place a market order, or a limit/stop order with ``--limit``/``--stop``."""
    from projectx._models import OrderType

    if side not in ("buy", "sell"):
        typer.echo(f"projectx: side must be buy or sell, got {side!r}", err=True)
        raise typer.Exit(2)
    kind = OrderType.LIMIT if limit is not None else OrderType.MARKET
    if stop is not None:
        kind = OrderType.STOP
    order_id = _run(
        lambda px: px.orders.place(
            contract_id,
            "buy" if side == "buy" else "sell",
            size,
            type=kind,
            limit_price=limit,
            stop_price=stop,
            custom_tag=tag,
        )
    )
    typer.echo(json.dumps({"orderId": order_id}))


@orders_app.command("cancel")
def orders_cancel(order_id: Annotated[int, typer.Argument(help="Order id.")]) -> None:
    """Cancel a working order."""
    _run(lambda px: px.orders.cancel(order_id))
    typer.echo(json.dumps({"cancelled": order_id}))


def main() -> None:
    """Entry point of the ``projectx`` script."""
    app()


if __name__ == "__main__":  # pragma: no cover - ``python -m projectx.cli``
    main()
