"""pyinfra compatibility: inside files pullinfra loads, `pyinfra...` names mean this engine.

Only the deploy and inventory files the engine executes see the mapping (through their own
`__builtins__`); `sys.modules['pyinfra']` is never touched, so a real pyinfra installed in
the same environment keeps working for everyone else. The compat layer builds on the engine:
`run_deploy` and `load_inventory` here are the engine's with the mapping passed in.
"""

from agent.compat.run import load_inventory, run_deploy

__all__ = ["load_inventory", "run_deploy"]
