"""`manage.py deploy --https`: the rendered vhost on *:443 with SSLEngine on, and (if asked) a *:80 vhost
that sends browsers to https:// but still answers WeChat, which follows no redirects."""

import re

# Where certbot puts a name's certificate (`certbot certonly --apache -d NAME`) on each platform.
CERTBOT_LIVE = {"debian": "/etc/letsencrypt/live/%s", "wamp": "C:/Certbot/live/%s"}


def default_certificate(flavour, server_name):
    """(certificate, key) paths certbot uses for server_name."""
    live = CERTBOT_LIVE[flavour] % server_name
    return live + "/fullchain.pem", live + "/privkey.pem"


def _vhost_block(text):
    match = re.search(r"^<VirtualHost \*:\d+>\n.*?^</VirtualHost>\n?", text, re.M | re.S)
    if match is None:
        raise ValueError("no <VirtualHost> block to serve over HTTPS")
    return match


def _after_server_name(block, lines):
    """block with lines inserted after its ServerName (or its first line)."""
    match = re.search(r"^\s*ServerName .*\n", block, re.M)
    at = match.end() if match else block.index("\n") + 1
    return block[:at] + lines + block[at:]


def with_https(text, flavour, server_name, cert, key, https_port=443, redirect_http=False, http_port=80):
    """The rendered vhost text with its VirtualHost on https_port over TLS, plus the redirecting *:http_port
    one when redirect_http; returns (text, header lines)."""
    match = _vhost_block(text)
    block = re.sub(r"^<VirtualHost \*:\d+>", "<VirtualHost *:%d>" % https_port, match.group(0), count=1, flags=re.M)
    tls = ('    SSLEngine on\n'
           '    SSLCertificateFile "%s"\n'
           '    SSLCertificateKeyFile "%s"\n' % (cert, key))
    block = _after_server_name(block, tls)
    blocks = block
    if redirect_http:
        plain = re.sub(r"^<VirtualHost \*:\d+>", "<VirtualHost *:%d>" % http_port, match.group(0), count=1,
                       flags=re.M)
        target = "https://%s%s/" % (server_name, "" if https_port == 443 else ":%d" % https_port)
        redirect = (
            "    # Browsers go to https://. WeChat's own requests (they carry ?signature=) are answered here as\n"
            "    # well: WeChat follows no redirects, so a console URL still saying http:// keeps working.\n"
            "    <If \"%%{QUERY_STRING} !~ /(^|&)signature=/\">\n"
            "        Redirect permanent \"/\" \"%s\"\n"
            "    </If>\n" % target)
        blocks = block + "\n" + _after_server_name(plain, redirect)
    text = text[:match.start()] + blocks + text[match.end():]
    header = ["# HTTPS on port %d with %s and %s." % (https_port, cert, key)]
    if flavour == "debian":
        header.append("#   sudo a2enmod ssl   (the certificate: `sudo apt-get install certbot python3-certbot-apache && "
                      "sudo certbot certonly --apache -d %s`, while the plain http vhost is enabled)" % server_name)
    else:
        header.append("#   In httpd.conf, uncomment: LoadModule ssl_module modules/mod_ssl.so and LoadModule "
                      "socache_shmcb_module modules/mod_socache_shmcb.so, and add `Listen %d`" % https_port)
    if redirect_http:
        header.append("# Port %d redirects browsers to %s but answers WeChat's signed requests itself: WeChat "
                      "follows no redirects." % (http_port, target))
    else:
        header.append("# WeChat follows no redirects: give its console the https:// URL, or render with "
                      "--redirect-http for a port-%d vhost that still answers WeChat." % http_port)
    return text, header
