"""The [media] config keys: defaults, values, one clear line for each bad one, and the
rtpengine config written from them."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.config import Listen, MediaConfig, load
from appliance.errors import ConfigError
from appliance.media.rtpengine import render_config
from appliance.media.service import rtp_address, rtpengine_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "appliance.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults() -> None:
    media = load(None, {}).media
    assert not media.enabled
    assert media.ng_listen == Listen("127.0.0.1", 22223) and media.interface == "127.0.0.1"
    assert (media.rtp_port_min, media.rtp_port_max) == (30000, 30999)
    assert media.max_sessions == 100 and media.rtpengine == Path("/usr/bin/rtpengine")


def test_values(tmp_path: Path) -> None:
    binary = tmp_path / "bin" / "rtpengine"
    binary.parent.mkdir()
    binary.write_text("#!/bin/sh\n")
    media = load(write(tmp_path, """
[media]
enabled = true
ng_listen = "[::1]:2300"
interface = "192.0.2.10"
rtp_port_min = 40000
rtp_port_max = 40399
max_sessions = 100
rtpengine = "bin/rtpengine"
"""), {}).media
    assert media.enabled and media.ng_listen == Listen("::1", 2300)
    assert media.interface == "192.0.2.10" and media.rtpengine == binary
    assert (media.rtp_port_min, media.rtp_port_max, media.max_sessions) == (40000, 40399, 100)


def test_missing_binary_matters_only_when_enabled(tmp_path: Path) -> None:
    off = load(write(tmp_path, '[media]\nrtpengine = "/nowhere/rtpengine"\n'), {}).media
    assert off.rtpengine == Path("/nowhere/rtpengine")
    with pytest.raises(ConfigError, match=r"media\.rtpengine: no such file .*rtpengine-daemon"):
        load(write(tmp_path, '[media]\nenabled = true\nrtpengine = "/nowhere/rtpengine"\n'),
             {})


@pytest.mark.parametrize(("body", "message"), [
    ('ng_listen = "0.0.0.0:2223"', r"media\.ng_listen: .*no password.*127\.0\.0\.1"),
    ('ng_listen = "192.0.2.1:2223"', r"media\.ng_listen: .*must be on 127\.0\.0\.1 or ::1"),
    ('ng_listen = "localhost:2223"', r"media\.ng_listen: .*127\.0\.0\.1 or ::1"),
    ('ng_listen = "127.0.0.1:0"', r"media\.ng_listen: needs a fixed port"),
    ('ng_listen = "127.0.0.1"', r"media\.ng_listen: expected 'host:port'"),
    ('interface = "0.0.0.0"', r"media\.interface: must be one address .*never every"),
    ('interface = "::"', r"media\.interface: must be one address"),
    ('interface = "any"', r"media\.interface: expected the IP address"),
    ('interface = "224.0.1.75"', r"media\.interface: must be one address"),
    ("interface = 5", r"media\.interface: expected a string"),
    ("rtp_port_min = 30001", r"media\.rtp_port_min: must be even"),
    ("rtp_port_min = 80", r"media\.rtp_port_min: must be between 1024 and 65535"),
    ("rtp_port_max = 70000", r"media\.rtp_port_max: must be between 1024 and 65535"),
    ("rtp_port_min = 30000.5", r"media\.rtp_port_min: expected a whole number"),
    ('rtp_port_max = "30999"', r"media\.rtp_port_max: expected a number"),
    ("rtp_port_min = 31000\nrtp_port_max = 30999", r"media\.rtp_port_max: must be above"),
    ("rtp_port_min = 31000\nrtp_port_max = 31000", r"media\.rtp_port_max: must be above"),
    ("max_sessions = 0", r"media\.max_sessions: must be between 1"),
    ("max_sessions = 251", r"media\.max_sessions: 251 calls need 1004 RTP ports.*give 1000"),
    ("enabled = 1", r"media\.enabled: expected true or false"),
    ('rtpengine = ""', r"media\.rtpengine: expected the path of the rtpengine program"),
    ("ports = 3", r"unknown config key: media\.ports"),
])
def test_bad_values(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as error:
        load(write(tmp_path, f"[media]\n{body}\n"), {})
    assert str(error.value).startswith(str(tmp_path / "appliance.toml"))
    assert "\n" not in str(error.value)


def test_rtpengine_config_is_ours(tmp_path: Path) -> None:
    media = MediaConfig(ng_listen=Listen("127.0.0.1", 22300), interface="192.0.2.10",
                        rtp_port_min=40000, rtp_port_max=40999)
    settings = rtpengine_settings(media, tmp_path)
    assert settings.folder == tmp_path / "media"
    text = render_config(settings)
    lines = dict(line.split(" = ", 1) for line in text.splitlines() if " = " in line)
    assert text.splitlines()[1] == "[rtpengine]"
    assert lines["table"] == "-1" and lines["interface"] == "192.0.2.10"
    assert lines["listen-ng"] == "127.0.0.1:22300"
    assert (lines["port-min"], lines["port-max"]) == ("40000", "40999")
    assert lines["num-threads"] == "2" and lines["foreground"] == "true"
    assert lines["log-stderr"] == "true"
    assert lines["pidfile"] == str(tmp_path / "media" / "rtpengine.pid")
    assert "any" not in lines.values()
    # Recording in userspace (pcap; "proc" needs the kernel module), under the data folder.
    assert (lines["recording-method"], lines["recording-format"]) == ("pcap", "eth")
    assert lines["recording-dir"] == str(tmp_path / "media" / "recording")
    six = rtpengine_settings(MediaConfig(ng_listen=Listen("::1", 22300),
                                                    interface="::1"), tmp_path)
    assert "listen-ng = [::1]:22300" in render_config(six)


def test_rtpengine_config_refuses_line_breaks(tmp_path: Path) -> None:
    settings = rtpengine_settings(MediaConfig(), tmp_path / "a\nb")
    with pytest.raises(ValueError):
        render_config(settings)


def test_auto_interface_is_the_first_lan_address_when_the_daemon_starts(
        tmp_path: Path) -> None:
    media = load(write(tmp_path, '[media]\ninterface = "auto"\n'), {}).media
    assert media.interface == "auto"
    assert rtp_address(media, lambda: ["192.0.2.7", "2001:db8::7"]) == "192.0.2.7"
    with pytest.raises(ConfigError, match=r"media\.interface: \"auto\" found no LAN address"):
        rtp_address(media, list)
    fixed = load(write(tmp_path, '[media]\ninterface = "192.0.2.10"\n'), {}).media
    assert rtp_address(fixed, lambda: ["192.0.2.7"]) == "192.0.2.10"
    with pytest.raises(ConfigError, match=r"or \"auto\""):
        load(write(tmp_path, '[media]\ninterface = "automatic"\n'), {})


def test_dtmf_reports_go_where_the_daemon_listens(tmp_path: Path) -> None:
    settings = rtpengine_settings(MediaConfig(), tmp_path, Listen("127.0.0.1", 40123))
    assert "dtmf-log-dest = 127.0.0.1:40123\n" in render_config(settings)
    assert "dtmf-log-dest" not in render_config(rtpengine_settings(MediaConfig(), tmp_path))
