"""HTTPS through a real Apache with mod_ssl: `manage.py deploy --https --redirect-http` with a self-signed
certificate made here by openssl, WeChat's side played by `manage.py simulate https://… --cafile / --insecure`."""

import os
import shutil
import subprocess

import pytest

from tests import apache
from tests.support import free_port
from admin import simulator

REASON = apache.why_not_available() or (
    None if os.path.exists(os.path.join(apache.MODULES, "mod_ssl.so")) else "mod_ssl is not installed") or (
    None if shutil.which("openssl") else "openssl is not installed")
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")
TOKEN = "httpsTestToken7"


def self_signed_certificate(folder):
    """A certificate for 127.0.0.1 (subjectAltName IP, as clients check it) and its key; ECDSA: made in ms."""
    cert, key = os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return cert, key


@pytest.fixture(scope="module")
def site():
    """The app behind Apache in fcgid mode on an https port, with a redirecting http port beside it."""
    python = apache.apache_venv()
    base, app = apache.make_app_copy(TOKEN)
    cert, key = self_signed_certificate(base)
    https_port, http_port = free_port(), free_port()
    vhost = os.path.join(base, "vhost.conf")
    result = subprocess.run(
        [python, os.path.join(app, "manage.py"), "deploy", "--mode", "fcgid", "--server-name", "127.0.0.1",
         "--https", "--port", str(https_port), "--cert", cert, "--key", key, "--redirect-http",
         "--http-port", str(http_port), "--output", vhost],
        capture_output=True, text=True, cwd=app, timeout=120,
        env={"PATH": "/usr/bin:/bin", "WECHAT_CONFIG": os.path.join(app, "config.ini")})
    assert result.returncode == 0, result.stderr
    server = apache.Apache(base, vhost, https_port, more_ports=[http_port], tls=True)
    syntax = server.check_syntax()
    assert syntax.returncode == 0, syntax.stdout + syntax.stderr
    server.start()
    server.python, server.app, server.cert, server.deploy_output = python, app, cert, result.stderr
    server.http_url = "http://127.0.0.1:%d/" % http_port
    with open(vhost) as f:
        server.vhost_text = f.read()
    yield server
    server.stop()


def manage(site, *args):
    return subprocess.run([site.python, os.path.join(site.app, "manage.py"), *args], capture_output=True, text=True,
                          timeout=120, env={"PATH": "/usr/bin:/bin", "WECHAT_CONFIG": os.path.join(site.app, "config.ini")})


def test_the_https_vhost_is_rendered_and_checked(site):
    assert "checks: all passed" in site.deploy_output, site.deploy_output
    assert "SSLEngine on" in site.vhost_text and 'SSLCertificateFile "%s"' % site.cert in site.vhost_text
    assert "sudo a2enmod ssl" in site.vhost_text and "WeChat follows no redirects" in site.vhost_text


def test_simulate_over_https_with_the_ca_file(site):
    result = manage(site, "simulate", "-m", "text", "你好，安全", site.url, "--cafile", site.cert)
    assert result.returncode == 0, result.stdout + result.stderr + site.error_log()
    assert "echostr echoed" in result.stdout and "text: 全安，好你" in result.stdout
    assert "a wrong signature got HTTP 403" in result.stdout


def test_simulate_over_https_insecure(site):
    result = manage(site, "simulate", site.url, "--insecure", "-m", "subscribe")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "感谢关注" in result.stdout


def test_an_untrusted_certificate_fails_and_says_why(site):
    result = manage(site, "simulate", site.url, "-m", "text", "x")
    assert result.returncode == 1
    assert "CERTIFICATE_VERIFY_FAILED" in result.stdout


def test_port_80_redirects_browsers_to_https(site):
    for path in ("", "welcome"):
        response = simulator.http("GET", site.http_url + path)
        assert response.status == 301 and response.location == site.url + path


def test_port_80_still_answers_wechat_which_follows_no_redirects(site):
    result = manage(site, "simulate", site.http_url, "-m", "text", "明文")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "echostr echoed" in result.stdout and "text: 文明" in result.stdout


def test_doctor_url_over_https(site):
    result = manage(site, "doctor", "--url", site.url, "--cafile", site.cert)
    assert "echostr echoed" in result.stdout and "text: 好你 :rotcod" in result.stdout
    # only the test's random port stands between this site and WeChat's console
    assert result.stderr.count("problem: ") == 1 and "port 443" in result.stderr
