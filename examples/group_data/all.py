# Data every host sees (lowest precedence: groups, the host and --data override it).
from pathlib import Path

# Everything the demo deploy touches lives under this folder, inside the checkout.
demo_dir = str(Path(__file__).resolve().parents[2] / ".pullinfra" / "demo")
app_name = "demo-app"
