"""E-mail accounts, sync runs and imported message ids.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create this feature's tables."""


def downgrade() -> None:
    """Drop this feature's tables."""
