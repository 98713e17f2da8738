"""Outbound HTTP with one policy: a timeout on every call, our User-Agent, any status as a Response,
and one exception (Unreachable, a sentence) when the other side cannot be reached in time."""

from wechat.record import Record

USER_AGENT = "wechat-webpy-server"
DEFAULT_TIMEOUT = 10.0


class Unreachable(OSError):
    """No HTTP answer at all: refused, unresolvable, timed out, or cut off mid-answer."""


class Response(Record):
    fields = ("status", "content_type", "body", "location")
    defaults = {"location": ""}  # where a 3xx points (seen only with follow_redirects=False)

    @property
    def ok(self):
        return 200 <= self.status < 300

    def charset(self, default="utf-8"):
        for part in self.content_type.split(";")[1:]:
            name, _, value = part.strip().partition("=")
            if name.lower() == "charset" and value:
                return value.strip('"')
        return default


def fetch(url, method="GET", query=None, body=None, content_type=None, timeout=DEFAULT_TIMEOUT, headers=None,
          tls=None, follow_redirects=True):
    """One request; any HTTP status comes back as a Response, no answer at all raises Unreachable.

    tls: an ssl.SSLContext for https (a CA file, or no verification); follow_redirects=False returns a
    3xx as it is, the way WeChat's servers see it (they follow no redirects).
    """
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
    handlers = [urllib.request.HTTPSHandler(context=tls)] if tls is not None else []
    if not follow_redirects:
        handlers.append(_no_redirects())
    opener = urllib.request.build_opener(*handlers)
    try:
        with opener.open(request, timeout=max(0.05, timeout)) as answer:
            return Response(answer.status, answer.headers.get("Content-Type", ""), answer.read())
    except urllib.error.HTTPError as e:
        found = e.headers or {}
        return Response(e.code, found.get("Content-Type", ""), e.read() or b"", found.get("Location", ""))
    except (urllib.error.URLError, OSError, ValueError) as e:
        where = urllib.parse.urlsplit(url).netloc or url
        raise Unreachable("cannot reach %s: %s" % (where, getattr(e, "reason", e)))


def _no_redirects():
    import urllib.request

    class NoRedirects(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None  # urllib then raises HTTPError with the 3xx, which fetch returns as a Response

    return NoRedirects()


def tls_context(cafile=None, insecure=False):
    """An SSLContext for fetch(tls=...): trust only cafile's certificates, or (insecure) check nothing;
    None (the system's CAs) when neither is asked for."""
    if not cafile and not insecure:
        return None
    import ssl

    if insecure:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    return ssl.create_default_context(cafile=cafile)
