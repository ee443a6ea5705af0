"""files operations, as pyinfra's `pyinfra.operations.files`: one package, one private module
per subject. Operation names stay `files.<function>` (agent/engine/naming.py)."""

from agent.catalogue.operations.files._archives import *  # noqa: F403
from agent.catalogue.operations.files._lines import *  # noqa: F403
from agent.catalogue.operations.files._paths import *  # noqa: F403
from agent.catalogue.operations.files._transfer import *  # noqa: F403
from agent.catalogue.operations.files._uploads import *  # noqa: F403
