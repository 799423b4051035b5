from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import json
import multiprocessing
import multiprocessing.process
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pydantic
import pytest

import parquetframe as pf
from parquetframe.errors import EntityError, EntityNotFoundError

UTC = dt.UTC


def _user_class(storage: Path, fmt: str = "parquet", compact_min: int = 10_000) -> type:
    @pf.entity(storage / "users", primary_key="user_id", format=fmt, compact_min=compact_min)
    @dataclasses.dataclass
    class User:
        user_id: int
        name: str
        email: str
        created: dt.datetime
        score: float | None = None
        birthday: dt.date | None = None
        tags: list[str] | None = None
        active: bool = True

        @pf.rel("Post", "user_id", reverse=True)
        def posts(self) -> list[Post]: ...  # type: ignore[empty-body]

    @pf.entity(storage / "posts", primary_key="id", format=fmt, compact_min=compact_min)
    @dataclasses.dataclass
    class Post:
        id: int
        user_id: int | None
        title: str
        published: bool

        @pf.rel(User, "user_id")
        def author(self) -> User | None: ...  # type: ignore[empty-body]

    User.Post = Post  # type: ignore[attr-defined]
    return User


def _user(cls: type, i: int) -> object:
    return cls(
        user_id=i,
        name=f"user {i} ✓",
        email=f"u{i}@example.com",
        created=dt.datetime(2024, 1, 1, 12, 0, 0, i),
        score=None if i % 3 == 0 else i / 7,
        birthday=dt.date(1990, 1, 1) + dt.timedelta(days=i) if i % 2 else None,
        tags=["a", str(i)] if i % 4 == 0 else None,
    )


@pytest.mark.parametrize("fmt", ["parquet", "avro"])
@pytest.mark.parametrize("compact_min", [5, 10_000])
def test_crud_keeps_types(tmp_path: Path, fmt: str, compact_min: int) -> None:
    User = _user_class(tmp_path, fmt, compact_min)
    users = [_user(User, i) for i in range(1, 21)]
    for u in users:
        assert u.save() is u  # type: ignore[attr-defined]
    assert User.count() == 20  # type: ignore[attr-defined]
    for u in users:
        assert User.find(u.user_id) == u  # type: ignore[attr-defined]
    found = User.find(3)  # type: ignore[attr-defined]
    assert found.score is None
    assert isinstance(found.created, dt.datetime)
    assert found.created.tzinfo is None
    assert User.find(4).tags == ["a", "4"]  # type: ignore[attr-defined]
    assert User.find(999) is None  # type: ignore[attr-defined]
    with pytest.raises(EntityNotFoundError):
        User.get(999)  # type: ignore[attr-defined]
    assert User.get(1) == users[0]  # type: ignore[attr-defined]

    users[1].name = "renamed"
    users[1].save()
    assert User.find(2).name == "renamed"  # type: ignore[attr-defined]
    assert User.count() == 20  # type: ignore[attr-defined]

    users[2].delete()
    assert User.find(3) is None  # type: ignore[attr-defined]
    assert User.count() == 19  # type: ignore[attr-defined]
    assert User.find_by(name="user 4 ✓") == [users[3]]  # type: ignore[attr-defined]
    assert User.find_by(score=None, active=True)  # type: ignore[attr-defined]
    assert {u.user_id for u in User.find_by(pl.col("user_id") > 17)} == {18, 19, 20}  # type: ignore[attr-defined]
    assert len(User.find_by(limit=2)) == 2  # type: ignore[attr-defined]
    assert sorted(u.user_id for u in User.find_all()) == [i for i in range(1, 21) if i != 3]  # type: ignore[attr-defined]
    User.compact()  # type: ignore[attr-defined]
    assert User.count() == 19  # type: ignore[attr-defined]
    assert User.find(2).name == "renamed"  # type: ignore[attr-defined]
    User.delete_all()  # type: ignore[attr-defined]
    assert User.count() == 0  # type: ignore[attr-defined]
    assert User.find_all() == []  # type: ignore[attr-defined]


def test_save_many_and_compaction_files(tmp_path: Path) -> None:
    User = _user_class(tmp_path, compact_min=50)
    assert User.save_many([_user(User, i) for i in range(200)]) == 200  # type: ignore[attr-defined]
    assert User.save_many([]) == 0  # type: ignore[attr-defined]
    files = sorted(p.name for p in (tmp_path / "users").iterdir())
    assert [f for f in files if f.startswith("base-")] == ["base-000001.parquet"]
    manifest = json.loads((tmp_path / "users" / "_manifest.json").read_text())
    assert manifest["rows"] == 200
    # Saves after compaction go to the log until it holds half as many entries as the base.
    for i in range(99):
        _user(User, 1000 + i).save()  # type: ignore[attr-defined]
    assert json.loads((tmp_path / "users" / "_manifest.json").read_text())["generation"] == 1
    _user(User, 2000).save()  # type: ignore[attr-defined]
    assert json.loads((tmp_path / "users" / "_manifest.json").read_text())["generation"] == 2
    assert User.count() == 300  # type: ignore[attr-defined]
    schema = pl.read_parquet_schema(tmp_path / "users" / "base-000002.parquet")
    assert schema["created"] == pl.Datetime("us")


@pytest.mark.parametrize("fmt", ["parquet", "avro"])
@pytest.mark.parametrize("compact_min", [2, 10_000], ids=["in-base", "in-log"])
def test_relationships_both_ways(tmp_path: Path, fmt: str, compact_min: int) -> None:
    User = _user_class(tmp_path, fmt=fmt, compact_min=compact_min)
    Post = User.Post  # type: ignore[attr-defined]
    alice = _user(User, 1).save()  # type: ignore[attr-defined]
    _user(User, 2).save()  # type: ignore[attr-defined]
    for i in range(6):
        Post(id=i, user_id=1 if i < 4 else 2, title=f"t{i}", published=i % 2 == 0).save()
    Post(id=99, user_id=None, title="orphan", published=True).save()
    assert sorted(p.id for p in alice.posts()) == [0, 1, 2, 3]
    assert sorted(p.id for p in alice.posts(published=True)) == [0, 2]
    assert [p.id for p in alice.posts(pl.col("title") == "t3")] == [3]
    assert Post.find(5).author().user_id == 2
    assert Post.find(99).author() is None


def test_aware_datetimes_stay_aware_and_mixing_is_refused(tmp_path: Path) -> None:
    User = _user_class(tmp_path, compact_min=2)
    berlin = dt.timezone(dt.timedelta(hours=1))
    u = _user(User, 1)
    u.created = dt.datetime(2024, 1, 1, 12, tzinfo=berlin)  # type: ignore[attr-defined]
    u.save()  # type: ignore[attr-defined]
    v = _user(User, 2)
    v.created = dt.datetime(2024, 1, 1, 12, tzinfo=UTC)  # type: ignore[attr-defined]
    v.save()  # type: ignore[attr-defined]
    back = User.find(1)  # type: ignore[attr-defined]
    assert back.created == u.created  # type: ignore[attr-defined]
    assert back.created.tzinfo is not None
    naive = _user(User, 3)
    with pytest.raises(EntityError, match="aware datetimes"):
        naive.save()  # type: ignore[attr-defined]


def test_pydantic_models_and_base_path(tmp_path: Path) -> None:
    with pf.config_context(entity_base_path=tmp_path, entity_format="avro"):

        @pf.entity("items", primary_key="sku")
        class Item(pydantic.BaseModel):
            sku: str
            price: float
            added: dt.date

        Item(sku="x-1", price=9.5, added=dt.date(2024, 5, 1)).save()  # type: ignore[attr-defined]
        Item.compact()  # type: ignore[attr-defined]
        assert Item.find("x-1") == Item(sku="x-1", price=9.5, added=dt.date(2024, 5, 1))  # type: ignore[attr-defined]
    assert (tmp_path / "items" / "base-000001.avro").exists()


def test_declaration_errors(tmp_path: Path) -> None:
    class Plain:
        x: int

    with pytest.raises(EntityError, match="dataclass or a pydantic model"):
        pf.entity(tmp_path, primary_key="x")(Plain)

    @dataclasses.dataclass
    class Bad:
        x: int
        blob: bytes

    with pytest.raises(EntityError, match="field 'blob'"):
        pf.entity(tmp_path, primary_key="x")(Bad)

    @dataclasses.dataclass
    class Fine:
        x: int | None

    with pytest.raises(EntityError, match="not a field"):
        pf.entity(tmp_path, primary_key="y")(Fine)
    with pytest.raises(EntityError, match="format"):
        pf.entity(tmp_path, primary_key="x", format="csv")(Fine)
    Stored = pf.entity(tmp_path / "fine", primary_key="x")(Fine)
    with pytest.raises(EntityError, match="is None"):
        Stored(x=None).save()  # type: ignore[attr-defined]
    with pytest.raises(EntityError, match="no field"):
        Stored.find_by(nope=1)  # type: ignore[attr-defined]
    with pytest.raises(EntityError, match="expected a Fine"):
        Stored.save_many([object()])  # type: ignore[attr-defined]


def test_unknown_relation_target(tmp_path: Path) -> None:
    @pf.entity(tmp_path / "a", primary_key="id")
    @dataclasses.dataclass
    class A:
        id: int

        @pf.rel("NoSuchEntity", "id")
        def other(self) -> None: ...

    with pytest.raises(EntityError, match="NoSuchEntity"):
        A(id=1).other()


def _writer(storage: str, start: int, count: int) -> None:
    User = _user_class(Path(storage), compact_min=40)
    for i in range(start, start + count):
        _user(User, i).save()  # type: ignore[attr-defined]


def test_several_writer_processes(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_writer, args=(str(tmp_path), n * 1000, 150)) for n in range(2)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
        assert w.exitcode == 0
    User = _user_class(tmp_path)
    assert User.count() == 300  # type: ignore[attr-defined]
    assert User.find(1149) == _user(User, 1149)  # type: ignore[attr-defined]
    assert User.find(0).email == "u0@example.com"  # type: ignore[attr-defined]


def test_a_torn_last_line_is_ignored(tmp_path: Path) -> None:
    User = _user_class(tmp_path)
    _user(User, 1).save()  # type: ignore[attr-defined]
    log = next((tmp_path / "users").glob("log-*.jsonl"))
    with open(log, "a") as f:
        f.write('["u", [2, "half')
    Fresh = _user_class(tmp_path)
    assert Fresh.count() == 1  # type: ignore[attr-defined]
    # The next save must not be glued to the partial line: the log stays readable.
    _user(Fresh, 3).save()  # type: ignore[attr-defined]
    Later = _user_class(tmp_path)
    assert [u.user_id for u in Later.find_all()] == [1, 3]  # type: ignore[attr-defined]
    assert log.read_text().count("half") == 0


def _saver(storage: str, start: int) -> None:
    User = _user_class(Path(storage), compact_min=25)
    for i in itertools.count(start):
        _user(User, i).save()  # type: ignore[attr-defined]


def _bulk_saver(storage: str, count: int) -> None:
    User = _user_class(Path(storage))
    User.save_many(_user(User, i) for i in range(10, 10 + count))  # type: ignore[attr-defined]


def _wait_for(condition: Callable[[], bool], process: multiprocessing.process.BaseProcess) -> None:
    deadline = time.monotonic() + 60
    while not condition():
        assert process.is_alive(), "the writer died on its own"
        assert time.monotonic() < deadline, "the writer made no progress"
        time.sleep(0.002)


def test_a_writer_killed_mid_save_leaves_a_readable_store(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    victim = context.Process(target=_saver, args=(str(tmp_path), 0))
    survivor = context.Process(target=_writer, args=(str(tmp_path), 100_000, 150))
    victim.start()
    survivor.start()
    Reader = _user_class(tmp_path)
    victims = pl.col("user_id") < 100_000
    _wait_for(lambda: len(Reader.find_by(victims)) >= 120, victim)  # type: ignore[attr-defined]
    os.kill(victim.pid or 0, signal.SIGKILL)  # no cleanup at all, at whatever point it was
    victim.join(30)
    survivor.join(120)
    assert survivor.exitcode == 0
    User = _user_class(tmp_path)
    users = User.find_all()  # type: ignore[attr-defined]
    killed = sorted(u.user_id for u in users if u.user_id < 100_000)
    # Each save either happened whole or not at all, in order: a prefix of the victim's saves.
    assert killed == list(range(len(killed)))
    assert len(killed) >= 120
    assert sorted(u.user_id for u in users if u.user_id >= 100_000) == list(range(100_000, 100_150))
    assert all(u == _user(User, u.user_id) for u in users)
    assert User.count() == len(users)  # type: ignore[attr-defined]
    _user(User, 500_000).save()  # type: ignore[attr-defined]
    User.compact()  # type: ignore[attr-defined]
    assert User.find(500_000) == _user(User, 500_000)  # type: ignore[attr-defined]


def test_a_writer_killed_mid_compaction_leaves_the_old_generation(tmp_path: Path) -> None:
    User = _user_class(tmp_path)
    User.save_many([_user(User, i) for i in range(10)])  # type: ignore[attr-defined]
    User.compact()  # type: ignore[attr-defined]
    directory = tmp_path / "users"
    before = json.loads((directory / "_manifest.json").read_text())
    context = multiprocessing.get_context("spawn")
    victim = context.Process(target=_bulk_saver, args=(str(tmp_path), 60_000))
    victim.start()
    # The bulk save appends to the log, then compacts: kill it while the new base is written.
    _wait_for(lambda: any(p.name.endswith(".tmp") for p in directory.iterdir()), victim)
    os.kill(victim.pid or 0, signal.SIGKILL)
    victim.join(30)
    assert any(p.name.endswith(".tmp") for p in directory.iterdir())
    assert json.loads((directory / "_manifest.json").read_text()) == before
    Fresh = _user_class(tmp_path)
    # The saves were all in the log before compaction started, so none is lost.
    assert Fresh.count() == 60_010  # type: ignore[attr-defined]
    assert Fresh.find(60_009) == _user(Fresh, 60_009)  # type: ignore[attr-defined]
    Fresh.compact()  # type: ignore[attr-defined]
    names = sorted(p.name for p in directory.iterdir())
    assert names == [".lock", "_manifest.json", "base-000002.parquet", "log-000002.jsonl"]
    assert Fresh.count() == 60_010  # type: ignore[attr-defined]
