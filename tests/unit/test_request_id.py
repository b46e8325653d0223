"""Request ids are random version-4 UUIDs in the text form str(uuid.uuid4()) gives."""

from __future__ import annotations

import uuid

from mount.ids import new_request_id


def test_request_ids_are_uuid4_text() -> None:
    ids = [new_request_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    for text in ids:
        parsed = uuid.UUID(text)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
        assert str(parsed) == text
