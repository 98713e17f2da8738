"""A request body read with a bound whatever its framing, and what CGI must drain before it answers."""

CHUNK = 64 * 1024
# Under CGI, Apache's LimitRequestBody (the shipped vhosts set it to max_body_bytes) stops larger
# bodies before they reach us; this only bounds the time an old vhost without it can cost.
DRAIN_LIMIT = 8 * 1024 * 1024


class BodyUnreadable(Exception):
    """The client stopped sending (timeout, reset) before the body was complete."""


class BodyTooLarge(Exception):
    """The server under us refused to read more (the dev server's chunked-body backstop)."""


def read_up_to(stream, size):
    """At most `size` bytes from a WSGI input stream, fewer when it ends first.

    Read in chunks so that memory follows what was actually sent, not what a header claimed.
    """
    parts, total = [], 0
    while total < size:
        try:
            chunk = stream.read(min(CHUNK, size - total))
        except BodyTooLarge:
            raise
        except (OSError, ValueError) as e:  # socket timeout or reset; cheroot's malformed chunk is a ValueError
            raise BodyUnreadable(str(e) or e.__class__.__name__)
        if not chunk:
            break
        parts.append(chunk)
        total += len(chunk)
    return b"".join(parts)


def has_body(environ):
    length = (environ.get("CONTENT_LENGTH") or "").strip()
    return (length.isdigit() and int(length) > 0) or bool(environ.get("HTTP_TRANSFER_ENCODING"))


def drain(environ, limit=DRAIN_LIMIT):
    """Read and drop what is left of a CGI request's body (Apache closes stdin after it).

    mod_cgid writes the whole body to the script before it reads the answer: a script that exits
    with body still unread makes Apache drop the answer, and the client gets an empty or truncated
    response instead of our 403 or 413 (DESIGN.md). Memory stays at one chunk.
    """
    stream = environ.get("wsgi.input")
    if stream is None or not has_body(environ):
        return
    left = limit
    try:
        while left > 0:
            chunk = stream.read(min(CHUNK, left))
            if not chunk:
                return
            left -= len(chunk)
    except (OSError, ValueError):
        return
