"""Which addresses reach beyond this machine, and the basic-auth list Flower is given."""

from __future__ import annotations

import pytest

from routelearn.domain.exposure import basic_auth_users, is_loopback


@pytest.mark.parametrize("address", ["127.0.0.1", "127.9.9.9", "::1", "[::1]", "localhost"])
def test_loopback(address: str) -> None:
    assert is_loopback(address)


@pytest.mark.parametrize("address", ["0.0.0.0", "", "::", "10.0.0.5", "flower.internal", "my-host"])
def test_beyond_loopback(address: str) -> None:
    assert not is_loopback(address)


def test_basic_auth_users() -> None:
    assert basic_auth_users("ops:correct-horse") == ["ops"]
    assert basic_auth_users("ops:correct-horse,dev:battery:staple") == ["ops", "dev"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("ops", "FLOWER_BASIC_AUTH: entry 1 is not user:password"),
        (":password-long", "FLOWER_BASIC_AUTH: entry 1 is not user:password"),
        ("ops:long-enough,dev:short", "the password of 'dev' (entry 2) is shorter than 8"),
    ],
)
def test_bad_basic_auth_is_named_without_its_password(value: str, message: str) -> None:
    with pytest.raises(ValueError, match="FLOWER_BASIC_AUTH") as info:
        basic_auth_users(value)
    assert message in str(info.value)
    assert "short" not in str(info.value).replace("shorter", "")
    assert "long-enough" not in str(info.value)
