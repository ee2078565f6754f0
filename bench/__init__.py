"""Benchmarks: ``python -m bench.run [--only NAME] [--quick]`` writes docs/benchmarks.md.

Every figure that has a target is a ratio of two measurements taken in the same run (the service
against the in-process floor, int8 against fp32, the build against bare encoding), so a busy or
slower machine moves both sides together. One module per benchmark; each has ``run(ctx)`` that
returns a JSON-able dict and ``render(result)`` that returns its markdown section.
"""
