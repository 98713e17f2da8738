"""Security headers in one place: nosniff on every response; HTML pages also get a Content-Security-Policy
that allows only this site's own resources and forbids framing (clickjacking).

A web.py processor, added once in code.py, so a page added later (an admin console) gets them unasked.
"""

import web

# 'self' covers /static (css, images); nothing inline, nothing from elsewhere, no plugins, no framing.
HTML_POLICY = ("default-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
               "frame-ancestors 'none'")


def is_html():
    return any(name.lower() == "content-type" and value.lower().startswith("text/html")
               for name, value in web.ctx.get("headers", []))


def security_headers(handler):
    """web.py processor; `finally`, because refusals and 404s leave as exceptions and need them too."""
    try:
        return handler()
    finally:
        web.header("X-Content-Type-Options", "nosniff")
        if is_html():
            web.header("Content-Security-Policy", HTML_POLICY)
            web.header("X-Frame-Options", "DENY")  # frame-ancestors for browsers that predate CSP 2
            web.header("Referrer-Policy", "same-origin")
