"""Encryption at rest and seal-key loading (mount/storage/barrier.py)."""

import base64
import os
import stat

import pytest

from mount.storage.barrier import KEY_ENV, Barrier, BarrierError, key_fingerprint, load_seal_key


@pytest.fixture
def key():
    return os.urandom(32)


def test_round_trip(key):
    barrier = Barrier(key)
    token = barrier.seal("logical/entra/config", b'{"client_secret": "x"}')
    assert token.startswith("v1:")
    assert barrier.open("logical/entra/config", token) == b'{"client_secret": "x"}'


def test_each_seal_uses_a_fresh_nonce(key):
    barrier = Barrier(key)
    first, second = barrier.seal("k", b"same"), barrier.seal("k", b"same")
    assert first != second
    assert base64.b64decode(first[3:])[:12] != base64.b64decode(second[3:])[:12]


def test_token_holds_no_plaintext(key):
    token = Barrier(key).seal("k", b"s3cr3t-value")
    assert b"s3cr3t" not in base64.b64decode(token[3:])
    assert "s3cr3t" not in token


def test_token_moved_to_another_key_does_not_open(key):
    barrier = Barrier(key)
    token = barrier.seal("logical/entra/roles/alice", b"{}")
    with pytest.raises(BarrierError) as excinfo:
        barrier.open("logical/entra/config", token)
    assert str(excinfo.value) == (
        "cannot decrypt storage entry logical/entra/config: wrong seal key or corrupted data"
    )


def test_wrong_key_does_not_open(key):
    token = Barrier(key).seal("k", b"value")
    with pytest.raises(BarrierError, match="cannot decrypt storage entry k: wrong seal key"):
        Barrier(os.urandom(32)).open("k", token)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-4] + ("AAAA" if not t.endswith("AAAA") else "BBBB"),
        lambda t: "v2" + t[2:],
        lambda t: t[3:],
        lambda t: "v1:not base64!",
        lambda t: "v1:" + base64.b64encode(b"short").decode(),
        lambda t: "",
    ],
    ids=["tampered", "unknown-version", "no-prefix", "bad-base64", "too-short", "empty"],
)
def test_corrupted_tokens_are_refused(key, mangle):
    barrier = Barrier(key)
    token = barrier.seal("k", b"value")
    with pytest.raises(BarrierError, match="wrong seal key or corrupted data"):
        barrier.open("k", mangle(token))


def test_key_must_be_32_bytes():
    with pytest.raises(BarrierError, match="32 bytes"):
        Barrier(os.urandom(16))


def test_repr_hides_the_key(key):
    assert key.hex() not in repr(Barrier(key))
    assert "redacted" in repr(Barrier(key))


def test_fingerprint(key):
    fingerprint = key_fingerprint(key)
    assert len(fingerprint) == 16
    int(fingerprint, 16)
    assert fingerprint == key_fingerprint(bytes(key))
    assert fingerprint != key_fingerprint(os.urandom(32))
    assert fingerprint not in key.hex()
    assert Barrier(key).fingerprint == fingerprint


def test_env_key(tmp_path, key):
    key_file = tmp_path / "seal.key"
    loaded = load_seal_key({KEY_ENV: base64.b64encode(key).decode()}, key_file)
    assert loaded == key
    assert not key_file.exists()


def test_env_key_tolerates_surrounding_whitespace(tmp_path, key):
    env = {KEY_ENV: f"  {base64.b64encode(key).decode()}\n"}
    assert load_seal_key(env, tmp_path / "seal.key") == key


@pytest.mark.parametrize(
    "value",
    [
        base64.b64encode(os.urandom(16)).decode(),
        base64.b64encode(os.urandom(33)).decode(),
        "not base64!",
        "",
    ],
    ids=["16-bytes", "33-bytes", "not-base64", "empty"],
)
def test_env_key_must_be_base64_of_32_bytes(tmp_path, value):
    with pytest.raises(BarrierError) as excinfo:
        load_seal_key({KEY_ENV: value}, tmp_path / "seal.key")
    message = str(excinfo.value)
    assert message.startswith(KEY_ENV)
    assert "base64 encoding of exactly 32 bytes" in message
    assert not (tmp_path / "seal.key").exists()


def test_key_file_is_created_with_mode_0600(tmp_path):
    key_file = tmp_path / "sub" / "seal.key"
    old_umask = os.umask(0)  # even a permissive umask must not widen the mode
    try:
        key = load_seal_key({}, key_file)
    finally:
        os.umask(old_umask)
    assert len(key) == 32
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert base64.b64decode(key_file.read_text().strip()) == key
    assert load_seal_key({}, key_file) == key
    assert [p.name for p in key_file.parent.iterdir()] == ["seal.key"]


def test_existing_key_file_is_read(tmp_path, key):
    key_file = tmp_path / "seal.key"
    key_file.write_text(base64.b64encode(key).decode() + "\n")
    key_file.chmod(0o600)
    assert load_seal_key({}, key_file) == key


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_key_file_readable_by_others_is_refused(tmp_path, key, mode):
    key_file = tmp_path / "seal.key"
    key_file.write_text(base64.b64encode(key).decode())
    key_file.chmod(mode)
    with pytest.raises(BarrierError) as excinfo:
        load_seal_key({}, key_file)
    assert f"chmod 600 {key_file}" in str(excinfo.value)
    assert f"{mode:04o}" in str(excinfo.value)


def test_key_file_with_bad_content_is_refused(tmp_path):
    key_file = tmp_path / "seal.key"
    key_file.write_text("too short")
    key_file.chmod(0o600)
    with pytest.raises(BarrierError, match="base64 encoding of exactly 32 bytes"):
        load_seal_key({}, key_file)


def test_key_file_that_is_a_directory_is_refused(tmp_path):
    key_dir = tmp_path / "seal.key"
    key_dir.mkdir(mode=0o700)
    with pytest.raises(BarrierError, match="seal key file"):
        load_seal_key({}, key_dir)
