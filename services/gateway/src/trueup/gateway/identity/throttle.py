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
    """A lock that a failure just started."""

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

    def retry_after(self, account: str, address: str, now: float | None = None) -> float:
        """Seconds until a login for this account from this address may be tried; 0 if now."""
        now = time.monotonic() if now is None else now
        waits = [
            record.locked_until - now
            for record in (
                self._get(("account", account), now),
                self._get(("address", address), now),
            )
            if record is not None
        ]
        return max([0.0, *waits])

    def failed(self, account: str, address: str, now: float | None = None) -> list[Lock]:
        """Count a wrong password; returns the locks this failure started."""
        now = time.monotonic() if now is None else now
        locks = []
        for scope, value in (("account", account), ("address", address)):
            record = self._get((scope, value), now) or self._put((scope, value))
            self._records.move_to_end((scope, value))
            record.failures += 1
            record.last_failure = now
            beyond = record.failures - self._free[scope]
            if beyond > 0:
                seconds = min(self._backoff * 2 ** (beyond - 1), self._max_backoff)
                record.locked_until = now + seconds
                locks.append(Lock(scope, seconds))
        return locks

    def succeeded(self, account: str) -> None:
        """The account's password was right: its count starts again.

        The address keeps its count: signing in to one's own account must not reset the
        budget for guessing everybody else's.
        """
        self._records.pop(("account", account), None)

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
