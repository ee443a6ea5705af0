"""The deploy engine: pyinfra's five stages as a library (no printing, no globals, events out)."""
