"""`manage.py deploy` and `doctor`: vhosts rendered for real paths, the CGI first line, and every check's sentence."""

import os
import stat
import subprocess
import sys
import tempfile

import pytest

from tests import apache
from tests.support import ROOT
from admin import deploy

LINUX_MODES = ["cgi", "fcgid", "proxy-fcgi"]


@pytest.mark.parametrize("flavour, mode", [("debian", m) for m in LINUX_MODES] + [("wamp", "cgi"), ("wamp", "proxy-fcgi")])
def test_rendering_replaces_every_shipped_path_and_name(flavour, mode):
    root = "/srv/my wechat" if mode != "fcgid" else "/srv/wechat"
    text = deploy.render_vhost(mode, flavour, root, "/opt/py/bin/python", "mp.example.org", 8080, 9123)
    for shipped in ("/var/www/wechat", "C:/wamp64", "C:/Python311", "wechat.example.com", "127.0.0.1:9000"):
        assert shipped not in text
    assert "<VirtualHost *:8080>" in text and "ServerName mp.example.org" in text
    assert "Listen 8080" in text  # the hint for a non-standard port
    assert 'Alias "/static/" "%s/static/"' % root in text
    assert '<Directory "%s">' % root in text and "Require all denied" in text


def test_proxy_fcgi_names_its_backend_and_says_how_to_start_it():
    text = deploy.render_vhost("proxy-fcgi", "debian", "/srv/wechat", "/opt/py/bin/python", backend_port=9123)
    assert 'ProxyPass "/" "fcgi://127.0.0.1:9123/"' in text
    assert "#   /opt/py/bin/python /srv/wechat/code.py fcgi 127.0.0.1:9123" in text
    assert 'ProxyFCGISetEnvIf "true" SCRIPT_NAME ""' in text and "enablereuse=on" not in text.replace("No enablereuse=on", "")


def test_fcgid_names_the_interpreter_and_the_fcgi_argument():
    text = deploy.render_vhost("fcgid", "debian", "/srv/wechat", "/opt/py/bin/python")
    assert 'FcgidWrapper "/opt/py/bin/python /srv/wechat/code.py fcgi" virtual' in text


def test_fcgid_on_windows_is_refused_with_the_reason():
    with pytest.raises(deploy.DeployError, match="named pipe"):
        deploy.render_vhost("fcgid", "wamp", "C:/www/wechat", "C:/Python311/python.exe")


@pytest.mark.skipif(not os.path.exists(apache.APACHE),
                    reason="apache2 is not installed")
@pytest.mark.parametrize("mode", ["cgi", "proxy-fcgi"])
def test_wamp_configs_pass_apache_syntax_check(mode, tmp_path):
    """WAMP's files with their Windows paths mapped to a temporary folder, checked by a real `apache2 -t`."""
    base = tempfile.mkdtemp(prefix="wechat-wamp-")
    for folder in ("app/static", "run/fcgid", "logs"):
        os.makedirs(os.path.join(base, folder))
    text = deploy.render_vhost(mode, "wamp", base + "/app", "C:/Python311/python.exe", port=8080)
    text = text.replace('"logs/', '"%s/logs/' % base)
    vhost = os.path.join(base, "httpd-vhosts.conf")
    with open(vhost, "w") as f:
        f.write(text)
    result = apache.Apache(base, vhost, 8080).check_syntax()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Syntax OK" in result.stdout + result.stderr


@pytest.mark.parametrize("python, line", [
    ("/usr/bin/python3", "#!/usr/bin/python3"),
    ("C:\\Python311\\python.exe", "#!C:/Python311/python.exe"),
    ("C:/Program Files/Python311/python.exe", '#!"C:/Program Files/Python311/python.exe"'),
])
def test_shebang_for_each_platform(python, line):
    assert deploy.shebang(python) == line


def test_fix_script_writes_the_first_line_with_lf_and_the_exec_bit(tmp_path):
    script = tmp_path / "code.py"
    script.write_bytes(b"#!/usr/bin/env python3\r\nimport os\r\nprint('x')\r\n")
    script.chmod(0o644)
    deploy.fix_script("/opt/venv/bin/python", str(script))
    assert script.read_bytes() == b"#!/opt/venv/bin/python\nimport os\nprint('x')\n"
    assert script.stat().st_mode & stat.S_IXOTH


def test_check_script_names_each_classic_failure(tmp_path):
    (tmp_path / "code.py").write_bytes(b"#!/usr/bin/python3\r\nimport web\r\n")
    (tmp_path / "code.py").chmod(0o644)
    problems = " ".join(deploy.check_script("/usr/bin/python3", str(tmp_path)))
    assert "CRLF" in problems and "not executable" in problems and "chmod 755" in problems
    (tmp_path / "code.py").write_bytes(b"import web\n")
    assert "no #! first line" in " ".join(deploy.check_script("/usr/bin/python3", str(tmp_path)))
    (tmp_path / "code.py").write_bytes(b"#!/nowhere/python\nimport web\n")
    assert "/nowhere/python, which does not exist" in " ".join(deploy.check_script("/usr/bin/python3", str(tmp_path)))


@pytest.mark.skipif(os.geteuid() != 0 or deploy._identity("www-data") is None, reason="needs root and a www-data user")
def test_an_interpreter_apache_cannot_read_is_named(tmp_path):
    private = tempfile.mkdtemp(prefix="wechat-private-")  # mode 700, owned by root, like /root
    python = os.path.join(private, "python")
    open(python, "w").close()
    os.chmod(python, 0o755)
    problems = deploy.check_interpreter(python, deploy._identity("www-data"), "www-data")
    assert len(problems) == 1 and "www-data cannot run" in problems[0] and private in problems[0]
    assert "venv" in problems[0]


@pytest.mark.skipif(os.geteuid() != 0 or deploy._identity("www-data") is None, reason="needs root and a www-data user")
def test_a_data_dir_apache_cannot_write_is_named(config_file, tmp_path):
    data = tempfile.mkdtemp(prefix="wechat-data-")
    os.chmod(data, 0o755)  # root's, not www-data's
    config_file.path.write_text("[wechat]\ntoken = t\n[server]\ndata_dir = %s\n" % data)
    problems = deploy.check_data_dir(deploy._identity("www-data"), "www-data")
    assert problems and "not writable by www-data" in problems[0] and "chown -R www-data: " in problems[0]


def test_a_missing_config_is_named(monkeypatch, tmp_path):
    monkeypatch.setenv("WECHAT_CONFIG", str(tmp_path / "nope.ini"))
    problems = deploy.check_config()
    assert problems and "There is no config at" in problems[0] and "python code.py" in problems[0]


def test_doctor_exits_non_zero_with_sentences(tmp_path):
    env = dict(os.environ, WECHAT_CONFIG=str(tmp_path / "config.ini"))
    (tmp_path / "config.ini").write_text("[wechat]\ntoken =\nencrypt_mode = safe\naes_key = short\n")
    result = subprocess.run([sys.executable, os.path.join(ROOT, "manage.py"), "doctor", "--mode", "proxy-fcgi"],
                            capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 1
    assert "WECHAT_TOKEN" in result.stderr and "EncodingAESKey" in result.stderr and "AppID" in result.stderr
    count = result.stderr.count("problem: ")
    assert count >= 3 and "checks: %d problem(s)" % count in result.stderr and "all passed" not in result.stderr


# --- what the header says: restart for cgid, which log holds which line ---------------------------------

def test_cgi_header_says_restart_not_reload_after_enabling_cgid():
    text = deploy.render_vhost("cgi", "debian", "/srv/wechat", "/opt/py/bin/python")
    assert "systemctl restart apache2" in text and "systemctl reload" not in text
    assert "AH01257" in text


@pytest.mark.parametrize("mode, says", [
    ("cgi", ["AH01241", "/var/log/apache2/error.log", "wechat-error.log", "End of script output before headers"]),
    ("fcgid", ["/var/log/apache2/error.log", "mod_fcgid: stderr:", "wechat-error.log"]),
    ("proxy-fcgi", ["AH01079", "wechat-error.log", "journalctl"]),
])
def test_header_says_which_log_holds_which_line(mode, says):
    header = deploy.render_vhost(mode, "debian", "/srv/wechat", "/opt/py/bin/python").split("<Directory")[0]
    for words in says:
        assert words in header, (words, header)


# --- HTTPS rendering -------------------------------------------------------------------------------------

def test_https_defaults_to_port_443_and_certbots_paths():
    text = deploy.render_vhost("fcgid", "debian", "/srv/wechat", "/opt/py/bin/python", "mp.example.org", https=True)
    assert "<VirtualHost *:443>" in text and "<VirtualHost *:80>" not in text and "SSLEngine on" in text
    assert 'SSLCertificateFile "/etc/letsencrypt/live/mp.example.org/fullchain.pem"' in text
    assert 'SSLCertificateKeyFile "/etc/letsencrypt/live/mp.example.org/privkey.pem"' in text
    assert "sudo a2enmod ssl" in text and "certbot certonly --apache -d mp.example.org" in text
    assert "WeChat follows no redirects" in text and "Listen" not in text.split("<Directory")[0]


def test_redirect_http_keeps_answering_wechat_on_port_80():
    text = deploy.render_vhost("proxy-fcgi", "debian", "/srv/wechat", "/opt/py/bin/python", "mp.example.org",
                               https=True, cert="/c.pem", key="/k.pem", redirect_http=True)
    https_block, http_block = text.split("<VirtualHost *:443>")[1], text.split("<VirtualHost *:80>")[1]
    assert "SSLEngine on" in https_block.split("</VirtualHost>")[0] and "SSLEngine" not in http_block
    assert '<If "%{QUERY_STRING} !~ /(^|&)signature=/">' in http_block
    assert 'Redirect permanent "/" "https://mp.example.org/"' in http_block
    assert 'ProxyPass "/" "fcgi://127.0.0.1:9000/"' in http_block  # WeChat's requests are served there


def test_deploy_names_a_missing_certificate(tmp_path):
    result = subprocess.run([sys.executable, os.path.join(ROOT, "manage.py"), "deploy", "--mode", "proxy-fcgi",
                             "--https", "--server-name", "mp.example.org", "--cert", str(tmp_path / "nope.pem"),
                             "--key", str(tmp_path / "nope.key"), "--output", str(tmp_path / "vhost.conf")],
                            capture_output=True, text=True, timeout=60)
    assert "SSLCertificateFile %s does not exist (or is empty)" % (tmp_path / "nope.pem") in result.stderr
    assert "certbot certonly --apache -d mp.example.org" in result.stderr and "all passed" not in result.stderr


@pytest.mark.skipif(not os.path.exists(os.path.join(apache.MODULES, "mod_ssl.so")), reason="mod_ssl is not installed")
@pytest.mark.parametrize("flavour, mode", [("debian", m) for m in LINUX_MODES] + [("wamp", "cgi"), ("wamp", "proxy-fcgi")])
def test_https_configs_pass_apache_syntax_check(flavour, mode):
    base = tempfile.mkdtemp(prefix="wechat-https-")
    for folder in ("app/static", "logs"):
        os.makedirs(os.path.join(base, folder))
    for name in ("cert.pem", "key.pem"):
        with open(os.path.join(base, name), "w") as f:
            f.write("-t checks that it exists and is not empty, not what it holds")
    python = "C:/Python311/python.exe" if flavour == "wamp" else "/usr/bin/python3"
    text = deploy.render_vhost(mode, flavour, base + "/app", python, "127.0.0.1", 8443, https=True,
                               cert=base + "/cert.pem", key=base + "/key.pem", redirect_http=True, http_port=8080)
    text = text.replace('"logs/', '"%s/logs/' % base)
    vhost = os.path.join(base, "vhost.conf")
    with open(vhost, "w") as f:
        f.write(text)
    result = apache.Apache(base, vhost, 8443, more_ports=[8080], tls=True).check_syntax()
    assert result.returncode == 0, result.stdout + result.stderr


# --- Windows: keeping the proxy-fcgi backend running --------------------------------------------------------

def test_wamp_proxy_fcgi_writes_a_scheduled_task_and_its_wrapper(tmp_path):
    import xml.etree.ElementTree as ET

    result = subprocess.run([sys.executable, os.path.join(ROOT, "manage.py"), "deploy", "--mode", "proxy-fcgi",
                             "--flavour", "wamp", "--root", "C:/wamp64/www/wechat", "--python", "C:/Python311/python.exe",
                             "--backend-port", "9001", "--output", str(tmp_path / "wechat-vhost.conf")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    wrapper, task = tmp_path / "wechat-backend.cmd", tmp_path / "wechat-backend.xml"
    assert 'schtasks /Create /TN "WeChat backend" /XML "%s"' % task in result.stderr
    assert "C:\\wamp64\\www\\wechat\\var\\backend.log" in result.stderr  # where to look

    raw = task.read_bytes()
    assert raw.startswith(b"\xff\xfe")  # UTF-16 with its BOM, as Windows writes task files
    root = ET.fromstring(raw.decode("utf-16").split("?>", 1)[1])
    ns = {"t": "http://schemas.microsoft.com/windows/2004/02/mit/task"}
    assert root.find("t:Triggers/t:BootTrigger/t:Enabled", ns).text == "true"  # at start-up, no log-on needed
    assert root.find("t:Principals/t:Principal/t:UserId", ns).text == "S-1-5-18"  # SYSTEM
    assert root.find("t:Settings/t:ExecutionTimeLimit", ns).text == "PT0S"  # never stopped for running long
    assert root.find("t:Settings/t:MultipleInstancesPolicy", ns).text == "IgnoreNew"
    assert root.find("t:Actions/t:Exec/t:Command", ns).text == str(wrapper).replace("/", "\\")
    assert root.find("t:Actions/t:Exec/t:WorkingDirectory", ns).text == "C:\\wamp64\\www\\wechat"

    script = wrapper.read_bytes().decode("utf-8")
    assert "\r\n" in script and "\n" not in script.replace("\r\n", "")  # CRLF throughout, for cmd.exe's labels
    lines = script.split("\r\n")
    run = lines.index(":run")
    assert ('"C:\\Python311\\python.exe" "C:\\wamp64\\www\\wechat\\code.py" fcgi 127.0.0.1:9001 '
            '>> "C:\\wamp64\\www\\wechat\\var\\backend.log" 2>&1') in lines[run:]
    assert lines[-2] == "goto run"  # started again whenever it exits
    assert 'ProxyPass "/" "fcgi://127.0.0.1:9001/"' in (tmp_path / "wechat-vhost.conf").read_text()
