"""The tiny daemon that systemd tests run as a unit on bed hosts that boot systemd
(tests/ops/test_systemd_bed.py, tests/differential/test_systemd.py): a shell loop that writes
the VERSION its unit gave it to /run/bed-daemon.version and counts SIGHUPs (reloads) in
/run/bed-daemon.reloads, so a test can tell a restart from a reload from nothing."""

DAEMON = """\
#!/bin/sh
echo "${VERSION:-none}" > /run/bed-daemon.version
trap 'echo reload >> /run/bed-daemon.reloads' HUP
while :; do sleep 1 & wait $!; done
"""

# .format(version=N): the VERSION the daemon reports once started from this unit.
UNIT = """\
[Unit]
Description=pullinfra test bed daemon

[Service]
Environment=VERSION={version}
ExecStart=/usr/sbin/bed-daemon
ExecReload=/bin/kill -HUP $MAINPID

[Install]
WantedBy=multi-user.target
"""
