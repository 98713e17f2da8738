"""`deploy --mode proxy-fcgi --flavour wamp`: keep the FastCGI backend running on Windows, across log-offs and reboots.

Two files: wechat-backend.cmd, a wrapper that runs `python code.py fcgi 127.0.0.1:PORT`, appends its
output to a log and starts it again if it ever exits; and wechat-backend.xml, a Task Scheduler task that
runs the wrapper at start-up as SYSTEM (no one needs to be logged on). Import it once, as Administrator:
    schtasks /Create /TN "WeChat backend" /XML wechat-backend.xml && schtasks /Run /TN "WeChat backend"
"""

import os

WRAPPER = "wechat-backend.cmd"
TASK = "wechat-backend.xml"
TASK_NAME = "WeChat backend"


def windows_path(path):
    return path.replace("/", "\\")


def wrapper_script(python, root, port, log):
    """The .cmd wrapper, with CRLF line endings (cmd.exe mis-reads labels in LF-only files)."""
    python, root, log = windows_path(python), windows_path(root.rstrip("/\\")), windows_path(log)
    log_dir = log.rsplit("\\", 1)[0]
    lines = [
        "@echo off",
        "rem The WeChat server's FastCGI backend for Apache's mod_proxy_fcgi (written by manage.py deploy).",
        "rem Runs until stopped; if Python ever exits, it starts again 5 s later.",
        "rem Its log: %s" % log,
        'cd /d "%s"' % root,
        'if not exist "%s" mkdir "%s"' % (log_dir, log_dir),
        ":run",
        'echo %%date%% %%time%% starting the backend on 127.0.0.1:%d >> "%s"' % (port, log),
        '"%s" "%s\\code.py" fcgi 127.0.0.1:%d >> "%s" 2>&1' % (python, root, port, log),
        'echo %%date%% %%time%% the backend exited with code %%errorlevel%% >> "%s"' % log,
        "rem A 5-second pause; `timeout` refuses to run without a console, as under the Task Scheduler.",
        "ping -n 6 127.0.0.1 > nul",
        "goto run",
    ]
    return "\r\n".join(lines) + "\r\n"


def scheduled_task(wrapper, root, port):
    """Task Scheduler XML (UTF-16, as Windows itself writes it): run the wrapper at boot as SYSTEM, forever."""
    from xml.sax.saxutils import escape

    return """<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <RegistrationInfo>
    <Description>WeChat message server: the FastCGI backend on 127.0.0.1:%(port)d behind Apache's mod_proxy_fcgi (written by manage.py deploy).</Description>
  </RegistrationInfo>
  <Triggers>
    <BootTrigger>
      <Enabled>true</Enabled>
    </BootTrigger>
  </Triggers>
  <Principals>
    <Principal id="Author">
      <UserId>S-1-5-18</UserId>
      <RunLevel>LeastPrivilege</RunLevel>
    </Principal>
  </Principals>
  <Settings>
    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>
    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>
    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>
    <AllowHardTerminate>true</AllowHardTerminate>
    <StartWhenAvailable>true</StartWhenAvailable>
    <RunOnlyIfNetworkAvailable>false</RunOnlyIfNetworkAvailable>
    <IdleSettings>
      <StopOnIdleEnd>false</StopOnIdleEnd>
      <RestartOnIdle>false</RestartOnIdle>
    </IdleSettings>
    <AllowStartOnDemand>true</AllowStartOnDemand>
    <Enabled>true</Enabled>
    <Hidden>false</Hidden>
    <RunOnlyIfIdle>false</RunOnlyIfIdle>
    <WakeToRun>false</WakeToRun>
    <ExecutionTimeLimit>PT0S</ExecutionTimeLimit>
    <Priority>7</Priority>
    <RestartOnFailure>
      <Interval>PT1M</Interval>
      <Count>999</Count>
    </RestartOnFailure>
  </Settings>
  <Actions Context="Author">
    <Exec>
      <Command>%(wrapper)s</Command>
      <WorkingDirectory>%(root)s</WorkingDirectory>
    </Exec>
  </Actions>
</Task>
""" % {"port": port, "wrapper": escape(windows_path(wrapper)), "root": escape(windows_path(root.rstrip("/\\")))}


def write_backend_files(folder, python, root, port):
    """Write the wrapper and the task into folder; returns (wrapper path, task path, log path) as Windows sees them."""
    log = root.rstrip("/\\") + "/var/backend.log"
    wrapper = os.path.join(folder, WRAPPER)
    task = os.path.join(folder, TASK)
    with open(wrapper, "w", encoding="utf-8", newline="") as f:
        f.write(wrapper_script(python, root, port, log))
    wrapper_on_windows = os.path.abspath(wrapper).replace("\\", "/")
    with open(task, "w", encoding="utf-16", newline="\r\n") as f:  # "utf-16" writes the BOM Windows expects
        f.write(scheduled_task(wrapper_on_windows, root, port))
    return windows_path(wrapper_on_windows), task, windows_path(log)
