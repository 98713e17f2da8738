"""`manage.py doctor`'s checks of running things: the proxy-fcgi backend on its address, the live site as WeChat sees it."""

import socket
import urllib.parse

from handlers import fastcgi


def fastcgi_answers(host, port, timeout=1.0):
    """None when a FastCGI server answers a management record (FCGI_GET_VALUES) on host:port, else why not.
    code.py fcgi answers at once; an HTTP server waits for a request line it never gets, hence the short timeout."""
    record = fastcgi.record(fastcgi.GET_VALUES, 0, fastcgi.encode_pairs([(b"FCGI_MPXS_CONNS", b"")]))
    try:
        connection = socket.create_connection((host, port), timeout=timeout)
    except OSError as e:
        return e.strerror or str(e)
    with connection:
        try:
            connection.sendall(record)
            header = connection.recv(8)
        except OSError:  # timed out or reset: not a FastCGI server
            header = b""
    if len(header) < 2 or header[1] != fastcgi.GET_VALUES_RESULT:
        return "something listens there, but not FastCGI"
    return None


def check_backend(host, port, python, root):
    """proxy-fcgi: Apache passes every request to host:port; with nothing there followers get 503."""
    why = fastcgi_answers(host, port)
    if why is None:
        return []
    return ["Nothing answers FastCGI on %s:%d, the proxy-fcgi backend's address (%s): every request gets 503 and "
            "wechat-error.log says `AH01079: failed to make connection to backend`. Start it as the data dir's owner: "
            "`%s %s/code.py fcgi %s:%d` (under systemd or a scheduled task; see the vhost's header)."
            % (host, port, why, python, root.rstrip("/"), host, port)]


def check_port(url):
    """WeChat's console takes only http:// on port 80 and https:// on 443."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return ["%s is not an http:// or https:// URL." % url]
    standard = 80 if parts.scheme == "http" else 443
    try:
        port = parts.port or standard
    except ValueError:
        return ["%s has a port that is not a number." % url]
    if port != standard:
        return ["WeChat's console accepts only http:// on port 80 or https:// on port 443, and %s uses port %d: "
                "put Apache in front (`manage.py deploy`, README: Deploying) and give the console %s://%s/."
                % (url, port, parts.scheme, parts.hostname)]
    return []


def check_site(url, token, token_from_console, source, tls=None, out=print):
    """Sign a verification GET, a forged POST and a text POST against the live site, as WeChat would;
    one sentence per problem. token_from_console: the token came from --token (what the console holds)."""
    from admin.simulate import Run

    if token_from_console:
        note = "the token you gave (WeChat's console)"
    else:
        note = "the token in %s" % source
    run = Run(url, token, out=out, tls=tls, token_note=note)
    problems = check_port(url)
    verified = run.verify()
    if verified:
        run.forged()
    run.send("text", "doctor: 你好")
    if run.refused_signature:
        if token_from_console:
            problems.append(
                "The token in WeChat's console and the server's token differ: %s refused a request signed with the "
                "token you gave. Paste the server's token (`token` in its config.ini, or its WECHAT_TOKEN) into "
                "开发 > 基本配置 > 服务器配置 > 令牌(Token), or set that token on the server." % url)
        else:
            problems.append(
                "The server at %s runs with a token other than the one in %s: WeChat's console (which must hold this "
                "token) and the server's token differ. Check what the server really uses: a WECHAT_TOKEN in its "
                "environment (Apache's SetEnv, the backend's service) wins over config.ini, and an other machine "
                "has its own config.ini." % (url, source))
    elif run.failures:
        problems.append("%s does not answer as WeChat needs: see the FAIL lines above." % url)
    return problems
