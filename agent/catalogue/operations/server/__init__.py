"""server operations, as pyinfra's `pyinfra.operations.server`: one package, one private
module per subject. Operation names stay `server.<function>` (agent/engine/naming.py)."""

from agent.catalogue.operations.server._accounts import *  # noqa: F403
from agent.catalogue.operations.server._crontab import *  # noqa: F403
from agent.catalogue.operations.server._kernel import *  # noqa: F403
from agent.catalogue.operations.server._packages import *  # noqa: F403
from agent.catalogue.operations.server._power import *  # noqa: F403
from agent.catalogue.operations.server._processes import *  # noqa: F403
from agent.catalogue.operations.server._scripts import *  # noqa: F403
from agent.catalogue.operations.server._services import *  # noqa: F403
from agent.catalogue.operations.server._shell import *  # noqa: F403
from agent.catalogue.operations.server._system import *  # noqa: F403
