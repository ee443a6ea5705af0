"""The shipped systemd units, installed as they are on bed hosts that boot real systemd."""
