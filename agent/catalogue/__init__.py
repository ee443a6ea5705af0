"""The operations and facts of pyinfra's catalogue, built on the engine's public API."""
