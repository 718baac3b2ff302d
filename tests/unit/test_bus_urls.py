"""NATS URLs: several servers, credentials passed to all of them."""

from __future__ import annotations

import pytest

from dutywatch.bus import split_nats_url
from dutywatch.errors import ConfigurationError


@pytest.mark.parametrize(
    ("value", "servers", "credentials"),
    [
        ("nats://127.0.0.1:4222", ["nats://127.0.0.1:4222"], {}),
        ("127.0.0.1", ["nats://127.0.0.1:4222"], {}),
        (
            "tls://dutywatch:s3cret@n1:4222, tls://n2:4222,tls://n3",
            ["tls://n1:4222", "tls://n2:4222", "tls://n3:4222"],
            {"user": "dutywatch", "password": "s3cret"},
        ),
        (
            "nats://svc:p%40ss@[::1]:4300",
            ["nats://[::1]:4300"],
            {"user": "svc", "password": "p@ss"},
        ),
    ],
)
def test_split(value: str, servers: list[str], credentials: dict[str, str]) -> None:
    assert split_nats_url(value) == (servers, credentials)


def test_empty_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        split_nats_url(" , ")
