"""The one status vocabulary of every queue in the workspace."""

from __future__ import annotations

import enum


class QueueItemStatus(enum.StrEnum):
    """Where a queue item is in its life.

    States:

    * ``PENDING``: waiting to be leased; it is leasable once its ``not_before`` (wall clock)
      has passed. New items, nacked items (with a back-off) and recovered items are pending.
    * ``LEASED``: held by one consumer until ``lease_expires_at``. Only the holder of the
      current ``lease_token`` may ack, nack or extend it.
    * ``DONE``: acknowledged. The row stays (counted, its key still reserved) until
      ``purge_done`` removes it.
    * ``DEAD``: dead-lettered, either because the item used its ``max_attempts`` (a nack,
      or the expiry of its last lease) or because the consumer said so
      (``nack(dead=True)``). Kept until an operator requeues it.
    * ``HELD``: paused by an operator (``hold``); never leased until ``release``.

    Allowed transitions (nothing else happens to an item)::

        PENDING --lease--> LEASED
        LEASED  --ack----> DONE
        LEASED  --nack---> PENDING   (not_before = now + delay or back-off; with
                                      nack(count=False) max_attempts grows by one too)
        LEASED  --expiry-> PENDING   (the lease ran out; recovered by lease(), on open or by
                                      recover_expired())
        LEASED  --expiry-> DEAD      (the same, when attempts >= max_attempts: an item that
                                      crashes its consumer is not leased for ever)
        LEASED  --nack---> DEAD      (attempts >= max_attempts, or nack(dead=True))
        DEAD    --requeue> PENDING   (attempts are kept; max_attempts is raised)
        PENDING --retry_now> PENDING (not_before = now: a back-off is cut short)
        PENDING --hold---> HELD      (also while backing off; a leased item cannot be held)
        HELD    --release> PENDING   (not_before = now)

    The values are lower-case strings, so they read well in logs and in the SQLite file.
    """

    PENDING = "pending"
    LEASED = "leased"
    DONE = "done"
    DEAD = "dead"
    HELD = "held"
