"""TrueUp's message contracts: the envelope, payload schemas, subjects and streams."""

from trueup.contracts.envelope import Envelope, Payload, caused_by, new_id, wrap

__all__ = ["Envelope", "Payload", "caused_by", "new_id", "wrap"]
