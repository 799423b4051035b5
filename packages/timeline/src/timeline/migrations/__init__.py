"""Alembic migrations, shipped in the wheel and applied by ``timeline migrate``."""
