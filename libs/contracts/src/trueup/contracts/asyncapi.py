"""Builds the AsyncAPI 3.0 document of every message in the catalogue.

`python -m trueup.contracts.asyncapi > docs/asyncapi.yaml` regenerates it; a test fails
when the committed file is stale.
"""

from __future__ import annotations

import sys
from typing import Any

import yaml

from trueup.contracts.catalogue import CATALOGUE
from trueup.contracts.envelope import Envelope
from trueup.contracts.messages import MessageSpec
from trueup.contracts.streams import ALL_STREAMS, stream_for


def _channel_id(spec: MessageSpec) -> str:
    return spec.model.message_type.replace(".", "_")


def build_document() -> dict[str, Any]:
    """The AsyncAPI document as plain data."""
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for spec in CATALOGUE:
        name = spec.model.__name__
        channel = _channel_id(spec)
        envelope_schema = Envelope[spec.model].model_json_schema(  # type: ignore[name-defined]
            ref_template="#/components/schemas/{model}"
        )
        for def_name, definition in envelope_schema.pop("$defs", {}).items():
            schemas[def_name] = definition
        schemas[f"{name}Envelope"] = envelope_schema
        stored = spec.kind != "query"
        messages[name] = {
            "name": spec.model.message_type,
            "title": name,
            "summary": (spec.model.__doc__ or name).strip().splitlines()[0],
            "contentType": "application/json",
            "headers": {
                "type": "object",
                "properties": {
                    "Nats-Msg-Id": {
                        "type": "string",
                        "description": "The envelope's event_id; JetStream drops repeats.",
                    }
                },
            }
            if stored
            else {"type": "object"},
            "payload": {"$ref": f"#/components/schemas/{name}Envelope"},
        }
        channels[channel] = {
            "address": spec.subject.replace(".*.", ".{tenant_id}.", 1),
            "description": (
                f"{spec.kind} produced by {spec.producer}, consumed by {', '.join(spec.consumers)}"
                + (f"; stored in stream {stream_for(spec.subject).name}" if stored else "")
            ),
            "parameters": {"tenant_id": {"description": "The tenant the message belongs to."}},
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
        }
        operations[f"{spec.producer}_sends_{channel}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{channel}"},
        }
        for consumer in spec.consumers:
            op: dict[str, Any] = {
                "action": "receive",
                "channel": {"$ref": f"#/channels/{channel}"},
            }
            if spec.reply is not None:
                reply_name = spec.reply.__name__
                schemas[reply_name] = spec.reply.model_json_schema(
                    ref_template="#/components/schemas/{model}"
                )
                for def_name, definition in schemas[reply_name].pop("$defs", {}).items():
                    schemas[def_name] = definition
                messages[reply_name] = {
                    "name": reply_name,
                    "contentType": "application/json",
                    "payload": {"$ref": f"#/components/schemas/{reply_name}"},
                }
                op["reply"] = {"messages": [{"$ref": f"#/components/messages/{reply_name}"}]}
            operations[f"{consumer}_receives_{channel}"] = op
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "TrueUp messaging",
            "version": "1.0.0",
            "description": "Events, commands and queries between TrueUp services. Streams: "
            + "; ".join(f"{s.name} ({', '.join(s.subjects)})" for s in ALL_STREAMS),
        },
        "defaultContentType": "application/json",
        "servers": {
            "nats": {"host": "localhost:4222", "protocol": "nats", "description": "JetStream"}
        },
        "channels": dict(sorted(channels.items())),
        "operations": dict(sorted(operations.items())),
        "components": {
            "messages": dict(sorted(messages.items())),
            "schemas": dict(sorted(schemas.items())),
        },
    }


def render() -> str:
    """The document as YAML, deterministic for the staleness test."""
    text: str = yaml.safe_dump(build_document(), sort_keys=False, allow_unicode=True, width=100)
    return text


if __name__ == "__main__":
    sys.stdout.write(render())
