"""Connectors: how commands and files reach a host (@local, SSH over paramiko)."""
