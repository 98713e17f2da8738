"""Outbound HTTP with one policy: a timeout on every call, our User-Agent, any status as a Response,
and one exception (Unreachable, a sentence) when the other side cannot be reached in time."""

from wechat.record import Record

USER_AGENT = "wechat-webpy-server"
DEFAULT_TIMEOUT = 10.0


class Unreachable(OSError):
    """No HTTP answer at all: refused, unresolvable, timed out, or cut off mid-answer."""


class Response(Record):
    fields = ("status", "content_type", "body")

    @property
    def ok(self):
        return 200 <= self.status < 300

    def charset(self, default="utf-8"):
        for part in self.content_type.split(";")[1:]:
            name, _, value = part.strip().partition("=")
            if name.lower() == "charset" and value:
                return value.strip('"')
        return default


def fetch(url, method="GET", query=None, body=None, content_type=None, timeout=DEFAULT_TIMEOUT, headers=None):
    """One request; any HTTP status comes back as a Response, no answer at all raises Unreachable."""
    # urllib costs ~30 ms of imports: a CGI request that never calls out never pays it.
    import urllib.error
    import urllib.parse
    import urllib.request

    if query:
        url += ("&" if "?" in url else "?") + urllib.parse.urlencode(query)
    request = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))
    request.add_header("User-Agent", USER_AGENT)
    if content_type and body is not None:
        request.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(request, timeout=max(0.05, timeout)) as answer:
            return Response(answer.status, answer.headers.get("Content-Type", ""), answer.read())
    except urllib.error.HTTPError as e:
        return Response(e.code, e.headers.get("Content-Type", "") if e.headers else "", e.read() or b"")
    except (urllib.error.URLError, OSError, ValueError) as e:
        where = urllib.parse.urlsplit(url).netloc or url
        raise Unreachable("cannot reach %s: %s" % (where, getattr(e, "reason", e)))
