#!/usr/bin/env bash
# The test command: installs what the suite needs on a fresh machine, then runs pytest.
#   pip: requirements-test.txt, into python3 or, where python3 takes no pip installs (Debian's own:
#   externally-managed-environment), into the server's .venv (admin/bootstrap.py makes it).
#   Debian (when root): Apache 2.4 (with mod_ssl) + mod_fcgid, Redis, python3-venv, openssl, procps,
#   for the tests that drive a real Apache and a real Redis on 127.0.0.1.
#   Chromium, chromium-driver and a Chinese font for the console's browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
export PIP_DISABLE_PIP_VERSION_CHECK=1

need=()
command -v apache2 >/dev/null || need+=(apache2)
[ -e /usr/lib/apache2/modules/mod_fcgid.so ] || need+=(libapache2-mod-fcgid)
command -v redis-server >/dev/null || need+=(redis-server)
/usr/bin/python3 -c "import ensurepip, venv" 2>/dev/null || need+=(python3-venv)
command -v openssl >/dev/null || need+=(openssl)   # an independent AES for the safe-mode test
command -v pkill >/dev/null || need+=(procps)      # the FastCGI kill test
command -v chromium >/dev/null || need+=(chromium)             # the console's browser tests
command -v chromedriver >/dev/null || need+=(chromium-driver)
[ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || need+=(fonts-wqy-microhei)  # Chinese in screenshots
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "tests/run.sh: installing ${need[*]}"
    apt-get update -qq
    # No service starts: the tests run their own Apache and Redis on loopback ports.
    made_policy=
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && made_policy=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
    [ -z "$made_policy" ] || rm -f /usr/sbin/policy-rc.d
  else
    echo "tests/run.sh: not root or no apt-get; tests needing ${need[*]} will be skipped"
  fi
fi

if ! pip_error=$("$PYTHON" -m pip install -q -r requirements-test.txt 2>&1); then
  echo "tests/run.sh: $PYTHON takes no pip installs ($(printf '%s' "$pip_error" | grep -m1 -o 'externally-managed-environment\|No module named pip' || echo 'pip failed')): using .venv"
  PYTHON=$(python3 admin/bootstrap.py requirements.txt requirements-test.txt)
fi
exec "$PYTHON" -m pytest -q "$@"
