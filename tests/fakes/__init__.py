"""Fakes of the outside world for the tests and the benchmarks: `network` is a social network."""
