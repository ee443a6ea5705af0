"""The operation catalogue: generator functions that read facts and yield only needed commands."""
