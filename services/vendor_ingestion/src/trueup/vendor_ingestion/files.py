"""Uploaded files: local scratch copies of the objects in the `imports` bucket.

The gateway puts each upload in the bucket (`trueup.platform.broker.imports_bucket`);
this service copies it to a scratch file (chunk by chunk, never whole in memory) to read
it with pyarrow, and deletes the object once the import is done. The bucket's TTL
removes uploads that were never committed.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from pathlib import Path

from nats.js.errors import NotFoundError, ObjectNotFoundError
from nats.js.object_store import ObjectStore


class UploadMissingError(Exception):
    """The uploaded object is not (or no longer) in the bucket."""


def sha256_hex(object_digest: str | None) -> str:
    """The object store's `SHA-256=<base64url>` digest as hex (the file's content hash)."""
    if not object_digest:
        return ""
    encoded = object_digest.split("=", 1)[1] if "=" in object_digest[:8] else object_digest
    return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).hex()


async def object_digest(bucket: ObjectStore, object_name: str) -> tuple[int, str]:
    """(size in bytes, SHA-256 hex) of an uploaded object."""
    try:
        info = await bucket.get_info(object_name)
    except (ObjectNotFoundError, NotFoundError) as error:
        raise UploadMissingError(object_name) from error
    return int(info.size or 0), sha256_hex(info.digest)


async def fetch(bucket: ObjectStore, object_name: str, target: Path) -> Path:
    """Copy an object into `target` chunk by chunk (its digest is checked by nats-py)."""
    if await asyncio.to_thread(target.exists):
        return target
    await asyncio.to_thread(target.parent.mkdir, parents=True, exist_ok=True)
    partial = target.with_suffix(".part")
    try:
        with partial.open("wb") as handle:
            await bucket.get(object_name, writeinto=handle)  # type: ignore[arg-type]
    except (ObjectNotFoundError, NotFoundError) as error:
        partial.unlink(missing_ok=True)
        raise UploadMissingError(object_name) from error
    partial.replace(target)
    return target


async def discard(bucket: ObjectStore, object_name: str, scratch: Path) -> None:
    """Delete the object and the scratch copy: a committed file is not kept."""
    await asyncio.to_thread(scratch.unlink, missing_ok=True)
    with contextlib.suppress(ObjectNotFoundError, NotFoundError):
        await bucket.delete(object_name)


def sweep_scratch(scratch_dir: Path, max_age_seconds: float) -> int:
    """Delete scratch copies older than `max_age_seconds` (uploads nobody committed)."""
    cutoff = time.time() - max_age_seconds
    removed = 0
    for path in scratch_dir.glob("*/*"):
        with contextlib.suppress(OSError):
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
    return removed
