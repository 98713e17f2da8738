"""An admin without a browser: keeps cookies, reads each form's CSRF token, in-process or over HTTP."""

import http.client
import re
import urllib.parse

from tests.support import call

PASSWORD = "correct horse battery"


def set_password(settings_or_env=None, password=PASSWORD):
    """Set the console password the way an admin does: `manage.py admin-password`, password on stdin."""
    import os
    import subprocess
    import sys

    from tests.support import ROOT

    env = dict(os.environ, **(settings_or_env or {}))
    result = subprocess.run([sys.executable, os.path.join(ROOT, "manage.py"), "admin-password"], input=password + "\n",
                            capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    return result


class Response:
    def __init__(self, status, headers, body):
        self.status = int(status.split()[0]) if isinstance(status, str) else status
        self.headers = headers  # [(name, value)]
        self.body = body
        self.text = body.decode("utf-8", "replace")

    def header(self, name):
        return next((v for n, v in self.headers if n.lower() == name.lower()), None)

    def cookies(self):
        return [v for n, v in self.headers if n.lower() == "set-cookie"]

    def csrf(self):
        match = re.search(r'name="csrf" value="([^"]+)"', self.text)
        return match.group(1) if match else None


class AdminClient:
    """Requests as one browser would send them: its cookies, from one address; no redirects followed."""

    def __init__(self, base_url=None, address="127.0.0.1", https=False):
        self.base_url = base_url  # None: in-process through tests.support.call
        self.address, self.https = address, https
        self.cookies = {}

    def request(self, method, path, form=None):
        body = urllib.parse.urlencode(form).encode("utf-8") if form is not None else None
        headers = {}
        if self.cookies:
            headers["Cookie"] = "; ".join("%s=%s" % kv for kv in self.cookies.items())
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if self.base_url:
            parts = urllib.parse.urlsplit(self.base_url)
            connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
            connection.request(method, path, body=body, headers=headers)
            answer = connection.getresponse()
            response = Response(answer.status, answer.getheaders(), answer.read())
            connection.close()
        else:
            path, _, query = path.partition("?")
            environ = {"REMOTE_ADDR": self.address, "QUERY_STRING": query}
            if self.https:
                environ.update(HTTPS="on", **{"wsgi.url_scheme": "https"})
            raw = call(method, body=body, path=path, headers=headers, environ=environ)
            response = Response(raw.status, raw.header_list, raw.data)
        for cookie in response.cookies():
            name, _, rest = cookie.partition("=")
            value = rest.split(";")[0]
            if "expires=" in cookie.lower() and "1938" in cookie or not value:  # web.py's "delete" date
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        return response

    def get(self, path):
        return self.request("GET", path)

    def post(self, path, form):
        return self.request("POST", path, form)

    def login_token(self):
        page = self.get("/admin/login")
        return re.search(r'name="login_token" value="([^"]+)"', page.text).group(1)

    def sign_in(self, password=PASSWORD):
        return self.post("/admin/login", {"login_token": self.login_token(), "password": password, "next": ""})

    def form_post(self, page_path, post_path, form):
        """POST form to post_path with the CSRF token read from page_path, as a browser submitting it would."""
        csrf = self.get(page_path).csrf()
        return self.post(post_path, dict(form, csrf=csrf))
