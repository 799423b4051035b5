"""Test kit shipped with corekit: a fake clock, a loopback server runner and fault injection.

Emulators and client tests across the workspace build on these pieces:

* :class:`FakeClock` drives time in tests; nothing sleeps for real.
"""

from __future__ import annotations

from corekit.testing._clock import FakeClock

__all__ = ["FakeClock"]
