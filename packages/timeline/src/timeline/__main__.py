"""``python -m timeline`` runs the CLI."""

from timeline.cli import app

# Worker processes re-import the main module; only the real entry point runs the CLI.
if __name__ == "__main__":  # pragma: no cover - runs as a subprocess in the tests
    app(prog_name="timeline")
