"""The log store's line format (mount/storage/log_format.py): lines read back as written."""

import json

import pytest

from mount.storage.log_format import (
    LENGTH_BITS,
    LENGTH_MASK,
    ForeignFileError,
    LogFormatError,
    batch_line,
    cold_places,
    header_line,
    read_batch,
    read_header,
    stored_length,
)


def test_a_header_reads_back_its_fingerprint():
    assert read_header(header_line("fp").rstrip(b"\n")) == "fp"
    assert read_header(header_line(None).rstrip(b"\n")) is None


def test_a_header_of_another_file_or_no_json_is_refused():
    with pytest.raises(ForeignFileError):
        read_header(b'{"format": "something-else"}')
    with pytest.raises(LogFormatError, match="header: "):
        read_header(b"{not json")


def test_an_unsealed_batch_line_holds_values_as_json():
    line = batch_line({"a": '{"x":1}', "gone": None, "é": '"v"'}, sealed=False)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert read_batch(line) == {"a": {"x": 1}, "gone": None, "é": "v"}


def test_a_sealed_batch_line_holds_sealed_texts_as_strings():
    line = batch_line({"a": "v1:abc", "gone": None}, sealed=True)
    assert read_batch(line) == {"a": "v1:abc", "gone": None}


@pytest.mark.parametrize("line", [b"{torn", b'{"x": 1}', b'{"w": [1]}'])
def test_a_line_that_is_not_a_batch_is_refused(line):
    with pytest.raises(LogFormatError):
        read_batch(line)


def test_cold_places_point_at_each_cold_text_in_the_file():
    stored = {"sys/expire/a": "v1:AAAA", "config": "v1:BBBB", "sys/expire/b": "v1:CCCC"}
    line = batch_line(stored, sealed=True)
    base = 1000
    places = cold_places(line, base, stored, ("sys/expire/",))
    assert sorted(places) == ["sys/expire/a", "sys/expire/b"]
    file = b"\0" * base + line
    for key, place in places.items():
        offset, size = place >> LENGTH_BITS, place & LENGTH_MASK
        assert file[offset : offset + size].decode() == stored[key]
        assert stored_length(place) == len(stored[key])
    assert cold_places(line, base, stored, ()) == {}
    assert json.loads(line)["w"] == stored
