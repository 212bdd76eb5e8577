"""Delays between reconnect or restart attempts."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """Exponential delays with full jitter and a cap.

    Attempt 0 waits ``first`` seconds (0 means "at once"); each later attempt
    multiplies the ceiling by ``factor`` up to ``cap``. ``jitter`` is the
    fraction of the delay that is randomised, so that many clients that lost
    the same server do not come back in step.
    """

    first: float = 0.0
    base: float = 0.05
    factor: float = 2.0
    cap: float = 5.0
    jitter: float = 0.5

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before attempt number ``attempt`` (0-based)."""
        if attempt <= 0:
            return self.first
        ceiling = min(self.cap, self.base * self.factor ** (attempt - 1))
        draw = (rng or random).random()
        return ceiling * (1.0 - self.jitter) + ceiling * self.jitter * draw
