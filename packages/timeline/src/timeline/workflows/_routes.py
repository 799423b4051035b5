"""HTTP routes of this feature, under ``/api/v1``."""

from __future__ import annotations

from fastapi import APIRouter

from timeline._routes import ERROR_RESPONSES

router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES)
