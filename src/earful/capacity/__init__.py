"""`earful bench capacity`: how many posts per second this box sustains, and what limits it
(:mod:`earful.capacity.planner`). The benchmark suites, each figure beside its baseline,
are not part of the package: they live in the repository's ``bench/`` folder."""
