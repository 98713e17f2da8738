"""A real redis-server on a loopback port for one test session, or a reason why not."""

import shutil
import subprocess
import tempfile

from tests.support import free_port, wait_for_port


class RedisServer:
    def __init__(self):
        self.port = free_port()
        self.url = "redis://127.0.0.1:%d/0" % self.port
        self.dir = tempfile.mkdtemp(prefix="wechat-redis-")
        self.process = subprocess.Popen(
            [shutil.which("redis-server"), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port, process=self.process)

    def flush(self):
        import redis

        redis.Redis.from_url(self.url).flushall()

    def stop(self):
        self.process.terminate()
        self.process.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


def why_not_available():
    if not shutil.which("redis-server"):
        return "redis-server is not installed (bash tests/run.sh installs it as root)"
    try:
        import redis  # noqa: F401
    except ImportError:
        return "the redis package is not installed (pip install -r requirements-test.txt)"
    return None
