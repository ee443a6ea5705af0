"""server facts, as pyinfra's `pyinfra.facts.server`: one package, one private module per
subject. Fact names stay `server.<Class>` (agent/engine/naming.py)."""

from agent.catalogue.facts.server._accounts import *  # noqa: F403
from agent.catalogue.facts.server._kernel import *  # noqa: F403
from agent.catalogue.facts.server._machine import *  # noqa: F403
from agent.catalogue.facts.server._power import *  # noqa: F403
from agent.catalogue.facts.server._processes import *  # noqa: F403
from agent.catalogue.facts.server._system import *  # noqa: F403
