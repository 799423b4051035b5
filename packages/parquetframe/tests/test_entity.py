from __future__ import annotations

import dataclasses
import datetime as dt
import json
import multiprocessing
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


def test_relationships_both_ways(tmp_path: Path) -> None:
    User = _user_class(tmp_path)
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
