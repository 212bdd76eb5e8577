"""A real single-machine HDFS for tests: Hadoop's MiniDFSCluster.

One namenode and one datanode on 127.0.0.1, WebHDFS on, permissions off,
started through ``tests/minihdfs/run.sh`` (needs ``java`` 17 and, for the
first build only, ``mvn``)::

    with MiniHdfs() as cluster:
        client = hdfs.InsecureClient(cluster.url, user="volnux")
        cluster.restart_namenode()

For fault tests the namenode can be stopped and started again on the same
ports, and put in safe mode. The JVM's log goes to a file in the cluster's temp
dir (level: ``MINIHDFS_LOG_LEVEL``, default WARN); its tail is included in
``MiniHdfsError`` messages. Stdlib only.
"""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import IO

RUN_SH = Path(__file__).resolve().parent / "minihdfs" / "run.sh"
HOST = "127.0.0.1"
_PREFIX = "MINIHDFS "


class MiniHdfsError(RuntimeError):
    """The mini cluster failed to build, start or run a command."""


class MiniHdfs:
    """A MiniDFSCluster JVM.

    Ports 0 mean free ports, chosen by the JVM at start. ``user`` is only the
    ``user.name`` of the readiness probe: permissions are off, so every user
    may do everything.
    """

    def __init__(
        self, http_port: int = 0, rpc_port: int = 0, user: str = "volnux"
    ) -> None:
        self.user = user
        self._want_http = http_port
        self._want_rpc = rpc_port
        self._http_port: int | None = None
        self._rpc_port: int | None = None
        self._proc: subprocess.Popen[str] | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader: threading.Thread | None = None
        self._tmp: Path | None = None
        self._log: IO[bytes] | None = None

    @property
    def http_port(self) -> int:
        """Namenode HTTP (WebHDFS) port."""
        if self._http_port is None:
            raise MiniHdfsError("mini HDFS is not running")
        return self._http_port

    @property
    def rpc_port(self) -> int:
        """Namenode RPC port (``hdfs://127.0.0.1:PORT``)."""
        if self._rpc_port is None:
            raise MiniHdfsError("mini HDFS is not running")
        return self._rpc_port

    @property
    def url(self) -> str:
        """WebHDFS base URL, e.g. for ``hdfs.InsecureClient``."""
        return f"http://{HOST}:{self.http_port}"

    @staticmethod
    def build(timeout: float = 900.0) -> None:
        """Resolve the classpath and compile the launcher (cached by run.sh)."""
        done = subprocess.run(
            ["bash", str(RUN_SH), "--build"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise MiniHdfsError(f"minihdfs build failed:\n{done.stderr}")

    def start(self, timeout: float = 120.0) -> MiniHdfs:
        """Start the cluster; return once WebHDFS answers.

        Builds first if needed (see ``build``, which has its own timeout).
        """
        if self._proc is not None:
            raise MiniHdfsError("mini HDFS is already started")
        self.build()
        deadline = time.monotonic() + timeout
        self._tmp = Path(tempfile.mkdtemp(prefix="minihdfs-"))
        self._log = open(self._tmp / "minihdfs.log", "wb")
        args = [str(self._want_http), str(self._want_rpc), str(self._tmp / "data")]
        # JVM temp files (Jetty's) go to our temp dir too, removed by stop().
        jvm_tmp = self._tmp / "jvm"
        jvm_tmp.mkdir()
        env = dict(os.environ)
        opts = f"{env.get('MINIHDFS_JAVA_OPTS', '')} -Djava.io.tmpdir={jvm_tmp}"
        env["MINIHDFS_JAVA_OPTS"] = opts.strip()
        self._proc = subprocess.Popen(
            ["bash", str(RUN_SH), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            bufsize=1,
            env=env,
        )
        self._lines = queue.Queue()
        self._reader = threading.Thread(
            target=self._read_stdout, name="minihdfs-stdout", daemon=True
        )
        self._reader.start()
        try:
            ready = self._expect("READY", deadline)
            fields = dict(f.split("=", 1) for f in ready.split()[2:])
            self._http_port = int(fields["http_port"])
            self._rpc_port = int(fields["rpc_port"])
            self._wait_webhdfs(deadline)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM the JVM (SIGKILL after ``timeout``), remove the data."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._reader is not None:
            self._reader.join(5)
            self._reader = None
        if proc is not None:
            for stream in (proc.stdin, proc.stdout):
                try:
                    if stream is not None:
                        stream.close()
                except OSError:
                    pass
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
        self._http_port = self._rpc_port = None

    def stop_namenode(self, timeout: float = 60.0) -> None:
        """Shut the namenode down; the datanode keeps running."""
        self._command("stop-namenode", "NAMENODE STOPPED", timeout)

    def start_namenode(self, timeout: float = 120.0) -> None:
        """Start a stopped namenode on the same ports and data."""
        self._command("start-namenode", "NAMENODE STARTED", timeout)

    def restart_namenode(self, timeout: float = 120.0) -> None:
        """Restart the namenode on the same ports, keeping its data."""
        self._command("restart-namenode", "NAMENODE RESTARTED", timeout)

    def enter_safemode(self, timeout: float = 60.0) -> None:
        """Put the namenode in safe mode: writes then fail, reads work."""
        self._command("enter-safemode", "SAFEMODE ON", timeout)

    def leave_safemode(self, timeout: float = 60.0) -> None:
        """Take the namenode out of safe mode."""
        self._command("leave-safemode", "SAFEMODE OFF", timeout)

    def __enter__(self) -> MiniHdfs:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _command(self, command: str, reply: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        proc = self._proc
        if proc is None or proc.stdin is None:
            raise MiniHdfsError("mini HDFS is not running")
        try:
            proc.stdin.write(command + "\n")
            proc.stdin.flush()
        except OSError as e:
            raise MiniHdfsError(f"mini HDFS is gone: {e}{self._log_tail()}") from e
        self._expect(reply, deadline)
        if command != "stop-namenode":
            self._wait_webhdfs(deadline)

    def _read_stdout(self) -> None:
        proc = self._proc
        if proc is not None and proc.stdout is not None:
            for line in proc.stdout:
                self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def _expect(self, what: str, deadline: float) -> str:
        """Wait for the line ``MINIHDFS <what>...``; fail on ERROR or exit."""
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise MiniHdfsError(
                    f"timed out waiting for {_PREFIX}{what}{self._log_tail()}"
                ) from None
            if line is None:
                self._lines.put(None)
                code = self._proc.wait() if self._proc is not None else None
                raise MiniHdfsError(f"mini HDFS exited ({code}){self._log_tail()}")
            if line.startswith(_PREFIX + "ERROR"):
                raise MiniHdfsError(line[len(_PREFIX) :])
            if line == _PREFIX + what or line.startswith(f"{_PREFIX}{what} "):
                return line

    def _wait_webhdfs(self, deadline: float) -> None:
        """Poll ``GETFILESTATUS /`` until it answers 200."""
        url = f"{self.url}/webhdfs/v1/?op=GETFILESTATUS&user.name={self.user}"
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        last = ""
        while time.monotonic() < deadline:
            try:
                with opener.open(url, timeout=5) as response:
                    if response.status == 200:
                        return
                    last = f"HTTP {response.status}"
            except (OSError, urllib.error.URLError) as e:
                last = str(e)
            if self._proc is None or self._proc.poll() is not None:
                raise MiniHdfsError(f"mini HDFS exited{self._log_tail()}")
            time.sleep(0.1)
        raise MiniHdfsError(f"WebHDFS not ready at {url}: {last}{self._log_tail()}")

    def _log_tail(self, lines: int = 30) -> str:
        if self._tmp is None:
            return ""
        try:
            text = (self._tmp / "minihdfs.log").read_text(errors="replace")
        except OSError:
            return ""
        return "\n--- minihdfs log tail ---\n" + "\n".join(text.splitlines()[-lines:])
