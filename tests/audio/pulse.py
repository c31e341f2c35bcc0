"""A real, clocked sound server for playback tests: PulseAudio with a null sink.

ALSA's file plugin has no clock, so it cannot show what a listener hears: cut tails, gaps after an
underrun, a pause when the phase mode changes. PulseAudio's null sink plays at the sample rate's
pace, and its monitor is recorded with ``pacat``. The server runs as the test user, on a private
socket in a temporary folder; ALSA's default device (which PortAudio opens) is routed to it through
a private ``ALSA_CONFIG_PATH``, so the user's own sound setup is never touched.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np

RATE = 44100


class PulseUnavailable(RuntimeError):
    pass


class PulseServer:
    """``with PulseServer(folder) as pulse:`` starts the server; ``pulse.env`` routes a child's
    ALSA default device to its null sink; ``pulse.record()`` captures what the sink plays."""

    def __init__(self, folder: Path, *, rate: int = RATE, channels: int = 2):
        self.folder = Path(folder)
        self.rate, self.channels = rate, channels
        self.socket = self.folder / "pulse" / "native"
        self.env: dict[str, str] = {}
        self._proc: subprocess.Popen | None = None
        self._log = None

    def __enter__(self) -> PulseServer:
        for tool in ("pulseaudio", "pacat"):
            if shutil.which(tool) is None:
                raise PulseUnavailable(f"{tool} is not installed (apt-get install pulseaudio "
                                       "pulseaudio-utils libasound2-plugins)")
        runtime = self.folder / "pulse"
        runtime.mkdir(parents=True, exist_ok=True)
        home = self.folder / "home"
        home.mkdir(exist_ok=True)
        conf = self.folder / "asound.conf"
        conf.write_text(Path("/usr/share/alsa/alsa.conf").read_text()
                        + f'\npcm.!default {{ type pulse; server "unix:{self.socket}" }}\n'
                        + f'ctl.!default {{ type pulse; server "unix:{self.socket}" }}\n')
        env = dict(os.environ, XDG_RUNTIME_DIR=str(runtime), PULSE_RUNTIME_PATH=str(runtime),
                   HOME=str(home), PULSE_SERVER=f"unix:{self.socket}",
                   ALSA_CONFIG_PATH=str(conf))
        env.pop("PULSE_COOKIE", None)
        # its log goes to a file: a pipe nobody reads fills and stalls the server
        self._log = open(self.folder / "pulseaudio.log", "wb")  # noqa: SIM115 - closed on exit
        self._proc = subprocess.Popen(
            ["pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1", "--log-target=stderr",
             "--disallow-exit", "--system=false",
             f"--load=module-null-sink sink_name=ns rate={self.rate} channels={self.channels}",
             f"--load=module-native-protocol-unix socket={self.socket} auth-anonymous=1",
             "--load=module-always-sink"],
            env=env, stdout=subprocess.DEVNULL, stderr=self._log, start_new_session=True)
        self.env = env
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                log = (self.folder / "pulseaudio.log").read_bytes()
                raise PulseUnavailable("pulseaudio exited: "
                                       + log.decode(errors="replace")[-500:])
            ok = subprocess.run(["pactl", "info"], env=env, capture_output=True, timeout=10)
            if ok.returncode == 0:
                return self
            time.sleep(0.1)
        self.__exit__(None, None, None)
        raise PulseUnavailable("pulseaudio did not answer within 15 s")

    def __exit__(self, *exc) -> None:
        if self._log is not None:
            self._log.close()
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(5)
            if self._proc.poll() is None:
                self._proc.kill()
                self._proc.wait()

    @contextlib.contextmanager
    def record(self, path: Path):
        """Record the sink's monitor to ``path`` (raw float32) while the block runs; the block
        starts once the capture flows, so nothing played is missed."""
        with open(path, "wb") as out:
            proc = subprocess.Popen(
                ["pacat", "--record", "-d", "ns.monitor", "--format=float32le",
                 f"--rate={self.rate}", f"--channels={self.channels}", "--raw",
                 "--latency-msec=10"], env=self.env, stdout=out, stderr=subprocess.DEVNULL)
            try:
                deadline = time.monotonic() + 10
                while path.stat().st_size < 4 * self.channels * self.rate // 10:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise PulseUnavailable("the capture did not flow (pacat --record)")
                    time.sleep(0.02)
                yield
                time.sleep(0.3)  # the sink's own latency: the last block reaches the monitor
            finally:
                proc.terminate()
                proc.wait(5)

    def captured(self, path: Path) -> np.ndarray:
        """The recording as ``[channels, n]``."""
        data = np.frombuffer(Path(path).read_bytes(), dtype="<f4")
        n = data.size // self.channels
        return data[:n * self.channels].reshape(n, self.channels).T.copy()
