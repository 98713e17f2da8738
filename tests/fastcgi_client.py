"""A small FastCGI client playing the web server's side, for tests and benchmarks of handlers/fastcgi.py."""

import socket
import struct

HEADER = struct.Struct("!BBHHBx")
BEGIN_REQUEST, ABORT_REQUEST, END_REQUEST, PARAMS, STDIN, STDOUT, STDERR = 1, 2, 3, 4, 5, 6, 7
GET_VALUES, GET_VALUES_RESULT, UNKNOWN_TYPE = 9, 10, 11


def record(kind, request_id, content=b"", padding=0):
    return HEADER.pack(1, kind, request_id, len(content), padding) + content + b"\0" * padding


def pairs(items):
    out = bytearray()
    for name, value in items:
        name, value = name.encode("latin-1"), value.encode("latin-1")
        for part in (name, value):
            out += bytes([len(part)]) if len(part) < 128 else struct.pack("!I", len(part) | 0x80000000)
        out += name + value
    return bytes(out)


def read_pairs(data):
    """Name-value pairs (as a dict of bytes) from a record's content."""
    out, at = {}, 0
    lengths = []
    while at < len(data):
        for _ in range(2):
            if data[at] < 128:
                lengths.append(data[at])
                at += 1
            else:
                lengths.append(struct.unpack("!I", data[at : at + 4])[0] & 0x7FFFFFFF)
                at += 4
        value_length, name_length = lengths.pop(), lengths.pop()
        out[data[at : at + name_length]] = data[at + name_length : at + name_length + value_length]
        at += name_length + value_length
    return out


def request_records(params, body=b"", request_id=1, keep=False, role=1, chunk=65535):
    """The records a web server sends for one request: BEGIN_REQUEST, PARAMS, STDIN (each stream ended)."""
    out = [record(BEGIN_REQUEST, request_id, struct.pack("!HB5x", role, 1 if keep else 0))]
    encoded = pairs(params.items())
    for at in range(0, len(encoded), chunk):
        out.append(record(PARAMS, request_id, encoded[at : at + chunk]))
    out.append(record(PARAMS, request_id))
    for at in range(0, len(body), chunk):
        out.append(record(STDIN, request_id, body[at : at + chunk]))
    out.append(record(STDIN, request_id))
    return b"".join(out)


def _recv_exactly(sock, size):
    data = b""
    while len(data) < size:
        more = sock.recv(size - len(data))
        if not more:
            break
        data += more
    return data


def read_records(sock):
    """Records from the server until END_REQUEST (or the connection closes): [(type, request id, content)].
    Reads exactly what they hold (no buffer), so the next answer on a kept connection stays in the socket."""
    records = []
    while True:
        header = _recv_exactly(sock, HEADER.size)
        if len(header) < HEADER.size:
            return records
        _, kind, request_id, length, padding = HEADER.unpack(header)
        content = _recv_exactly(sock, length + padding)[:length]
        records.append((kind, request_id, content))
        if kind in (END_REQUEST, GET_VALUES_RESULT, UNKNOWN_TYPE):
            return records


def response_of(records):
    """(status code, headers dict, body bytes, protocol status) from a request's records."""
    stdout = b"".join(content for kind, _, content in records if kind == STDOUT)
    end = [content for kind, _, content in records if kind == END_REQUEST]
    protocol_status = end[-1][4] if end else None
    head, _, body = stdout.partition(b"\r\n\r\n")
    headers = {}
    for line in head.split(b"\r\n"):
        if b":" in line:
            name, value = line.split(b":", 1)
            headers[name.decode().strip().lower()] = value.decode().strip()
    status = int(headers.get("status", "200").split()[0]) if headers else None
    return status, headers, body, protocol_status


def connect(address):
    family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.settimeout(10)
    sock.connect(address)
    return sock


def fetch(address, params, body=b""):
    """One request on a new connection, as mod_fcgid sends it: (status, headers, body, protocol status)."""
    with connect(address) as sock:
        sock.sendall(request_records(params, body))
        return response_of(read_records(sock))
