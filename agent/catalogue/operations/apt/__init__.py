"""apt operations, as pyinfra's `pyinfra.operations.apt`: one package, one private module per
subject. Operation names stay `apt.<function>` (agent/engine/naming.py)."""

from agent.catalogue.operations.apt._deb import *  # noqa: F403
from agent.catalogue.operations.apt._keys import *  # noqa: F403
from agent.catalogue.operations.apt._packages import *  # noqa: F403
from agent.catalogue.operations.apt._sources import *  # noqa: F403
