"""Errors raised by the domain. Each says precisely what is wrong."""

from __future__ import annotations

from datetime import date


class DomainError(Exception):
    """Base class of every domain error."""


class CurrencyMismatchError(DomainError):
    """Two amounts of different currencies were combined."""

    def __init__(self, left: str, right: str) -> None:
        super().__init__(f"cannot combine {left} with {right}")
        self.left = left
        self.right = right


class BackdatingNotAllowedError(DomainError):
    """An effective date falls before the current billing period of a contract that forbids it."""

    def __init__(self, contract_id: str, effective: date, period_start: date) -> None:
        super().__init__(
            f"contract {contract_id} does not allow back-dating: effective date {effective} "
            f"is before the current period starting {period_start}"
        )
        self.contract_id = contract_id
        self.effective = effective
        self.period_start = period_start


class InvalidChangeError(DomainError):
    """A requested quantity change is not valid (duplicate date, negative quantity, ...)."""


class TransitionRefusedError(DomainError):
    """An action a card does not accept in its state (or of its kind).

    The message is the reason a person reads, as a sentence.
    """

    def __init__(self, state: str, action: str, reason: str) -> None:
        super().__init__(reason)
        self.state = state
        self.action = action
