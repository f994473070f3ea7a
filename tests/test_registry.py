"""The codec registry: names, tables, errors, and plugins found through real installed entry points.

The plugin cases use ``tests/sample_plugin``, a real distribution that ``make test``
installs into the virtualenv; its entry points are read by importlib.metadata.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, distribution

import pytest

import stdiobridge as sb
from stdiobridge.codecs import codec_sources


@pytest.fixture(scope="module", autouse=True)
def sample_plugin_installed() -> None:
    try:
        distribution("stdiobridge-sample-codec")
    except PackageNotFoundError:
        pytest.fail(
            "tests/sample_plugin is not installed: run `make test` (it installs it) "
            "or `pip install -e tests/sample_plugin`"
        )


def test_builtins_and_plugins_are_listed_sorted() -> None:
    names = sb.available_codecs()
    assert names == sorted(names)
    assert {"lines", "jsonl", "lenprefix", "msgpack", "rot13-lines"} <= set(names)


def test_sources_say_where_each_codec_comes_from() -> None:
    sources = codec_sources()
    assert sources["jsonl"] == "built-in"
    assert sources["rot13-lines"] == "plugin stdiobridge-sample-codec (sample_codec:Rot13Lines)"


def test_plugin_codec_by_name_table_and_options() -> None:
    codec = sb.get_codec("rot13-lines", shout=True)
    assert codec.encode("hello") == b"uryyb\n"
    assert codec.decoder().feed(b"uryyb\n") == ["HELLO"]
    assert sb.get_codec({"name": "rot13-lines"}).decoder().feed(b"nop\n") == ["abc"]
    with pytest.raises(
        sb.ConfigError, match="codec 'rot13-lines' has no option 'loud'; its options are: max_frame, shout"
    ):
        sb.get_codec("rot13-lines", loud=True)


def test_broken_plugins_raise_config_errors_naming_them() -> None:
    with pytest.raises(
        sb.ConfigError, match=r"codec plugin 'broken-plugin' \(sample_codec:DoesNotExist\) failed to load"
    ):
        sb.get_codec("broken-plugin")
    with pytest.raises(sb.ConfigError, match=r"not a stdiobridge\.Codec subclass"):
        sb.get_codec("not-a-codec")


def test_unknown_name_lists_the_available_ones() -> None:
    with pytest.raises(sb.ConfigError, match=r"unknown codec 'yaml'; available: ") as info:
        sb.get_codec("yaml")
    listed = str(info.value).split("available: ")[1].split(", ")
    assert listed == sb.available_codecs()
    assert {"jsonl", "lenprefix", "lines", "msgpack", "rot13-lines"} <= set(listed)


def test_table_needs_a_name() -> None:
    with pytest.raises(sb.ConfigError, match="needs a string 'name'"):
        sb.get_codec({"width": 2})


def test_a_codec_instance_passes_through() -> None:
    codec = sb.get_codec("jsonl")
    assert sb.get_codec(codec) is codec
    with pytest.raises(sb.ConfigError, match="already built"):
        sb.get_codec(codec, max_frame=3)
