"""Every table of the service on one ``MetaData``, for migrations and schema checks.

The feature packages keep their tables in their own ``_models`` modules; importing them here
registers those tables on timeline's one declarative ``Base``.
"""

from __future__ import annotations

from timeline._models import Base
from timeline.documents import _models as _documents_models
from timeline.mail import _models as _mail_models
from timeline.workflows import _models as _workflows_models

__all__ = ["metadata"]

_FEATURES = (_documents_models, _mail_models, _workflows_models)
metadata = Base.metadata
