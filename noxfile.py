"""The one entry point for the workspace's checks.

``uv run nox`` runs the default sessions (what CI runs); ``nox -s bench`` and
``nox -s tests_matrix`` are on demand. Every session installs from ``uv.lock`` with
``uv sync --locked`` into its own virtual environment, so a package that imports a dependency
it does not declare fails here.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import nox

nox.needs_version = ">=2026.4.10"
nox.options.default_venv_backend = "uv"
nox.options.reuse_venv = "yes"
nox.options.error_on_external_run = True

ROOT = Path(__file__).parent
PACKAGES = ["corekit", "pym2v", "projectx", "pywats", "timeline", "parquetframe"]
PYTHONS = ["3.11", "3.12", "3.13"]
DIST = ROOT / "dist"


def _interpreters_on_path() -> None:
    """Let uv find pyenv's 3.11-3.13 (it does not read pyenv) instead of downloading one."""
    versions = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    found = [str(d / "bin") for v in PYTHONS for d in sorted(versions.glob(f"{v}.*"))]
    if found:
        os.environ["PATH"] = os.pathsep.join([*found, os.environ.get("PATH", "")])


_interpreters_on_path()
# Packages whose code runs in greenlets (SQLAlchemy's asyncio layer) need coverage to follow
# them, or it under-reports; greenlet is installed only where SQLAlchemy is, so it is per package.
COVERAGE_CONCURRENCY = {"timeline": "thread,greenlet"}
# Qt renders offscreen everywhere: tests must not need a display.
TEST_ENV = {"QT_QPA_PLATFORM": "offscreen", "PYTHONHASHSEED": "0"}


def _own_groups(package: str, *groups: str) -> list[str]:
    """``--group`` flags for the shared groups plus the package's own ``<package>-<group>``.

    The root defines the groups every package shares (``test``, ``typing``). A member that needs
    more for its tests (corekit's tests run FastAPI apps over a socket) adds a group named
    ``<package>-test`` in its own pyproject.toml instead of shadowing the shared one.
    """
    data = nox.project.load_toml(ROOT / "packages" / package / "pyproject.toml")
    own = data.get("dependency-groups", {})
    flags: list[str] = []
    for group in groups:
        flags += ["--group", group]
        if f"{package}-test" in own and group in ("test", "typing"):
            flags += ["--group", f"{package}-test"]
    return flags


def _sync(session: nox.Session, *args: str) -> None:
    """Install exactly what uv.lock says into this session's venv."""
    session.run_install(
        "uv",
        "sync",
        "--locked",
        "--no-default-groups",
        *args,
        env={"UV_PROJECT_ENVIRONMENT": session.virtualenv.location},
    )


@nox.session
def lint(session: nox.Session) -> None:
    """Ruff (lint and format) and the import-linter contracts of the dependency rules."""
    _sync(session, "--only-group", "lint")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    # import-linter reads the sources; it needs them on the path, not installed.
    src = os.pathsep.join(str(ROOT / "packages" / p / "src") for p in PACKAGES)
    session.run("lint-imports", env={"PYTHONPATH": src})


@nox.session
@nox.parametrize("package", PACKAGES)
def typecheck(session: nox.Session, package: str) -> None:
    """mypy --strict over one package's sources and tests, in that package's own venv."""
    _sync(session, "--package", package, "--all-extras", *_own_groups(package, "typing"))
    session.run("mypy", f"packages/{package}/src")


@nox.session
@nox.parametrize("package", PACKAGES)
def tests(session: nox.Session, package: str) -> None:
    """One package's tests, in a venv holding only that package, its extras and the test group."""
    _sync(session, "--package", package, "--all-extras", *_own_groups(package, "test"))
    data = f"--data-file=.coverage.{package}"
    session.run(
        "coverage",
        "run",
        data,
        # The source directory rather than the package name: Alembic loads migration scripts
        # under module names of its own, which a package-name filter would not measure.
        f"--source=packages/{package}/src/{package}",
        f"--concurrency={COVERAGE_CONCURRENCY.get(package, 'thread')}",
        "-m",
        "pytest",
        f"packages/{package}/tests",
        *session.posargs,
        env=TEST_ENV,
    )
    session.run("coverage", "report", data)


@nox.session
def tests_integration(session: nox.Session) -> None:
    """Tests that cross packages, with every package installed."""
    _sync(session, "--all-packages", "--all-extras", "--group", "test")
    session.run("pytest", "tests-integration", *session.posargs, env=TEST_ENV)


@nox.session
def build(session: nox.Session) -> None:
    """Build every member's sdist and wheel as a user would get them (no workspace sources)."""
    if DIST.exists():
        shutil.rmtree(DIST)
    session.run(
        "uv", "build", "--all-packages", "--no-sources", "--out-dir", str(DIST), external=True
    )


@nox.session(venv_backend="none", requires=["build"])
def wheel_smoke(session: nox.Session) -> None:
    """Plain pip installs each wheel into a clean venv with only what it declares; it imports."""
    wheels = {p: sorted(DIST.glob(f"{p}-*.whl")) for p in PACKAGES}
    missing = [p for p, found in wheels.items() if not found]
    if missing:
        session.error(f"no wheel for {missing} in {DIST}: run `nox -s build` first")
    corekit_wheel = str(wheels["corekit"][-1])
    tmp = Path(session.create_tmp())
    for package in PACKAGES:
        venv = tmp / f"smoke-{package}"
        if venv.exists():
            shutil.rmtree(venv)
        session.run(sys.executable, "-m", "venv", str(venv), external=True)
        python = str(venv / ("Scripts" if os.name == "nt" else "bin") / "python")
        install = [str(wheels[package][-1])]
        if package != "corekit":
            install.insert(0, corekit_wheel)
        session.run(
            python,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            *install,
            external=True,
        )
        others = [p for p in PACKAGES if p not in (package, "corekit")]
        check = (
            "import importlib, importlib.util, sys\n"
            f"m = importlib.import_module({package!r})\n"
            "print(m.__name__, m.__version__)\n"
            f"leaked = [p for p in {others!r} if importlib.util.find_spec(p)]\n"
            "assert not leaked, f'installed other workspace packages: {leaked}'\n"
            f"if {package!r} != 'pywats':\n"
            "    assert importlib.util.find_spec('PySide6') is None, 'PySide6 was pulled in'\n"
        )
        session.run(python, "-c", check, external=True)


@nox.session
def docs(session: nox.Session) -> None:
    """The Sphinx site, warnings as errors."""
    _sync(session, "--all-packages", "--all-extras", "--group", "docs")
    out = ROOT / "docs" / "_build"
    session.run(
        "python",
        "-m",
        "sphinx",
        "-T",
        "-E",
        "-W",
        "--keep-going",
        "-n",
        "-b",
        "html",
        "docs",
        str(out / "html"),
    )


UPSTREAM = ["pym2v", "projectx", "pywats"]


def _upstream_python(session: nox.Session, package: str) -> str:
    """A venv holding the unmodified upstream package pinned in ``upstream/requirements.txt``.

    Its Python is the one named in ``upstream/.python-version`` (3.12 when absent: pym2v 0.2.0
    and project-x-py need it; parquetframe 2.0.0 has wheels for 3.11 only).
    """
    upstream = ROOT / "packages" / package / "upstream"
    pin = upstream / ".python-version"
    version = pin.read_text().strip() if pin.exists() else "3.12"
    venv = Path(session.create_tmp()) / f"upstream-{package}-{version}"
    requirements = upstream / "requirements.txt"
    if not venv.exists():
        session.run("uv", "venv", "--quiet", "-p", version, str(venv), external=True)
    python = str(venv / "bin" / "python")
    session.run(
        "uv", "pip", "install", "--quiet", "-p", python, "-r", str(requirements), external=True
    )
    return python


@nox.session
@nox.parametrize("package", UPSTREAM)
def upstream(session: nox.Session, package: str) -> None:
    """The unmodified upstream client runs its core flows against our emulator.

    ``packages/<package>/upstream/check.py`` starts the emulator from this session's venv and
    runs the upstream client (in its own 3.12 venv, given by ``--upstream-python``) against it.
    """
    _sync(session, "--package", package, "--all-extras", *_own_groups(package, "test"))
    python = _upstream_python(session, package)
    check = ROOT / "packages" / package / "upstream" / "check.py"
    session.run("python", str(check), "--upstream-python", python, env=TEST_ENV)


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """Benchmark scripts: each figure beside the upstream or raw library's, from one run."""
    _sync(session, "--all-packages", "--all-extras", "--group", "bench")
    scripts = sorted(ROOT.glob("packages/*/benchmarks/bench_*.py"))
    if session.posargs:
        scripts = [s for s in scripts if any(a in s.name for a in session.posargs)]
    for script in scripts:
        session.log(f"== {script.relative_to(ROOT)}")
        package = script.parent.parent.name
        env = {}
        if (ROOT / "packages" / package / "upstream" / "requirements.txt").exists():
            # The benchmark runs the upstream package beside ours, in the upstream's own venv.
            env["UPSTREAM_PYTHON"] = _upstream_python(session, package)
        session.run("python", str(script), env=env)


@nox.session(python=PYTHONS, default=False)
@nox.parametrize("package", PACKAGES)
def tests_matrix(session: nox.Session, package: str) -> None:
    """Each package's tests on every Python from 3.11 to 3.13 that pyenv provides."""
    _sync(session, "--package", package, "--all-extras", *_own_groups(package, "test"))
    session.run("pytest", f"packages/{package}/tests", "-q", *session.posargs, env=TEST_ENV)
