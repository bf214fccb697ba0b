"""Benchmarks, run as ``routelearn bench ...``; they start their own workers and databases."""
