"""What `import pullinfra` gives inside the files pullinfra loads (inventory, group data,
deploys): names of its own that pyinfra has no place for. Outside those files there is no
`pullinfra` module (agent/compat/importer.py maps the name)."""

from agent.engine.masking import secret

__all__ = ["secret"]
