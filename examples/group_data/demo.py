# Data for the hosts of the `demo` group.
settings = {"workers": 4, "log_level": "info"}
