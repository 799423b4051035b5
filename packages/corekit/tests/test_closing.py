"""``Closing`` and ``AsyncClosing`` close on every exit from their block."""

from __future__ import annotations

import pytest

from corekit.closing import AsyncClosing, Closing


class _Resource(Closing):
    def __init__(self) -> None:
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


class _AsyncResource(AsyncClosing):
    def __init__(self) -> None:
        self.closed = 0

    async def aclose(self) -> None:
        self.closed += 1


def test_the_block_gets_the_object_and_closes_it() -> None:
    resource = _Resource()
    with resource as entered:
        assert entered is resource
        assert resource.closed == 0
    assert resource.closed == 1


def test_an_error_in_the_block_still_closes_and_propagates() -> None:
    resource = _Resource()
    with pytest.raises(KeyError), resource:
        raise KeyError("boom")
    assert resource.closed == 1


@pytest.mark.anyio
async def test_async_block_closes_even_on_error() -> None:
    resource = _AsyncResource()
    async with resource as entered:
        assert entered is resource
    assert resource.closed == 1
    with pytest.raises(KeyError):
        async with resource:
            raise KeyError("boom")
    assert resource.closed == 2


def test_a_subclass_without_close_cannot_be_made() -> None:
    class Incomplete(Closing):
        pass

    with pytest.raises(TypeError, match="close"):
        Incomplete()  # type: ignore[abstract]
