"""Slows down password guessing: per account (the email typed) and per client address.

A few failures are free; each further one locks the key for a time that doubles, up to a
ceiling. While locked, a login is refused before the password is checked (right or
wrong), so guessing costs the attacker time, not us argon2 work. Counts live in this
process: with several gateway replicas each keeps its own, which multiplies an
attacker's budget by the replica count and no more.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass

# Failures are forgotten this long after the last one ended its lock.
FORGET_AFTER_SECONDS = 15 * 60
MAX_TRACKED = 100_000


@dataclass(slots=True)
class _Record:
    failures: int = 0
    locked_until: float = 0.0
    last_failure: float = 0.0


@dataclass(frozen=True, slots=True)
class Lock:
    """A lock that an attempt started (it holds if the password was wrong)."""

    scope: str  # "account" or "address"
    seconds: float


class LoginThrottle:
    """Failure counts and locks per account and per address."""

    def __init__(
        self,
        *,
        free_failures: int,
        free_failures_per_address: int,
        backoff_seconds: float,
        max_backoff_seconds: float,
    ) -> None:
        self._free = {"account": free_failures, "address": free_failures_per_address}
        self._backoff = backoff_seconds
        self._max_backoff = max_backoff_seconds
        self._records: OrderedDict[tuple[str, str], _Record] = OrderedDict()

    def attempt(
        self, account: str, address: str, now: float | None = None
    ) -> tuple[float, list[Lock]]:
        """Start a login: (seconds to wait, 0 if it may go on; the locks it started).

        An attempt that may go on is counted as a failure at once, before its password is
        checked, and `succeeded` takes that back. Counting first is what stops a burst of
        concurrent guesses: they all start before any of them has been checked.
        """
        now = time.monotonic() if now is None else now
        keys = (("account", account), ("address", address))
        waits = [
            record.locked_until - now
            for record in (self._get(key, now) for key in keys)
            if record is not None and record.locked_until > now
        ]
        if waits:
            return max(waits), []
        locks = []
        for key in keys:
            record = self._get(key, now) or self._put(key)
            self._records.move_to_end(key)
            record.failures += 1
            record.last_failure = now
            beyond = record.failures - self._free[key[0]]
            if beyond > 0:
                seconds = min(self._backoff * 2 ** (beyond - 1), self._max_backoff)
                record.locked_until = now + seconds
                locks.append(Lock(key[0], seconds))
        return 0.0, locks

    def succeeded(self, account: str, address: str) -> None:
        """The password was right: the account starts again, the address's count is undone.

        The address keeps its earlier failures: signing in to one's own account must not
        reset the budget for guessing everybody else's.
        """
        self._records.pop(("account", account), None)
        record = self._records.get(("address", address))
        if record is not None:
            record.failures = max(record.failures - 1, 0)
            if record.failures <= self._free["address"]:
                record.locked_until = 0.0

    def _get(self, key: tuple[str, str], now: float) -> _Record | None:
        record = self._records.get(key)
        if record is None:
            return None
        if now > max(record.locked_until, record.last_failure) + FORGET_AFTER_SECONDS:
            del self._records[key]
            return None
        return record

    def _put(self, key: tuple[str, str]) -> _Record:
        if len(self._records) >= MAX_TRACKED:
            self._records.popitem(last=False)
        record = self._records[key] = _Record()
        return record
