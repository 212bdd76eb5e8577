"""A loopback TCP proxy that can add latency, stall or cut connections."""

from __future__ import annotations

import socket
import threading
import time

from tests.servers_redis import free_port


class FaultProxy:
    """Forwards ``127.0.0.1:port`` to ``127.0.0.1:upstream_port``.

    ``latency`` delays every forwarded chunk; :meth:`stall` stops forwarding
    (bytes wait in the kernel) until :meth:`resume`; :meth:`cut` resets every
    open connection; with ``refuse`` set, new connections are closed at once.
    ``accepted`` holds the monotonic time of every accepted connection.
    With ``truncate_next_reply`` set, the next chunk the server sends is
    forwarded only in part and that connection is then reset: the client
    holds half a reply.
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = free_port()
        self.latency = 0.0
        self.refuse = False
        self.truncate_next_reply = False
        self.accepted: list[float] = []
        self._flowing = threading.Event()
        self._flowing.set()
        self._closing = threading.Event()
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._threads: list[threading.Thread] = []
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", self.port))
        self._listener.listen(128)
        self._listener.settimeout(0.05)
        self._spawn(self._accept_loop)

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        thread.start()
        with self._lock:
            self._threads.append(thread)

    def _accept_loop(self) -> None:
        while not self._closing.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted.append(time.monotonic())
            if self.refuse:
                client.close()
                continue
            try:
                upstream = socket.create_connection(
                    ("127.0.0.1", self.upstream_port), 1
                )
            except OSError:
                client.close()
                continue
            with self._lock:
                self._pairs.append((client, upstream))
            self._spawn(self._pump, client, upstream, False)
            self._spawn(self._pump, upstream, client, True)

    def _pump(self, source: socket.socket, sink: socket.socket, reply: bool) -> None:
        source.settimeout(0.05)
        while not self._closing.is_set():
            self._flowing.wait()
            try:
                data = source.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if not data:
                break
            if self.latency:
                time.sleep(self.latency)
            self._flowing.wait()
            truncate = False
            if reply and len(data) > 1:
                with self._lock:
                    truncate, self.truncate_next_reply = self.truncate_next_reply, False
            try:
                sink.sendall(data[: len(data) // 2] if truncate else data)
            except OSError:
                break
            if truncate:
                _reset(source)
                _reset(sink)
                break
        for sock in (source, sink):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def stall(self) -> None:
        self._flowing.clear()

    def resume(self) -> None:
        self._flowing.set()

    def cut(self) -> int:
        """Reset every open connection; returns how many were cut."""
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            for sock in pair:
                _reset(sock)
        return len(pairs)

    def close(self) -> None:
        self._closing.set()
        self._flowing.set()
        self.cut()
        self._listener.close()
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(2)


def _reset(sock: socket.socket) -> None:
    """Close ``sock`` with a reset (linger 0), not an orderly close."""
    try:
        sock.setsockopt(
            socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
        )
        sock.close()
    except OSError:
        pass
