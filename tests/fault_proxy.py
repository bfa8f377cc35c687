"""An HTTP proxy on 127.0.0.1 in front of the S3 server that misbehaves as a real store sometimes does: it
answers a share of requests ``503 SlowDown``, resets a share of connections before passing the request on,
loses a share of answers (passes the request on, then resets the connection), and delays a share of answers. Which requests it may fault is a regular expression over ``METHOD path``; its choices come
from a seeded random generator, and it counts what it did."""

import http.client
import random
import socket
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

SLOW_DOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message><RequestId>fault-proxy</RequestId></Error>"
)
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "te", "trailer", "upgrade"}


@dataclass
class Faults:
    unavailable: float = 0.0  # share of requests answered 503 SlowDown
    reset: float = 0.0  # share of connections reset once the request is read
    lost: float = 0.0  # share of requests passed on whose answer is lost: the connection is reset instead
    delay: float = 0.0  # share of answers delayed by ``delay_seconds``
    delay_seconds: float = 0.5
    only: str = ""  # a regular expression over "METHOD path": only matching requests are faulted
    most: int = 0  # faults to make at most (0: no limit)
    seed: int = 0


class FaultProxy:
    """``with FaultProxy(upstream, faults) as proxy:`` serves at ``proxy.endpoint``; ``proxy.done`` counts
    the requests it passed on (``passed``) and each fault it made."""

    def __init__(self, upstream: str, faults: Faults):
        import re

        self.upstream, self.faults = urlsplit(upstream), faults
        self.pattern = re.compile(faults.only)
        self.random, self.lock, self.done = random.Random(faults.seed), threading.Lock(), Counter()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> "FaultProxy":
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def choose(self, request: str) -> str:
        """What to do with ``request``: passed, unavailable, reset, lost or delay; counted."""
        faults = self.faults
        shares = {"unavailable": faults.unavailable, "reset": faults.reset, "lost": faults.lost, "delay": faults.delay}
        with self.lock:
            draw, chosen = self.random.random(), "passed"
            made = sum(count for fault, count in self.done.items() if fault != "passed")
            if self.pattern.search(request) and not (faults.most and made >= faults.most):
                for fault, share in shares.items():
                    if draw < share:
                        chosen = fault
                        break
                    draw -= share
            self.done[chosen] += 1
        return chosen

    def forward(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, list, bytes]:
        connection = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=60)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()

    def _handler(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the clients' connection pools expect

            def log_message(self, *args) -> None:  # the test reads the counts, not a log
                pass

            def handle_one_request(self) -> None:
                try:
                    super().handle_one_request()
                except (TimeoutError, ConnectionError):
                    self.close_connection = True

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while size := int(self.rfile.readline().split(b";")[0], 16):
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                    self.rfile.readline()
                    return b"".join(chunks)
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _serve(self) -> None:
                body = self._body()
                fault = proxy.choose(f"{self.command} {self.path}")
                if fault == "reset":
                    self._reset()
                    return
                if fault == "unavailable":
                    self._answer(503, [("Content-Type", "application/xml")], SLOW_DOWN)
                    return
                if fault == "delay":
                    time.sleep(proxy.faults.delay_seconds)
                headers = {name: value for name, value in self.headers.items() if name.lower() not in HOP_BY_HOP}
                if "Content-Length" not in headers and body:
                    headers["Content-Length"] = str(len(body))
                answer = proxy.forward(self.command, self.path, headers, body)
                self._reset() if fault == "lost" else self._answer(*answer)

            def _reset(self) -> None:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.close_connection = True
                self.connection.close()

            def _answer(self, status: int, headers: list, body: bytes) -> None:
                self.send_response(status)
                for name, value in headers:
                    if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                        self.send_header(name, value)
                length = dict((name.lower(), value) for name, value in headers).get("content-length")
                self.send_header("Content-Length", length if self.command == "HEAD" and length else str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _serve

        return Handler
