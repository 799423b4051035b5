"""Tables of this feature (registered on timeline's one ``Base.metadata``)."""

from __future__ import annotations
