"""Benchmark suites behind `earful bench` and `make bench`: every speed figure of the project,
each measured beside its baseline in the same run."""
