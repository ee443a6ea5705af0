"""Benchmarks: pullinfra against its peers, measured in the same run."""
