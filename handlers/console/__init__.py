"""The web console at /admin: what WeChat's own console stops doing once the server URL is enabled.

code.py names these classes as dotted strings, so web.py imports them on the first /admin request:
a process answering WeChat never loads them.

    guard       password gate, sessions, CSRF tokens, login lockout, the admin action log (no web.py)
    page        the base class of every page: 404 without a password, login without a session, headers
    login       sign in and out
    dashboard   charts of the message log (stats counts, charts draws the SVG)
    messages    the message log with filters; a follower's conversation and a reply through the API
    replies     the rules file as a form and as text, and the "try it" box (rules_edit edits the text)
    menu        the custom menu as a tree, its preview, push / fetch / delete
    status      doctor's checks, settings that are set (never their values), token age, store health
"""
