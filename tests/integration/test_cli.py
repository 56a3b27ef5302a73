"""The CLI end to end in a temporary data folder, as separate processes."""

from __future__ import annotations

from pathlib import Path

from appliance.store import head_revision
from tests.integration.conftest import appliance, appliance_json, write_config


def test_employee_extension_assign_dismiss_flow(config: Path) -> None:
    employee_id = appliance(config, "employee", "add", "Nguyễn Văn An", "--mobile",
                            "+84 912 345 678").stdout.strip()
    assert employee_id == "1"
    appliance(config, "ext", "add", "101", "--name", "an.nguyen", "--permission", "mobile",
              "--receive", "both", "--group", "sales", "--description", "Sales desk")
    appliance(config, "ext", "assign", "101", employee_id)
    assigned = appliance_json(config, "ext", "show", "101")
    assert assigned["employee_id"] == 1 and assigned["sip_username"] == "101"
    assert (assigned["permission"], assigned["receive"]) == ("mobile", "both")
    appliance(config, "phone", "assign", "00:15:65:AA:BB:CC", "101")
    out = appliance(config, "employee", "dismiss", employee_id).stdout
    assert "extension 101 freed" in out and "phone 001565aabbcc disabled" in out
    freed = appliance_json(config, "ext", "show", "101")
    assert freed["employee_id"] is None
    assert freed["sip_password"] != assigned["sip_password"] and len(freed["sip_password"]) >= 22
    assert appliance_json(config, "phone", "show", "001565aabbcc")["state"] == "disabled"
    person = appliance_json(config, "employee", "show", employee_id)
    assert person["status"] == "dismissed" and person["name"] == "Nguyễn Văn An"
    listed = appliance(config, "employee", "list").stdout.splitlines()
    assert listed[0].split()[:4] == ["ID", "NAME", "MOBILE", "STATUS"]
    assert "dismissed" in listed[1]
    actions = [a["action"] for a in appliance_json(config, "audit")]
    assert actions[:3] == ["extension.credentials_shown", "employee.dismissed",
                           "extension.freed"]


def test_passwd_and_listings_as_json(config: Path) -> None:
    appliance(config, "ext", "add", "7")
    generated = appliance(config, "ext", "passwd", "7", "--generate").stdout.strip()
    assert generated.isalnum() and len(generated) == 24
    chosen = appliance_json(config, "ext", "passwd", "7", "--password", "My-own-pass-123")
    assert chosen["sip_password"] == "My-own-pass-123"
    again = appliance(config, "ext", "passwd", "7", "--password", generated, check=False)
    assert again.returncode == 1 and "used before" in again.stderr
    listing = appliance_json(config, "ext", "list")
    assert [e["number"] for e in listing] == ["7"] and "sip_password" not in listing[0]
    assert appliance_json(config, "employee", "list") == []
    assert appliance_json(config, "phone", "list") == []
    status = appliance_json(config, "status")
    assert status["extensions_free"] == 1 and status["daemon"] == "not running"


def test_errors_are_one_line_with_exit_1_and_usage_exit_2(config: Path) -> None:
    bad = appliance(config, "ext", "add", "12345", check=False)
    assert bad.returncode == 1
    assert bad.stderr.strip().count("\n") == 0 and "1 to 4 digits" in bad.stderr
    missing = appliance(config, "employee", "dismiss", "99", check=False)
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    usage = appliance(config, "ext", "assign", "101", check=False)
    assert usage.returncode == 2
    assert appliance(config, "ext", "add", "1", "--permission", "premium",
                     check=False).returncode == 2
    both = appliance(config, "ext", "passwd", "1", "--generate", "--password", "x" * 12,
                     check=False)
    assert both.returncode == 2


def test_commands_refuse_an_uninitialised_store_and_a_broken_config(tmp_path: Path) -> None:
    fresh = write_config(tmp_path)
    result = appliance(fresh, "employee", "list", check=False)
    assert result.returncode == 1 and "appliance init" in result.stderr
    assert not (tmp_path / "data" / "appliance.db").exists()
    fresh.write_text('[web]\nlisten = "nowhere"\n')
    broken = appliance(fresh, "status", check=False)
    assert broken.returncode == 1 and "web.listen" in broken.stderr
    assert broken.stderr.strip().count("\n") == 0


def test_init_prints_a_setup_token_and_is_idempotent(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    first = appliance(path, "init").stdout
    assert "setup token" in first and f"revision {head_revision()}" in first
    appliance(path, "employee", "add", "Kept")
    second = appliance(path, "init").stdout
    token = first.rsplit(" ", 1)[-1].strip()
    assert second.rsplit(" ", 1)[-1].strip() == token  # the same token until it is used
    token_file = tmp_path / "data" / "run" / "setup-token"
    assert token_file.stat().st_mode & 0o077 == 0
    from appliance.directory import access
    from appliance.store import open_store

    store = open_store(f"sqlite:///{tmp_path / 'data' / 'appliance.db'}")
    assert not access.use_setup_token(store, token + "x")
    assert access.use_setup_token(store, token)
    assert not access.use_setup_token(store, token)  # once only
    assert "setup token" not in appliance(path, "init").stdout
    assert not token_file.exists()
    assert appliance_json(path, "employee", "list")[0]["name"] == "Kept"


def test_admin_commands_create_and_recover_web_users(config: Path) -> None:
    import subprocess
    import sys

    def admin(*args: str, password: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "appliance", "admin", *args,
                               "--password-stdin", "--config", str(config)],
                              input=password + "\n", capture_output=True, text=True,
                              timeout=60, check=False)

    made = admin("add", "Boss", password="a-long-Secret-1")
    assert made.returncode == 0, made.stderr
    assert "admin boss added" in made.stdout
    assert "setup token" not in appliance(config, "init").stdout  # setup is done now
    weak = admin("add", "viewer1", "--role", "viewer", password="short")
    assert weak.returncode == 1 and "password" in weak.stderr
    assert admin("add", "boss", password="another-Secret-2").returncode == 1
    changed = admin("passwd", "boss", password="a-new-Secret-3")
    assert changed.returncode == 0 and "sessions were ended" in changed.stdout
    assert admin("passwd", "nobody", password="a-new-Secret-3").returncode == 1
    users = appliance_json(config, "admin", "list")
    assert [(u["username"], u["role"]) for u in users] == [("boss", "admin")]
    from appliance.store import open_store
    from appliance.web.accounts import Accounts

    accounts = Accounts(open_store(f"sqlite:///{config.parent / 'data' / 'appliance.db'}"))
    assert accounts.authenticate("boss", "a-new-Secret-3") is not None
    assert accounts.authenticate("boss", "a-long-Secret-1") is None
    actions = [a["action"] for a in appliance_json(config, "audit", "--search", "admin")]
    assert "admin.password_changed" in actions and "admin.added" in actions
