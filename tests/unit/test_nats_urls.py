"""CENTRALCLOUD_NATS_URL naming one server or a cluster's nodes."""

from __future__ import annotations

import pytest

from centralcloud.core import errors
from centralcloud.runtime import nats_options as nats_connection


def test_one_url_is_one_server() -> None:
    assert nats_connection.server_list("nats://127.0.0.1:4222") == ["nats://127.0.0.1:4222"]


def test_comma_separated_urls_are_several_servers_in_order() -> None:
    assert nats_connection.server_list("nats://a:4222, nats://b:4223,,nats://c:4224 ") == [
        "nats://a:4222", "nats://b:4223", "nats://c:4224",
    ]


@pytest.mark.parametrize("url", ["", " , "])
def test_no_server_is_a_configuration_error(url: str) -> None:
    with pytest.raises(errors.ConfigError):
        nats_connection.server_list(url)


def test_the_embedded_server_listens_where_the_first_url_says() -> None:
    assert nats_connection.nats_host_port("nats://127.0.0.2:4333,nats://127.0.0.3:4444") == ("127.0.0.2", 4333)
