"""FastCGI for mod_fcgid and mod_proxy_fcgi: the app's own WSGI responder, lean where flup is not.

Why not flup: its threaded server costs ~180 us of CPU a request (against ~80 here: bench/fastcgi_cpu.py),
more than our whole message. Its main thread selects and accepts, then wakes a pool thread for every
connection; each record is read with two or three recv() calls through Python stream objects; every
output chunk is its own record and its own send(). Under mod_fcgid, where throughput is CPU-bound,
that is paid on every message.

Here a connection is read through one buffer (a request's records usually arrive in one recv), the
app runs as soon as the parameters are complete and reads the body as it needs it (so it can refuse
one by its length without reading it), and the answer leaves in one sendall(): its STDOUT records,
the empty one that ends the stream, and END_REQUEST.

- mod_fcgid hands each process its listening socket as fd 0 and never sends a process two requests
  at once: connections are served one after another on the main thread (no hand-off to a pool).
- On TCP (mod_proxy_fcgi, the Windows route) one process serves every Apache worker: a thread per
  connection, at most MAX_THREADS at once.
- The responder role only; several requests on one connection in turn (FCGI_KEEP_CONN), never at once
  (FCGI_CANT_MPX_CONN); FCGI_GET_VALUES answered; other management records get FCGI_UNKNOWN_TYPE.
- Bounded: MAX_PARAMS_BYTES of parameters, which must arrive within REQUEST_SECONDS, and the body
  within BODY_SECONDS (a connection that trickles bytes cannot hold a thread for ever); a body the app
  left unread is drained after the answer (a little) or the web server gets LINGER_SECONDS to stop
  sending it. A failed accept() (no descriptors left, a connection reset in the queue) costs that
  connection, never the server.
- SIGTERM (mod_fcgid retiring a process, Apache stopping) ends the process between requests; the
  request in hand is answered first (on TCP, the requests in hand get STOP_SECONDS; a kept connection
  takes no new request).
"""

import errno
import os
import socket
import struct
import sys
import threading
import time
import traceback

VERSION = 1
BEGIN_REQUEST, ABORT_REQUEST, END_REQUEST, PARAMS, STDIN, STDOUT, STDERR = 1, 2, 3, 4, 5, 6, 7
GET_VALUES, GET_VALUES_RESULT, UNKNOWN_TYPE = 9, 10, 11
RESPONDER, KEEP_CONN = 1, 1
REQUEST_COMPLETE, CANT_MPX_CONN, UNKNOWN_ROLE = 0, 1, 3

HEADER = struct.Struct("!BBHHBx")  # version, type, request id, content length, padding length
BEGIN_BODY = struct.Struct("!HB5x")  # role, flags
END_BODY = struct.Struct("!IB3x")  # application status, protocol status
MAX_RECORD = 65535

MAX_PARAMS_BYTES = 1024 * 1024  # Apache sends a few KiB; more is not a web server talking
DRAIN_BYTES = 64 * 1024  # after the answer, a body left unread is read to its end if this is all that is left
LINGER_SECONDS = 5.0  # ... else the web server gets this long to stop sending it before the connection closes
RECV_BYTES = 65536
KERNEL_TIMEOUTS = os.name != "nt"  # see kernel_timeouts()
WAKE_SECONDS = 2.0  # the kernel's receive timeout: how often a blocked read looks at its deadline
REQUEST_SECONDS = 10.0  # a request's parameters must all arrive within this of its connection (or last answer)
BODY_SECONDS = 60.0  # ... and its body within this of the end of its parameters: slow senders cannot hold threads for ever
SEND_TIMEOUT = BODY_SECONDS  # an answer's send fails once nothing of it could be sent for this long
MAX_THREADS = 64  # TCP: connections served at once; the next accept waits for a free one
ACCEPT_BACKOFF = 0.1  # after accept() fails for want of descriptors or memory, before trying again
STOP_SECONDS = 5.0  # TCP: on SIGTERM, how long the requests in hand get to finish (WeChat's own wait)


class ProtocolError(ConnectionError):
    """The peer does not speak FastCGI as a web server would; the connection is closed. (An OSError, so
    an app reading the body sees what it sees when a client goes away mid-body.)"""


def say(text):
    """One line in the error log (stderr), written whole: threads' lines must not run into each other."""
    try:
        sys.stderr.write("fastcgi: %s\n" % text)
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def record(kind, request_id, content=b""):
    return HEADER.pack(VERSION, kind, request_id, len(content), 0) + content


def stream(kind, request_id, data):
    """`data` as records of `kind` (each at most 65535 bytes), without the empty record that ends a stream."""
    if len(data) <= MAX_RECORD:
        return [record(kind, request_id, data)] if data else []
    view = memoryview(data)
    return [record(kind, request_id, bytes(view[at : at + MAX_RECORD])) for at in range(0, len(data), MAX_RECORD)]


def end_request(request_id, protocol_status=REQUEST_COMPLETE, app_status=0):
    return record(END_REQUEST, request_id, END_BODY.pack(app_status, protocol_status))


def decode_pairs(data):
    """FastCGI name-value pairs as a dict of str (latin-1, as WSGI wants environ values).

    A length is one byte, or four with the high bit set. The bytes are decoded once and sliced as
    text (latin-1 maps byte i to character i): Apache sends ~30 pairs a request. The two length reads
    are written out, not a helper called twice: ~60 calls a request were a third of this function.
    """
    text = data.decode("latin-1")
    pairs, at, end = {}, 0, len(text)
    try:
        while at < end:
            name_length = ord(text[at])
            if name_length < 128:
                at += 1
            else:
                name_length = int.from_bytes(data[at : at + 4], "big") & 0x7FFFFFFF
                at += 4
            value_length = ord(text[at])
            if value_length < 128:
                at += 1
            else:
                value_length = int.from_bytes(data[at : at + 4], "big") & 0x7FFFFFFF
                at += 4
            value_at = at + name_length
            pairs[text[at:value_at]] = text[value_at : value_at + value_length]
            at = value_at + value_length
    except IndexError:
        raise ProtocolError("name-value pair cut short")
    if at > end:
        raise ProtocolError("name-value pair cut short")
    return pairs


def encode_pairs(pairs):
    out = bytearray()
    for name, value in pairs:
        for part in (name, value):
            out += bytes([len(part)]) if len(part) < 128 else (len(part) | 0x80000000).to_bytes(4, "big")
        out += name + value
    return bytes(out)


class Request:
    """One request's state on its connection."""

    def __init__(self, request_id, keep_connection):
        self.id = request_id
        self.keep_connection = keep_connection
        self.params = bytearray()
        self.aborted = False


class Body:
    """wsgi.input: the request's STDIN records, read from the connection as the app asks for them.

    The app runs as soon as the parameters are complete, so it can refuse a body by its declared
    length, or stop reading one that grows past its limit (a chunked upload), without the server
    reading it first; a connection whose body was not read to its end is closed after the answer.
    """

    def __init__(self, connection, request):
        self.connection = connection
        self.request = request
        self.pending = b""
        self.ended = False  # the empty STDIN record came (or the web server aborted the request)

    def _fill(self, size):
        parts, have = [self.pending], len(self.pending)
        while not self.ended and (size < 0 or have < size):
            chunk = self.connection.stdin_chunk(self.request)
            if not chunk:
                self.ended = True
            parts.append(chunk)
            have += len(chunk)
        self.pending = b"".join(parts) if len(parts) > 1 else parts[0]

    def read(self, size=-1):
        if size is None or size < 0 or len(self.pending) < size:
            self._fill(-1 if size is None else size)
        if size is None or size < 0:
            data, self.pending = self.pending, b""
        else:
            data, self.pending = self.pending[:size], self.pending[size:]
        return data

    def readline(self, size=-1):
        while b"\n" not in self.pending and not self.ended and (size is None or size < 0 or len(self.pending) < size):
            self._fill(len(self.pending) + 1)
        end = self.pending.find(b"\n") + 1 or len(self.pending)
        if size is not None and 0 <= size < end:
            end = size
        data, self.pending = self.pending[:end], self.pending[end:]
        return data

    def finish(self, limit):
        """Read (and drop) what is left of the body, up to `limit` bytes; True when it was read to its end."""
        self.pending = b""
        while not self.ended and limit >= 0:
            chunk = self.connection.stdin_chunk(self.request)
            self.ended = not chunk
            limit -= len(chunk)
        return self.ended

    def readlines(self, hint=-1):
        return list(iter(self.readline, b""))

    def __iter__(self):
        return iter(self.readline, b"")


class RequestErrors:
    """wsgi.errors: what the app writes there goes to the web server as the request's FCGI_STDERR, which
    it logs in the site's own error log (mod_fcgid: "mod_fcgid: stderr: ..."), as flup did."""

    def __init__(self):
        self.parts = []

    def write(self, text):
        self.parts.append(text if isinstance(text, str) else text.decode("utf-8", "replace"))

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        pass


class Connection:
    """One connection from the web server: requests in turn until it closes or asks to."""

    def __init__(self, sock, app, multithread, stopping=lambda: False):
        self.sock = sock
        self.stopping = stopping  # true once the server is shutting down: no next request on this connection
        self.deadline = 0.0  # time.monotonic() by which what is being read must have arrived
        self.between_requests = True  # nothing of the next request read yet: a timeout here is a quiet close
        self.received = b""  # bytes read from the socket and not yet taken as records
        self.at = 0
        self.app = app
        self.multithread = multithread

    def serve(self):
        try:
            while self._next():
                pass
        except OSError as e:  # a timeout, a reset, a peer that is not a web server: this connection only
            if not isinstance(e, (ConnectionResetError, BrokenPipeError)):
                say("connection dropped: %s" % (e or e.__class__.__name__))
        finally:
            self.sock.close()

    def _have(self, size):
        """True once `size` unread bytes are in hand (reading more as needed); False at end of stream."""
        while len(self.received) - self.at < size:
            if time.monotonic() > self.deadline:
                if self.between_requests and len(self.received) == self.at:
                    return False  # a kept connection left idle (or one never used): closed without a word
                raise ProtocolError("timed out waiting for the web server")
            try:
                more = self.sock.recv(max(RECV_BYTES, size))
            except (BlockingIOError, socket.timeout):  # WAKE_SECONDS without a byte: look at the deadline again
                continue
            if not more:
                return False
            self.received = self.received[self.at :] + more
            self.at = 0
        return True

    def _read_record(self):
        """(type, request id, content), or None when the connection is closed between records.

        Read from one buffer of its own (not a socket.makefile): a request's records usually come in
        one recv(), and each is then a slice."""
        if not self._have(HEADER.size):
            if len(self.received) > self.at:
                raise ProtocolError("record header cut short")
            return None
        version, kind, request_id, length, padding = HEADER.unpack_from(self.received, self.at)
        if version != VERSION:
            raise ProtocolError("FastCGI version %d" % version)
        if not self._have(HEADER.size + length + padding):
            raise ProtocolError("record cut short")
        start = self.at + HEADER.size
        self.at = start + length + padding
        return kind, request_id, self.received[start : start + length]

    def _next(self):
        """Read one request and answer it; False when the connection is done."""
        if self.stopping():
            return False
        request = None
        self.deadline = time.monotonic() + REQUEST_SECONDS
        self.between_requests = True
        while True:
            got = self._read_record()
            if got is None:
                return False
            self.between_requests = False
            kind, request_id, content = got
            if request_id == 0:
                self._management(kind, content)
            elif kind == BEGIN_REQUEST:
                if len(content) < BEGIN_BODY.size:
                    raise ProtocolError("short BEGIN_REQUEST")
                role, flags = BEGIN_BODY.unpack_from(content)
                if request is not None:
                    if request_id == request.id:
                        raise ProtocolError("request %d begun twice" % request_id)
                    self.sock.sendall(end_request(request_id, CANT_MPX_CONN))
                elif role != RESPONDER:
                    self.sock.sendall(end_request(request_id, UNKNOWN_ROLE))
                    if not flags & KEEP_CONN:
                        return False
                else:
                    request = Request(request_id, bool(flags & KEEP_CONN))
            elif request is None or request_id != request.id:
                continue  # a record for a request we refused or never began: ignored, as the spec says
            elif kind == PARAMS:
                if content:
                    request.params += content
                    if len(request.params) > MAX_PARAMS_BYTES:
                        raise ProtocolError("more than %d bytes of parameters" % MAX_PARAMS_BYTES)
                    continue
                body = Body(self, request)
                self.deadline = time.monotonic() + BODY_SECONDS
                self._send(b"".join(self._respond(request, decode_pairs(request.params), body)))
                try:
                    complete = request.aborted or body.finish(DRAIN_BYTES)  # the rest of an unread body, if small
                except OSError:
                    complete = request.aborted
                if not complete:
                    self._linger()
                return request.keep_connection and complete
            elif kind == ABORT_REQUEST:
                self.sock.sendall(end_request(request.id))
                if not request.keep_connection:
                    return False
                request = None
            elif kind == STDIN:
                raise ProtocolError("body before the end of the parameters")
            # FCGI_DATA (the filter role's) and anything else for a live request: ignored

    def _send(self, answer):
        """The answer. With the kernel's send timeout a send fails only when nothing could be sent for
        SEND_TIMEOUT, so a large answer to a slow client (an export) may take minutes; on Windows the
        Python timeout bounds the whole sendall()."""
        if not KERNEL_TIMEOUTS:
            self.sock.settimeout(SEND_TIMEOUT)
        self.sock.sendall(answer)
        if not KERNEL_TIMEOUTS:
            self.sock.settimeout(WAKE_SECONDS)

    def _linger(self):
        """The web server is still sending a body the app did not want (a 413, a 403): closing with its
        bytes unread would reset the connection, and the server could lose the answer (mod_proxy_fcgi
        then says 503). Shut our side, read what still comes until it closes (bounded), then close."""
        try:
            self.sock.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + LINGER_SECONDS
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self.sock.settimeout(left)
                if not self.sock.recv(65536):
                    return
        except OSError:
            pass

    def stdin_chunk(self, request):
        """The next piece of the request's body (b"" at its end), answering whatever else arrives meanwhile."""
        while True:
            got = self._read_record()
            if got is None:
                raise ProtocolError("connection closed inside a request body")
            kind, request_id, content = got
            if request_id == 0:
                self._management(kind, content)
            elif request_id != request.id:
                if kind == BEGIN_REQUEST:
                    self.sock.sendall(end_request(request_id, CANT_MPX_CONN))
            elif kind == STDIN:
                return content
            elif kind == ABORT_REQUEST:
                request.aborted = True  # nothing more comes for it: END_REQUEST goes out with the answer
                raise ProtocolError("request aborted by the web server")

    def _management(self, kind, content):
        if kind == GET_VALUES:
            limit = str(MAX_THREADS if self.multithread else 1).encode()
            known = {b"FCGI_MAX_CONNS": limit, b"FCGI_MAX_REQS": limit, b"FCGI_MPXS_CONNS": b"0"}
            asked = [name.encode("latin-1") for name in decode_pairs(content)]
            answer = [(name, known[name]) for name in asked if name in known]
            self.sock.sendall(record(GET_VALUES_RESULT, 0, encode_pairs(answer)))
        else:
            self.sock.sendall(record(UNKNOWN_TYPE, 0, bytes([kind]) + b"\0" * 7))

    def _respond(self, request, environ, body):
        """The records that answer the request: the app's response as STDOUT, then END_REQUEST."""
        environ["wsgi.version"] = (1, 0)
        environ["wsgi.input"] = body
        environ["wsgi.errors"] = errors = RequestErrors()
        environ["wsgi.multithread"] = self.multithread
        environ["wsgi.multiprocess"] = True
        environ["wsgi.run_once"] = False
        environ["wsgi.url_scheme"] = "https" if environ.get("HTTPS", "off").lower() in ("on", "1") else "http"
        for name in ("SCRIPT_NAME", "PATH_INFO", "QUERY_STRING"):
            environ.setdefault(name, "")
        environ.setdefault("REQUEST_METHOD", "GET")
        try:
            output = run_app(self.app, environ)
        except Exception:
            errors.write("fastcgi: the application failed:\n%s\n" % traceback.format_exc().rstrip())
            output = b"Status: 500 Internal Server Error\r\nContent-Type: text/plain\r\n\r\ninternal server error\n"
        records = stream(STDOUT, request.id, output)
        records.append(record(STDOUT, request.id))
        if errors.parts:
            records.extend(stream(STDERR, request.id, "".join(errors.parts).encode("utf-8", "replace")))
            records.append(record(STDERR, request.id))
        records.append(end_request(request.id))
        return records


def run_app(app, environ):
    """The WSGI app's whole response for one request, as CGI-style bytes (a Status line, headers, body)."""
    started = []  # [status, headers] once start_response was called
    body = []

    def start_response(status, headers, exc_info=None):
        if exc_info and started and body:
            raise exc_info[1].with_traceback(exc_info[2])
        started[:] = [status, headers]
        return body.append  # write(), for apps that use it

    result = app(environ, start_response)
    try:
        for chunk in result:
            if chunk:
                body.append(chunk)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    if not started:
        raise RuntimeError("the application returned without calling start_response")
    status, headers = started
    content = b"".join(body)
    head = ["Status: %s\r\n" % status]
    head.extend("%s: %s\r\n" % header for header in headers)
    if not any(name.lower() == "content-length" for name, _ in headers):
        head.append("Content-Length: %d\r\n" % len(content))
    head.append("\r\n")
    return "".join(head).encode("latin-1") + content


def kernel_timeouts(sock):
    """Give a connection the kernel's own receive (WAKE_SECONDS) and send (SEND_TIMEOUT) timeouts.

    The socket stays blocking: Python's settimeout() would make every recv() and send() a poll()
    and a call, and each change of timeout an ioctl(). Linux copies these options from a listening
    TCP socket to each connection it accepts (not a Unix one: mod_fcgid's); Server checks that once.
    Windows gets Python's timeouts instead (KERNEL_TIMEOUTS): there a socket whose receive timed out
    may not be used again.
    """
    for option, seconds in ((socket.SO_RCVTIMEO, WAKE_SECONDS), (socket.SO_SNDTIMEO, SEND_TIMEOUT)):
        sock.setsockopt(socket.SOL_SOCKET, option, struct.pack("ll", int(seconds), int(seconds % 1 * 1e6)))


def has_kernel_timeouts(sock):
    return any(sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, 16))


class Server:
    """Accepts connections on a listening socket until SIGTERM (or SIGINT, SIGHUP) says stop."""

    def __init__(self, app, sock, threaded):
        self.app = app
        self.sock = sock
        self.threaded = threaded
        self.stopping = False
        self.busy = False
        self.slots = threading.BoundedSemaphore(MAX_THREADS)
        self.kind = (int(sock.family), int(sock.type), sock.proto)
        self.inherits_timeouts = None  # whether accepted sockets come with the listener's (learnt at the first)
        if KERNEL_TIMEOUTS and threaded and sock.family != getattr(socket, "AF_UNIX", None):
            kernel_timeouts(sock)  # for its connections to inherit: a blocking accept() ignores them (TCP)

    def stop(self, signum=None, frame=None):
        """The signal handler. Waiting in accept(): shutting the listening socket down makes it fail, and
        the loop ends. Mid-request: the loop ends after the answer. Raising from here instead could drop a
        connection accepted an instant before the signal."""
        self.stopping = True
        if not self.busy:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # Windows refuses it for a listening socket: accept() wakes within a second anyway

    def _accept(self):
        """(client socket, address): socket.accept() without its ~5 us of turning the family and type into
        enums for every new socket object (the listening socket's, as plain ints, are the same)."""
        fd, address = self.sock._accept()
        client = socket.socket(self.kind[0], self.kind[1], self.kind[2], fd)
        if not KERNEL_TIMEOUTS:
            client.settimeout(WAKE_SECONDS)
            return client, address
        if self.threaded and not sys.platform.startswith("linux"):
            client.setblocking(True)  # elsewhere a connection inherits the listener's non-blocking mode
        if self.inherits_timeouts is None:
            self.inherits_timeouts = has_kernel_timeouts(client)
        if not self.inherits_timeouts:
            kernel_timeouts(client)
        return client, address

    def serve_forever(self):
        allowed = allowed_addresses()
        while not self.stopping:
            if self.threaded and not self.slots.acquire(timeout=1.0):
                continue  # every thread busy; look at self.stopping now and then
            try:
                client = self._next_client(allowed)
            except BaseException:
                if self.threaded:
                    self.slots.release()
                raise
            if client is None:
                if self.threaded:
                    self.slots.release()
            elif self.threaded:
                self._start_thread(client)
            else:
                self.busy = True
                try:
                    Connection(client, self.app, False, self._is_stopping).serve()
                finally:
                    self.busy = False

    def _next_client(self, allowed):
        """The next connection to serve, or None: a wake-up, a stop, a failed accept, a refused address."""
        try:
            client, address = self._accept()
        except (socket.timeout, BlockingIOError, InterruptedError):
            return None  # TCP: the listening socket wakes once a second (Ctrl+C on Windows)
        except OSError as e:
            if self.stopping:
                return None  # the listening socket was shut down by stop()
            if e.errno in (errno.EBADF, errno.EINVAL, errno.ENOTSOCK):
                raise  # the listening socket itself is gone: nothing more to serve
            # Out of descriptors or memory, or a connection reset while queued: that one
            # connection is lost, not the server.
            say("accept failed: %s; serving on" % e)
            time.sleep(ACCEPT_BACKOFF)
            return None
        if allowed is not None and isinstance(address, tuple) and address[0] not in allowed:
            client.close()
            return None
        return client

    def _start_thread(self, client):
        try:
            threading.Thread(target=self._serve_in_thread, args=(client,), daemon=True).start()
        except RuntimeError as e:  # "can't start new thread": out of memory or a thread limit
            say("cannot start a thread for a connection (%s); it is closed" % e)
            client.close()
            self.slots.release()
            time.sleep(ACCEPT_BACKOFF)

    def finish(self, timeout):
        """TCP: wait (up to timeout) for the connections being served; their threads die with the process."""
        if not self.threaded:
            return
        deadline = time.monotonic() + timeout
        for _ in range(MAX_THREADS):
            if not self.slots.acquire(timeout=max(0.0, deadline - time.monotonic())):
                return

    def _is_stopping(self):
        return self.stopping

    def _serve_in_thread(self, client):
        try:
            Connection(client, self.app, True, self._is_stopping).serve()
        finally:
            self.slots.release()


def allowed_addresses():
    """FCGI_WEB_SERVER_ADDRS (the FastCGI spec's list of web servers allowed to connect), or None for any."""
    value = os.environ.get("FCGI_WEB_SERVER_ADDRS", "").strip()
    return {part.strip() for part in value.split(",") if part.strip()} or None


def serve(app, address=None):
    """Serve `app` over FastCGI: on fd 0 (mod_fcgid) when address is None, else on TCP (host, port)."""
    import signal

    if address is None:
        sock, threaded = socket.socket(fileno=os.dup(0)), False
        sock.setblocking(True)  # mod_fcgid's is blocking already; another spawner's might not be
    else:
        sock = socket.create_server(address, family=socket.AF_INET6 if ":" in address[0] else socket.AF_INET,
                                    backlog=128)
        sock.settimeout(1.0)  # accept() returns now and then, so a stop (Ctrl+C on Windows) is seen
        threaded = True
    server = Server(app, sock, threaded)
    for name in ("SIGTERM", "SIGINT", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), server.stop)
    try:
        server.serve_forever()
    finally:
        sock.close()
        server.finish(timeout=STOP_SECONDS)
