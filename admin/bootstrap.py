"""First run without web.py: make .venv beside code.py, install the requirements into it, and run again there.

Debian's own Python refuses `pip install` outside a virtualenv (externally-managed-environment), and
without the python3-venv package it cannot make one: run as root where apt-get exists, that package is
installed first. Standard library only (nothing else is installed yet).

    python3 admin/bootstrap.py [requirements files]   make or update .venv; print its Python's path
"""

import hashlib
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(ROOT, ".venv")
STAMP = os.path.join(VENV, ".installed")  # one line per requirements file installed: "name sha1"


def venv_python(venv=VENV):
    return os.path.join(venv, "Scripts", "python.exe") if os.name == "nt" else os.path.join(venv, "bin", "python")


def _stamp_lines(requirements):
    lines = set()
    for name in requirements:
        with open(os.path.join(ROOT, name), "rb") as f:
            lines.add("%s %s" % (name, hashlib.sha1(f.read()).hexdigest()))
    return lines


def _installed():
    try:
        with open(STAMP, encoding="utf-8") as f:
            return set(f.read().split("\n")) - {""}
    except OSError:
        return set()


def _say(text):
    print("code.py: %s" % text, file=sys.stderr, flush=True)


def _make_venv():
    command = [sys.executable, "-m", "venv", "--clear", VENV]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode == 0:
        return
    if "ensurepip" in result.stdout + result.stderr and _can_apt():
        _say("this Python cannot make a virtualenv without Debian's python3-venv package: installing it with apt-get")
        subprocess.run(["apt-get", "update", "-qq"], check=False)
        subprocess.run(["apt-get", "install", "-y", "-qq", "python3-venv"], check=False,
                       env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode == 0:
            return
    raise SystemExit(
        "code.py: cannot make the virtualenv %s with %s:\n%s\nOn Debian: `sudo apt-get install python3-venv` and run "
        "again; or install the packages in requirements.txt into a Python of your own and run code.py with it."
        % (VENV, sys.executable, (result.stdout + result.stderr).strip()))


def _can_apt():
    return hasattr(os, "geteuid") and os.geteuid() == 0 and os.path.exists("/usr/bin/apt-get")


def ensure_venv(requirements=("requirements.txt",)):
    """.venv with every requirements file installed (again only when one changes); returns its Python."""
    python = venv_python()
    wanted = _stamp_lines(requirements)
    if os.path.exists(python) and wanted <= _installed():
        return python
    if not os.path.exists(python) or subprocess.run([python, "-m", "pip", "--version"], capture_output=True).returncode:
        _say("making a virtualenv in %s (Debian's own Python takes no pip installs outside one)" % VENV)
        _make_venv()
    _say("installing %s into it (first run only)" % ", ".join(requirements))
    command = [python, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    for name in requirements:
        command += ["-r", os.path.join(ROOT, name)]
    if subprocess.run(command).returncode:
        raise SystemExit("code.py: pip could not install %s into %s (see above)" % (", ".join(requirements), VENV))
    with open(STAMP, "w", encoding="utf-8") as f:
        f.write("\n".join(sorted(_installed() | wanted)) + "\n")
    return python


def run_in_venv(script, args):
    """Run `script args` with .venv's Python, making it first; never returns."""
    if os.path.realpath(sys.prefix) == os.path.realpath(VENV) and _stamp_lines(("requirements.txt",)) <= _installed():
        raise SystemExit("code.py: web.py is missing from %s although it was installed there: delete that folder and "
                         "run again." % VENV)
    python = ensure_venv()
    if os.name == "nt":  # no exec on Windows: wait for the child and pass on its exit status
        sys.exit(subprocess.call([python, script] + list(args)))
    os.execv(python, [python, script] + list(args))


if __name__ == "__main__":
    print(ensure_venv(tuple(sys.argv[1:]) or ("requirements.txt",)))
