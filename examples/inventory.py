# The bundled example: one host, this machine, reached through the @local connector.
# A group is a top-level list (or a (list, data) tuple); hosts may carry their own data.
demo = [
    ("@local", {"greeting": "hello from pullinfra"}),
]
