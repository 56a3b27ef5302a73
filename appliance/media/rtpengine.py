"""rtpengine run as a part of the box: its own config, started, probed, supervised, stopped.

The config is always ours (the package's binds every interface): userspace only
(``table = -1``; the kernel module has field reports of silent audio), RTP on one address,
the ng port on loopback. The runner starts rtpengine, waits until ng ``ping`` answers,
restarts it with a growing delay when it dies, and stops it by its PID. A leftover rtpengine
of ours (same config file, the daemon killed hard) is stopped before a new one starts.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import signal
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from appliance.config import Listen
from appliance.errors import MediaError, MediaTimeoutError, MediaUnavailableError
from appliance.media.ng import NgClient

log = logging.getLogger("appliance.media")

READY_TIMEOUT = 10.0  # seconds for a started rtpengine to answer ping
STOP_TIMEOUT = 5.0  # seconds after SIGTERM before SIGKILL
BACKOFF = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)  # seconds before each further restart
STABLE_AFTER = 60.0  # a run this long resets the backoff
_SYSTEMD_ENV = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID",
                "LISTEN_FDNAMES")
_LEVELS = {"EMERG": logging.ERROR, "ALERT": logging.ERROR, "CRIT": logging.ERROR,
           "ERR": logging.ERROR, "WARNING": logging.WARNING, "NOTICE": logging.INFO}


@dataclass(frozen=True)
class RtpengineSettings:
    """What rtpengine is started with; ``folder`` holds its config, pidfile and working dir."""

    binary: Path
    ng: Listen
    interface: str
    port_min: int
    port_max: int
    folder: Path
    num_threads: int = 2
    dtmf_dest: Listen | None = None  # where rtpengine reports DTMF (the daemon, loopback)
    # Where the calls being recorded are written (one pcap per call under pcaps/): the
    # packets rtpengine receives from each party (userspace: the kernel's "proc" method
    # needs the module).
    log_level: int = 5  # notice: its per-command info lines (with whole SDPs) stay out

    @property
    def config_file(self) -> Path:
        """The config file the runner writes."""
        return self.folder / "rtpengine.conf"

    @property
    def recording_dir(self) -> Path:
        """Where rtpengine writes what it records (``pcaps/<call-id>-<hex>.pcap``)."""
        return self.folder / "recording"

    @property
    def pidfile(self) -> Path:
        """Where rtpengine writes its PID."""
        return self.folder / "rtpengine.pid"


def render_config(s: RtpengineSettings) -> str:
    """rtpengine's config file (GLib key file, section ``[rtpengine]``) for ``s``."""
    for value in (str(s.folder), s.interface, s.ng.host):  # (recording_dir is under folder)
        if any(c in value for c in "\n\r\0"):
            raise ValueError(f"rtpengine config value {value!r} holds a line break")
    lines = {
        "table": "-1",  # userspace forwarding only, no kernel module
        "interface": s.interface,
        "listen-ng": str(s.ng),
        "port-min": str(s.port_min),
        "port-max": str(s.port_max),
        "num-threads": str(s.num_threads),
        "foreground": "true",
        "log-stderr": "true",
        "no-log-timestamps": "true",
        "log-level": str(s.log_level),
        "pidfile": str(s.pidfile),
        "tos": "184",  # DSCP EF (46) on RTP
        "timeout": "60",  # no RTP for this long: rtpengine ends the call
        "silent-timeout": "3600",  # the same for a call on hold
        "delete-delay": "0",  # a deleted call frees its ports at once
    }
    if s.dtmf_dest is not None:
        lines["dtmf-log-dest"] = str(s.dtmf_dest)
    lines |= {"recording-dir": str(s.recording_dir), "recording-method": "pcap",
              "recording-format": "eth"}
    body = "".join(f"{key} = {value}\n" for key, value in lines.items())
    return "# Written by the appliance at each start; edit the [media] config instead.\n" \
           f"[rtpengine]\n{body}"


def _ours(pid: int, config_file: Path) -> bool:
    """True when ``pid`` is an rtpengine started with ``config_file``."""
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return bool(args) and Path(os.fsdecode(args[0])).name == "rtpengine" and (
        os.fsencode(config_file) in args or os.fsencode(f"--config-file={config_file}") in args)


def _check_addresses(s: RtpengineSettings) -> None:
    """OSError when the ng address is taken or the RTP address is not this host's: rtpengine
    would exit on the first, and start but fail every offer ("Ran out of ports") on the second."""
    for host, port, what in ((s.ng.host, s.ng.port, "ng port"), (s.interface, 0, "RTP address")):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind((host, port))
            except OSError as exc:
                shown = str(Listen(host, port)) if port else host
                raise OSError(exc.errno, f"rtpengine's {what} {shown}: {exc.strerror}") from exc


class RtpengineRunner:
    """One rtpengine process for the daemon's lifetime."""

    def __init__(self, settings: RtpengineSettings, ready_timeout: float = READY_TIMEOUT,
                 backoff: Sequence[float] = BACKOFF, stable_after: float = STABLE_AFTER) -> None:
        self.settings = settings
        self.ready_timeout = ready_timeout
        self.backoff = tuple(backoff)
        self.stable_after = stable_after
        self.restarts = 0
        self.on_restart: list[Callable[[], None]] = []
        self._process: asyncio.subprocess.Process | None = None
        self._ready = False
        self._stopping = False
        self._started_at = 0.0
        self._tasks: list[asyncio.Task[None]] = []
        self._tail: collections.deque[str] = collections.deque(maxlen=20)

    @property
    def pid(self) -> int | None:
        """rtpengine's PID while it runs."""
        proc = self._process
        return proc.pid if proc is not None and proc.returncode is None else None

    @property
    def running(self) -> bool:
        """True while rtpengine runs and has answered ping since it started."""
        return self._ready and self.pid is not None

    async def start(self) -> None:
        """Write the config, start rtpengine and return once it answers ping; supervise it."""
        s = self.settings
        s.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        s.recording_dir.mkdir(exist_ok=True, mode=0o700)
        tmp = s.config_file.with_suffix(".tmp")
        tmp.write_text(render_config(s), encoding="utf-8")
        tmp.replace(s.config_file)
        await self._stop_leftover()
        self._stopping = False
        await self._spawn()
        self._tasks.append(asyncio.create_task(self._supervise(), name="rtpengine"))

    async def _stop_leftover(self) -> None:
        try:
            pid = int(self.settings.pidfile.read_text(encoding="ascii").strip())
        except (OSError, ValueError):
            return
        if pid > 1 and _ours(pid, self.settings.config_file):
            log.warning("media: stopping the rtpengine left running (pid %d)", pid)
            await _terminate(pid, lambda: not _ours(pid, self.settings.config_file))
        with contextlib.suppress(FileNotFoundError):
            self.settings.pidfile.unlink()

    async def _spawn(self) -> None:
        s = self.settings
        self._ready = False
        _check_addresses(s)
        self._tail.clear()
        # systemd's notify socket is the daemon's own (NotifyAccess=main): rtpengine, a notify
        # service itself, would try to report there.
        env = {k: v for k, v in os.environ.items() if k not in _SYSTEMD_ENV}
        proc = await asyncio.create_subprocess_exec(
            str(s.binary), f"--config-file={s.config_file}", cwd=s.folder, env=env,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE, start_new_session=True, limit=1 << 20)
        self._process = proc
        self._started_at = time.monotonic()
        self._tasks = [t for t in self._tasks if not t.done()]
        self._tasks.append(asyncio.create_task(self._read_log(proc), name="rtpengine-log"))
        try:
            await self._wait_ready(proc)
        except BaseException:
            await self._kill(proc)
            raise
        self._ready = True
        log.info("media: rtpengine %d ready, ng on %s, RTP on %s ports %d-%d", proc.pid, s.ng,
                 s.interface, s.port_min, s.port_max)

    async def _wait_ready(self, proc: asyncio.subprocess.Process) -> None:
        probe = NgClient(self.settings.ng.host, self.settings.ng.port, timeouts=(0.2,))
        deadline = time.monotonic() + self.ready_timeout
        try:
            while True:
                if proc.returncode is not None:
                    await asyncio.sleep(0.05)  # let the log reader take its last lines
                    raise MediaUnavailableError(
                        f"rtpengine exited with {proc.returncode} at start: "
                        f"{self._last_lines()}")
                try:
                    await probe.ping()
                    return
                except MediaTimeoutError:
                    if time.monotonic() > deadline:
                        raise MediaUnavailableError(
                            f"rtpengine did not answer ping within {self.ready_timeout:g} s: "
                            f"{self._last_lines()}") from None
        finally:
            probe.close()

    def _last_lines(self) -> str:
        return " | ".join(list(self._tail)[-3:]) or "no output"

    async def _read_log(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stderr is not None
        while True:
            try:
                raw = await proc.stderr.readline()
            except ValueError:  # a line over the limit: its rest is read as the next line
                raw = await proc.stderr.read(1 << 16)
            if not raw:
                return
            line = raw.decode("utf-8", errors="replace").rstrip()
            self._tail.append(line)
            level = _LEVELS.get(line.partition(":")[0].strip(), logging.DEBUG)
            log.log(level, "rtpengine: %s", line)

    async def _supervise(self) -> None:
        failures = 0
        while True:
            proc = self._process
            assert proc is not None
            code = await proc.wait()
            if self._stopping:
                return
            self._ready = False
            if time.monotonic() - self._started_at >= self.stable_after:
                failures = 0
            delay = self.backoff[min(failures, len(self.backoff) - 1)]
            failures += 1
            log.warning("media: rtpengine %d exited with %s (%s); restarting in %g s", proc.pid,
                        code, self._last_lines(), delay)
            await asyncio.sleep(delay)
            try:
                await self._spawn()
            except (MediaError, OSError) as exc:
                log.error("media: rtpengine restart failed: %s", exc)
                continue
            self.restarts += 1
            for callback in self.on_restart:
                callback()

    async def stop(self) -> None:
        """Stop supervising, then stop rtpengine by its PID (SIGTERM, then SIGKILL)."""
        self._stopping = True
        self._ready = False
        supervisor = [t for t in self._tasks if t.get_name() == "rtpengine"]
        for task in supervisor:
            task.cancel()
        await asyncio.gather(*supervisor, return_exceptions=True)
        if self._process is not None:
            await self._kill(self._process)
        await asyncio.gather(*self._tasks, return_exceptions=True)  # log readers end at EOF
        self._tasks.clear()
        with contextlib.suppress(FileNotFoundError):
            self.settings.pidfile.unlink()

    async def _kill(self, proc: asyncio.subprocess.Process) -> None:
        if proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), STOP_TIMEOUT)
        except TimeoutError:
            log.warning("media: rtpengine %d ignored SIGTERM; killing it", proc.pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
            await proc.wait()


async def _terminate(pid: int, gone: Callable[[], bool]) -> None:
    """SIGTERM ``pid`` (not our child), SIGKILL it after STOP_TIMEOUT, until ``gone()``."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline:
            if gone():
                return
            await asyncio.sleep(0.05)
