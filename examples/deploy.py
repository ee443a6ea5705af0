# The bundled example deploy: pyinfra 3.x deploy code, run unchanged by pullinfra.
# It only touches host.data.demo_dir (./.pullinfra/demo in the checkout), never /etc.
from pyinfra import host
from pyinfra.facts.server import Os
from pyinfra.operations import files, server

base = host.data.demo_dir

files.directory(name="Create the demo folder", path=base)

for sub in host.loop(["conf", "data", "logs"]):
    files.directory(name=f"Create {sub}/", path=f"{base}/{sub}")

config = files.template(
    name="Render the app config",
    src="templates/app.conf.j2",
    dest=f"{base}/conf/app.conf",
    app_name=host.data.app_name,
    greeting=host.data.greeting,
    settings=host.data.settings,
)

files.line(
    name="Record the operating system",
    path=f"{base}/data/facts.txt",
    line=f"os={host.get_fact(Os)}",
)

server.shell(
    name="Reload the app (only if its config changed)",
    commands=[f"date -u +%FT%TZ >> {base}/logs/reloads.log"],
    _if=config.did_change,
)
