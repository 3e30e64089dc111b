"""Disk budget policy: what to delete, or whether to refuse, before a write (sans-IO).

Theory of operation: before a frame is written the committer asks
:func:`plan_space` whether ``used + need`` fits under the limit. If not, it
picks whole segments to delete: first segments that are already fully
settled (nothing lost, even the one a stream is appending to), then the least important priority's oldest
segments. What may be evicted depends on the policy:

* ``drop_oldest``: segments of the same or a less important priority.
* ``drop_newest``: only segments of a less important priority; otherwise the
  incoming frame is dropped.
* ``block``: like ``drop_newest``, but the incoming frame is kept in memory
  and the writers are refused (backpressure) until space frees up.

A frame never evicts more important data. Because the check runs before
every write, the files never exceed the limit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from edge_agent.buffer.segments import Segment
from edge_agent.otlp.fragment import Priority

Policy = Literal["drop_oldest", "drop_newest", "block"]
POLICIES: tuple[Policy, ...] = ("drop_oldest", "drop_newest", "block")


@dataclass(frozen=True)
class SpacePlan:
    """``admit``: write the frame (after deleting ``victims``, in order); else refuse it."""

    admit: bool
    victims: tuple[int, ...] = ()


def plan_space(
    segments: Iterable[Segment], *, used: int, need: int, limit: int, priority: Priority, policy: Policy
) -> SpacePlan:
    """Decide how a frame of ``need`` bytes at ``priority`` fits under ``limit``."""
    if used + need <= limit:
        return SpacePlan(True)
    if need > limit:
        return SpacePlan(False)
    candidates = [s for s in segments if s.is_settled() or _may_evict(s.header.priority, priority, policy)]
    candidates.sort(key=lambda s: (not s.is_settled(), -int(s.header.priority), s.seq))
    victims: list[int] = []
    for segment in candidates:
        if used + need <= limit:
            break
        victims.append(segment.seq)
        used -= segment.size
    if used + need <= limit:
        return SpacePlan(True, tuple(victims))
    return SpacePlan(False)


def _may_evict(victim: Priority, incoming: Priority, policy: Policy) -> bool:
    if policy == "drop_oldest":
        return victim >= incoming
    return victim > incoming
