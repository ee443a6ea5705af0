"""Facts: small readers of host state, each one shell command and a parser of its output."""
