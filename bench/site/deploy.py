"""The benchmark's workload for pyinfra and pullinfra; playbook.yml is the same work for
Ansible, and bench/workload.py what a host must hold after either (bench/README.md).

Both tools run this file unchanged (`pyinfra -y INVENTORY deploy.py`, `pullinfra apply
INVENTORY deploy.py`) with this directory as the working directory. 21 operations per host.
"""

from pyinfra import host
from pyinfra.operations import apt, files, server, systemd

BASE = "/srv/bench"
SETTINGS = ("workers=4", "log_level=info", "cache_mb=64", "listen=0.0.0.0")
ROLE = "web" if "web" in host.groups else "db"

for sub in ("", "/conf", "/data", "/logs"):
    files.directory(name=f"directory {BASE}{sub}", path=f"{BASE}{sub}", mode="755")

server.user(name="service account", user="benchapp", system=True, home="/var/lib/benchapp",
            shell="/usr/sbin/nologin", ensure_home=False)

apt.packages(name="package from the local repository", packages=["pullinfra-dummy-extra"])

for i in range(4):
    files.put(name=f"payload {i}", src=f"files/payload{i}.txt",
              dest=f"{BASE}/data/payload{i}.txt", mode="644")

app_conf = files.template(name="app.conf", src="templates/app.conf.j2",
                          dest=f"{BASE}/conf/app.conf", mode="640",
                          node=host.name, app_port=8080, workers=[0, 1, 2])

files.template(name="environment file", src="templates/bench-app.env.j2",
               dest="/etc/default/bench-app", mode="644", node=host.name, role=ROLE)

for line in SETTINGS:
    files.line(name=f"setting {line}", path=f"{BASE}/conf/settings.ini", line=line)

unit = files.put(name="unit file", src="files/bench-app.service",
                 dest="/etc/systemd/system/bench-app.service", mode="644")

systemd.daemon_reload(name="daemon-reload", _if=unit.did_change)

systemd.service(name="service running and enabled", service="bench-app.service",
                running=True, enabled=True)

if ROLE == "web":
    files.put(name="web page", src="files/index.html", dest=f"{BASE}/data/index.html",
              mode="644")
else:
    files.directory(name="database directory", path=f"{BASE}/db", mode="700")

systemd.service(name="reload after app.conf changed", service="bench-app.service",
                reloaded=True, _if=app_conf.did_change)
