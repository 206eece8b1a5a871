"""Settings: the example file is valid, every error is reported with its key."""

from pathlib import Path

import pytest

from esl_connector.settings.config import ConfigError, load_settings, parse_extension_range, settings_from_dict

EXAMPLE = Path(__file__).resolve().parents[1] / "conf" / "esl-connector.toml"


def test_example_configuration_is_valid_and_matches_the_defaults():
    assert load_settings(EXAMPLE, env={}) == load_settings(None, env={})


def test_every_problem_is_reported_with_its_key_path():
    with pytest.raises(ConfigError) as info:
        settings_from_dict({
            "freeswitch": {"port": "8021", "event_format": "xml", "pasword": "x"},
            "storage": {"url": "mysql://db", "commit_window": 9},
            "tracker": {"extension_pattern": "(["},
        }, env={})
    problems = "\n".join(info.value.problems)
    for key in ("freeswitch.port", "freeswitch.event_format", "freeswitch.pasword",
                "storage.url", "storage.commit_window", "tracker.extension_pattern"):
        assert key in problems


def test_secrets_from_the_environment_override_the_file():
    settings = settings_from_dict({"freeswitch": {"password": "file"}}, env={
        "ESL_CONNECTOR_FREESWITCH_PASSWORD": "from-env", "ESL_CONNECTOR_DATABASE_URL": "sqlite:///tmp/x.db"})
    assert settings.freeswitch.password == "from-env" and settings.storage.url == "sqlite:///tmp/x.db"


def test_bad_toml_and_missing_file_are_one_clear_error(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[freeswitch\nport = 1\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(bad)
    with pytest.raises(ConfigError, match="file not found"):
        load_settings(tmp_path / "missing.toml")


def test_extension_ranges():
    assert parse_extension_range("101-103, 200") == ["101", "102", "103", "200"]
    assert parse_extension_range("0101-0102") == ["0101", "0102"]
    for bad in ("", "abc", "150-101", "1-99999"):
        with pytest.raises(ValueError):
            parse_extension_range(bad)


def test_cdr_settings_are_checked_with_their_keys_and_the_password_may_come_from_the_environment():
    with pytest.raises(ConfigError) as info:
        settings_from_dict({"cdr": {"http": True, "password": "short", "username": "a:b",
                                    "directories": ["relative/dir"], "scan_interval": -1,
                                    "complete_after": 7200, "max_body": 10,
                                    "recording_variables": ["ok_name", "bad name"]}}, env={})
    problems = "\n".join(info.value.problems)
    for key in ("cdr.password", "cdr.username", "cdr.directories[0]", "cdr.scan_interval",
                "cdr.complete_after", "cdr.max_body", "cdr.recording_variables"):
        assert key in problems
    settings = settings_from_dict({"cdr": {"http": True}}, env={"ESL_CONNECTOR_CDR_PASSWORD": "p" * 16})
    assert settings.cdr.password == "p" * 16 and "p" * 16 not in repr(settings)
