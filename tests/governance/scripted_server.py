"""A loopback HTTP server that answers with scripted replies, in order, and records what it got.

Tests speak real HTTP to it (real headers, bodies, timeouts and dropped connections) instead of
patching ``requests``. Usage::

    with ScriptedServer() as server:
        server.script(Reply(429, headers={"Retry-After": "30"}), Reply(200, json={"data": []}))
        ...  # point a client at server.url
        assert [r.path for r in server.received] == [...]

A request that arrives when the script is empty gets a 418 and is remembered in
``server.unscripted``, so a test can tell "the client sent too much" from a real failure.
"""

import json
import socket
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

_NO_JSON = object()


@dataclass(frozen=True)
class Reply:
    """One scripted answer. ``json`` wins over ``body``; ``drop`` closes without answering;
    ``cut_after`` sends the whole body's length but only that many bytes of it, then closes."""

    status: int = 200
    json: Any = _NO_JSON
    body: bytes | str = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False
    cut_after: int | None = None

    def payload(self) -> tuple[bytes, str | None]:
        if self.json is not _NO_JSON:
            return json.dumps(self.json).encode(), "application/json"
        raw = self.body.encode() if isinstance(self.body, str) else self.body
        return raw, ("text/plain; charset=utf-8" if raw else None)


@dataclass(frozen=True)
class Received:
    """One request as the server saw it."""

    method: str
    target: str  # path and query, exactly as sent
    headers: dict[str, str]
    body: bytes

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.target).query, keep_blank_values=True)

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class ScriptedServer:
    """``ThreadingHTTPServer`` on 127.0.0.1, port chosen by the OS, serving from a background thread."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.unscripted: list[Received] = []
        self._replies: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, name="scripted-server", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def script(self, *replies: Reply) -> None:
        """Queue replies; each request consumes the next one."""
        with self._lock:
            self._replies.extend(replies)

    def start(self) -> "ScriptedServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes handlers that are sleeping to simulate a slow server
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> "ScriptedServer":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _take(self, request: Received) -> Reply | None:
        with self._lock:
            self.received.append(request)
            if self._replies:
                return self._replies.popleft()
            self.unscripted.append(request)
            return None


def _handler_for(server: ScriptedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            # Headers and body go out in two writes; without this, Nagle + delayed ACK add ~40 ms each.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            request = Received(
                method=self.command,
                target=self.path,
                headers=dict(self.headers.items()),
                body=self.rfile.read(length) if length else b"",
            )
            reply = server._take(request) or Reply(418, json={"message": "no scripted reply left"})
            if reply.delay and server._stopping.wait(reply.delay):
                return
            if reply.drop:
                self.close_connection = True
                return
            self._answer(reply)

        def _answer(self, reply: Reply) -> None:
            raw, content_type = reply.payload()
            try:
                self.send_response(reply.status)
                if content_type and "Content-Type" not in reply.headers:
                    self.send_header("Content-Type", content_type)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                if reply.cut_after is not None:
                    self.wfile.write(raw[: reply.cut_after])
                    self.close_connection = True
                    return
                self.wfile.write(raw)
            except OSError:
                self.close_connection = True  # the client gave up (read timeout): nothing to do

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output quiet

    return Handler
