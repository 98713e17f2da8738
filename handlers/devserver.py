"""The development server (`python code.py 8080`): cheroot, with deadlines so slow clients cannot starve it.

cheroot's own defences are a per-recv timeout, a fixed thread pool and no size limits, so twelve
clients sending a byte a second hold ten threads for ever and everyone else waits. Here:
- the request line and headers must arrive within HEADER_SECONDS, the body within BODY_SECONDS
  (a watchdog shuts the reading side of a late socket; the blocked worker thread is free again);
- the pool grows when every thread is busy (up to MAX_THREADS), so a few slow clients cost threads,
  not everyone's latency;
- headers, chunk-size lines and chunked bodies are bounded, so no framing makes cheroot buffer
  more than the app's limit.
"""

import socket
import threading
import time

from cheroot import errors, server, wsgi
from cheroot.workers import threadpool

from handlers.request_body import BodyTooLarge

HEADER_SECONDS = 10
BODY_SECONDS = 10
MIN_THREADS, MAX_THREADS, GROW_BY = 10, 200, 5
MAX_HEADER_BYTES = 64 * 1024
MAX_LINE_BYTES = 8 * 1024  # a chunk-size line; cheroot would read one without a newline for ever
CHUNK_OVERHEAD = 64 * 1024  # chunk-size lines count against cheroot's body limit; the app's limit is exact


class Watchdog:
    """Sockets with a reading deadline; the expired ones get shutdown(SHUT_RD), which wakes the blocked
    read with end-of-file. The response side stays open, so a 400 can still go out."""

    def __init__(self, interval=0.2):
        self.deadlines = {}
        self.lock = threading.Lock()
        threading.Thread(target=self.run, args=(interval,), daemon=True, name="read-deadlines").start()

    def arm(self, sock, deadline):
        with self.lock:
            self.deadlines[sock] = deadline

    def disarm(self, sock):
        with self.lock:
            self.deadlines.pop(sock, None)

    def run(self, interval):
        while True:
            time.sleep(interval)
            now = time.monotonic()
            with self.lock:
                expired = [sock for sock, deadline in self.deadlines.items() if deadline <= now]
                for sock in expired:
                    del self.deadlines[sock]
            for sock in expired:
                try:
                    sock.shutdown(socket.SHUT_RD)
                except OSError:
                    pass


WATCHDOG = None


def watchdog():
    global WATCHDOG
    if WATCHDOG is None:
        WATCHDOG = Watchdog()
    return WATCHDOG


class LineCappedReader:
    """A connection's buffered reader whose readline() never waits for more than MAX_LINE_BYTES."""

    def __init__(self, reader):
        self._reader = reader

    def readline(self, size=-1):
        return self._reader.readline(MAX_LINE_BYTES if size is None or size < 0 else size)

    def __getattr__(self, name):
        return getattr(self._reader, name)


class DeadlineBody:
    """wsgi.input with a deadline for the whole body, counted from the app's first read; cheroot's
    too-large errors become BodyTooLarge, which the endpoint answers with 413."""

    def __init__(self, body, sock):
        self._body, self._sock, self._deadline = body, sock, None

    def _guarded(self, method, *args):
        if self._deadline is None:
            self._deadline = time.monotonic() + BODY_SECONDS
        watchdog().arm(self._sock, self._deadline)
        try:
            return getattr(self._body, method)(*args)
        except errors.MaxSizeExceeded:
            raise BodyTooLarge()
        except OSError as e:
            if "Too Large" in str(e):  # cheroot's ChunkedRFile: a chunk larger than the limit, refused unread
                raise BodyTooLarge()
            raise
        finally:
            watchdog().disarm(self._sock)

    def read(self, size=None):
        return self._guarded("read", size)

    def readline(self, size=None):
        return self._guarded("readline", size)

    def readlines(self, sizehint=0):
        return self._guarded("readlines", sizehint)

    def __iter__(self):
        return iter(self.readline, b"")

    def __getattr__(self, name):
        return getattr(self._body, name)


class DeadlineRequest(server.HTTPRequest):
    def parse_request(self):
        # Called once the first byte has arrived; the rest of the head has HEADER_SECONDS.
        watchdog().arm(self.conn.socket, time.monotonic() + HEADER_SECONDS)
        try:
            super().parse_request()
        finally:
            watchdog().disarm(self.conn.socket)

    def send_headers(self):
        # cheroot keeps the connection by reading whatever body the app left unread, in one read()
        # into memory (400 MiB behind a forged signature); closing the connection costs nothing.
        body = getattr(self.rfile, "_body", self.rfile)
        if getattr(body, "remaining", 0) > 0 or (self.chunked_read and not getattr(body, "closed", True)):
            self.close_connection = True
        super().send_headers()


class DeadlineConnection(server.HTTPConnection):
    RequestHandlerClass = DeadlineRequest

    def __init__(self, http_server, sock, makefile=None):
        if makefile is None:
            super().__init__(http_server, sock)
        else:
            super().__init__(http_server, sock, makefile)
        self.rfile = LineCappedReader(self.rfile)


class DeadlineGateway(wsgi.Gateway_10):
    def get_environ(self):
        environ = super().get_environ()
        environ["wsgi.input"] = DeadlineBody(environ["wsgi.input"], self.req.conn.socket)
        return environ


class GrowingPool(threadpool.ThreadPool):
    """cheroot's pool never grows by itself; this one adds threads when none is idle."""

    def put(self, obj):
        if self._threads and self.idle < 1:
            self.grow(GROW_BY)
        super().put(obj)


class DevServer(wsgi.Server):
    ConnectionClass = DeadlineConnection

    def __init__(self, address, app, max_body_bytes):
        super().__init__(address, app, numthreads=MIN_THREADS, max=MAX_THREADS, request_queue_size=128)
        self.gateway = DeadlineGateway
        self.requests = GrowingPool(self, min=MIN_THREADS, max=MAX_THREADS)
        self.max_request_header_size = MAX_HEADER_BYTES
        # A backstop only: the endpoint reads at most max_body_bytes + 1 and answers 413 itself.
        self.max_request_body_size = max_body_bytes + CHUNK_OVERHEAD


def serve(address, app, max_body_bytes):
    """Run until Ctrl-C."""
    httpd = DevServer(address, app, max_body_bytes)
    try:
        httpd.start()
    except KeyboardInterrupt:
        httpd.stop()
