"""Decoding an answer from the chunks it arrived in, whatever the chunk boundaries."""

from __future__ import annotations

import orjson
import pytest

from corekit.http import Request, Response
from pym2v import _frames as frames
from pym2v.errors import ResponseFormatError

DATA_URL = "http://m2v.test/backend/machine-controller/postDataByRangeAndInterval"


def _answer(points: dict[str, list[tuple[int, float | int | None]]]) -> bytes:
    results = [
        {
            "dataDefinitionKeyItemName": name,
            "machineUuid": "m-1",
            "values": [{"timestamp": t, "value": v} for t, v in series],
        }
        for name, series in points.items()
    ]
    return orjson.dumps({"results": results, "min": 0.0, "max": 1.0})


def _response(body: bytes = b"") -> Response:
    return Response(200, content=body, request=Request("POST", DATA_URL))


def _pieces(body: bytes, size: int) -> list[bytes]:
    return [body[i : i + size] for i in range(0, len(body), size)]


def _as_lists(series: list[frames.Series]) -> list[tuple[str, list[int], list[float | None]]]:
    return [(s.name, s.timestamps.to_list(), s.values.to_list()) for s in series]


BODY = _answer(
    {
        "a": [(60_000, 1.5), (120_000, None), (180_000, 3)],
        "b": [],
        "c": [(60_000, -2.25e-3)],
    }
)


@pytest.mark.parametrize("size", [1, 2, 5, 9, 10, 11, 64, len(BODY)])
def test_any_chunking_decodes_like_the_whole_body(size: int) -> None:
    chunks = _pieces(BODY, size)
    from_chunks = frames.decode(_response(), chunks)
    assert _as_lists(from_chunks) == _as_lists(frames.decode(_response(BODY)))
    assert _as_lists(from_chunks) == [
        ("a", [60_000, 120_000, 180_000], [1.5, None, 3.0]),
        ("b", [], []),
        ("c", [60_000], [-2.25e-3]),
    ]
    assert chunks == []  # consumed as it was cut


def test_a_pretty_printed_answer_is_decoded_by_the_general_path() -> None:
    body = orjson.dumps(orjson.loads(BODY), option=orjson.OPT_INDENT_2)
    assert _as_lists(frames.decode(_response(), _pieces(body, 7))) == _as_lists(
        frames.decode(_response(BODY))
    )


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b'{"results":[{"dataDefinitionKeyItemName":"a","values":[{"timestamp":1', "not JSON"),
        (b"<html>maintenance</html>", "not JSON"),
        (b'{"results":[{"dataDefinitionKeyItemName":"a","values":[{"t":1}]}]}', "'timestamp'"),
    ],
)
def test_broken_answers_are_reported_with_their_body(body: bytes, problem: str) -> None:
    with pytest.raises(ResponseFormatError, match=problem) as info:
        frames.decode(_response(), _pieces(body, 4))
    assert info.value.body == body.decode()[: len(info.value.body)]
