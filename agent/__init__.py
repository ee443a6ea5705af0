"""pullinfra: a GitOps pull agent that applies pyinfra-style deploy code from git."""

__version__ = "0.1.0"
