"""The benchmark suites: every speed figure of the project, each measured beside its
baseline in the same run. Not part of the installed package; run from the repository:

    make bench                                 # python bench/run.py: every suite
    python bench/run.py ingest inbox --quick   # some suites, tiny sizes
    python bench/compare.py A.json B.json      # two `--json` runs figure by figure

A suite is a module here with ``run(size) -> list[Figure]`` (:mod:`bench.harness`), listed
in :mod:`bench.runner`. ``earful bench capacity`` stays in the package (:mod:`earful.capacity`).
"""
