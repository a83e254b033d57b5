"""Settings are built once from the environment into a frozen, typed object."""

from __future__ import annotations

import dataclasses

import pytest

from blocklist import create_app
from blocklist.config import Settings, settings_of


def test_settings_come_from_blocklist_variables():
    settings = Settings.from_env(
        "/srv/instance",
        {
            "BLOCKLIST_MAX_RANGE_SPAN": "50",
            "BLOCKLIST_TTL_URL": "0",
            "BLOCKLIST_DEFAULT_REGION": "hk",
            "BLOCKLIST_RATE_LIMIT_CARRIER": "5/second",
            "BLOCKLIST_RATE_LIMIT_ENABLED": "off",
            "BLOCKLIST_LONGPOLL_PER_WORKER": "3",
            "BLOCKLIST_AUDIT_RETIRED_PUBLIC_KEYS": " /k/old.pem, ,/k/older.pem ",
            "BLOCKLIST_DATABASE_URL": "postgresql://u@h/db",
        },
    )
    assert settings.max_range_span == 50
    assert settings.entry_ttl["url"] == 0 and settings.entry_ttl["number"] == 180 * 24 * 3600
    assert settings.default_region == "HK"
    assert settings.rate_limits == {"carrier": "5/second", "internet": "6000/minute", "consumer": "600/minute",
                                    "regulator": "1200/minute"}  # fmt: skip
    assert settings.rate_limit_enabled is False
    assert settings.longpoll_per_worker == 3
    assert settings.audit_retired_public_keys == ("/k/old.pem", "/k/older.pem")
    assert settings.database_url == "postgresql+psycopg://u@h/db"


def test_defaults_need_no_environment():
    settings = Settings.from_env("/srv/instance", {})
    assert settings.database_url == "sqlite:////srv/instance/blocklist.sqlite"
    assert settings.audit_signing_key_file == "/srv/instance/audit-signing-key.pem"
    assert settings.longpoll_per_worker is None
    assert len(settings.secret_key) >= 32


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("BLOCKLIST_MAX_RANGE_SPAN", "ten", "BLOCKLIST_MAX_RANGE_SPAN must be an integer, got 'ten'"),
        ("BLOCKLIST_RATE_LIMIT_ENABLED", "maybe", "BLOCKLIST_RATE_LIMIT_ENABLED must be true or false"),
    ],
)
def test_a_malformed_variable_stops_start_up_with_its_name(variable, value, message):
    with pytest.raises(RuntimeError, match=message):
        Settings.from_env("/srv/instance", {variable: value})


def test_settings_cannot_be_changed_once_built():
    settings = Settings.from_env("/srv/instance", {})
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.max_range_span = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        settings.entry_ttl["url"] = 1  # type: ignore[index]


def test_an_unknown_override_is_an_error_not_a_silently_ignored_key(tmp_path):
    with pytest.raises(TypeError, match="MAX_RANGE_SPAN"):
        create_app({"database_url": f"sqlite:///{tmp_path}/x.sqlite", "MAX_RANGE_SPAN": 5})
    app = create_app({"database_url": f"sqlite:///{tmp_path}/x.sqlite", "max_range_span": 5})
    assert settings_of(app).max_range_span == 5
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path}/x.sqlite"


def test_subject_peppers_come_from_a_file_current_first_and_never_show(tmp_path):
    from blocklist.config import require_peppers

    pepper_file = tmp_path / "subject-pepper"
    pepper_file.write_text("# rotated 2026-11\nnew-pepper-0123456789abc\n\nold-pepper-0123456789abc\n")
    settings = Settings.from_env(str(tmp_path), {"BLOCKLIST_SUBJECT_PEPPER": str(pepper_file)})
    assert settings.subject_peppers == ("new-pepper-0123456789abc", "old-pepper-0123456789abc")
    assert require_peppers(settings) == 2
    assert "pepper-0123" not in repr(settings)
    # Unset: the instance directory's file (scripts/start.sh makes it); missing: none, and
    # serving refuses to start (deploy/gunicorn.conf.py) with a sentence naming the file.
    default = Settings.from_env(str(tmp_path / "instance"), {})
    assert default.subject_pepper_file == str(tmp_path / "instance" / "subject-pepper")
    assert default.subject_peppers == ()
    with pytest.raises(RuntimeError, match="no subject pepper.*instance/subject-pepper"):
        require_peppers(default)
    pepper_file.write_text("short\n")
    with pytest.raises(RuntimeError, match="at least 16 characters") as error:
        Settings.from_env(str(tmp_path), {"BLOCKLIST_SUBJECT_PEPPER": str(pepper_file)})
    assert "short" not in str(error.value).replace("shorter", "")
