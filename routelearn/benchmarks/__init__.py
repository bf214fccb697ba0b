"""Benchmarks, never run as tests. ``routelearn bench ingest|learning`` start their own workers
and throwaway databases; ``python -m routelearn.benchmarks.route`` times the router alone,
in-process."""
