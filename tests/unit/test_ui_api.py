"""The API's error sentences as the dashboard shows them."""

from __future__ import annotations

from mount.sdk.errors import multierror
from mount.ui.api import ApiFailure


def test_multierror_framing_is_dropped() -> None:
    assert ApiFailure(403, [multierror("permission denied")]).sentence == "permission denied"
    both = ApiFailure(400, [multierror("ttl is bad", "mode is bad")])
    assert both.sentence == "ttl is bad; mode is bad"


def test_plain_sentences_are_kept_and_joined() -> None:
    failure = ApiFailure(400, ["tenant_id is required", "client_id is required"])
    assert failure.sentence == "tenant_id is required; client_id is required"


def test_an_empty_error_list_still_reads_as_a_sentence() -> None:
    assert ApiFailure(404, []).sentence == "nothing found at this path"
    assert ApiFailure(403, []).sentence == "permission denied"
    assert ApiFailure(502, []).sentence == "error 502"
