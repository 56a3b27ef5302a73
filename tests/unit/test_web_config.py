"""The web section's config keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.config import load
from appliance.errors import ConfigError


def _load(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "appliance.toml"
    path.write_text(text, encoding="utf-8")
    return load(path)


def test_session_idle_minutes_default_and_set(tmp_path: Path) -> None:
    assert load(None, {}).web.session_idle_minutes == 30.0
    assert _load(tmp_path, "[web]\nsession_idle_minutes = 5\n").web.session_idle_minutes == 5.0


@pytest.mark.parametrize("value", ["0", "1441", '"ten"', "true"])
def test_session_idle_minutes_refused_with_its_key(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError) as error:
        _load(tmp_path, f"[web]\nsession_idle_minutes = {value}\n")
    assert "web.session_idle_minutes" in str(error.value)
    assert "\n" not in str(error.value)


def test_tls_off_by_default_and_its_listen_default() -> None:
    web = load(None, {}).web
    assert web.tls_cert is None and web.tls_key is None and not web.tls
    assert str(web.tls_listen) == "127.0.0.1:8443"


def test_tls_files_are_relative_to_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "tls").mkdir()
    (tmp_path / "tls" / "box.crt").write_text("cert", encoding="utf-8")
    (tmp_path / "tls" / "box.key").write_text("key", encoding="utf-8")
    web = _load(tmp_path, '[web]\ntls_cert = "tls/box.crt"\ntls_key = "tls/box.key"\n'
                          'tls_listen = "127.0.0.1:0"\n').web
    assert web.tls and web.tls_cert == tmp_path / "tls" / "box.crt"
    assert web.tls_key == tmp_path / "tls" / "box.key"
    assert str(web.tls_listen) == "127.0.0.1:0"


@pytest.mark.parametrize(("text", "key"), [
    ('tls_cert = "box.crt"', "web.tls_key"),
    ('tls_key = "box.key"', "web.tls_cert"),
    ('tls_cert = "missing.crt"\ntls_key = "box.key"', "web.tls_cert"),
    ('tls_cert = "box.crt"\ntls_key = "missing.key"', "web.tls_key"),
    ('tls_cert = "box.crt"\ntls_key = "box.key"\ntls_listen = "127.0.0.1:99999"',
     "web.tls_listen"),
])
def test_tls_keys_refused_with_their_key(tmp_path: Path, text: str, key: str) -> None:
    (tmp_path / "box.crt").write_text("cert", encoding="utf-8")
    (tmp_path / "box.key").write_text("key", encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        _load(tmp_path, f"[web]\n{text}\n")
    assert f": {key}: " in str(error.value)
    assert "\n" not in str(error.value)
