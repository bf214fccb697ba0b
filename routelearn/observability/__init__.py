"""Prometheus metrics of the service side (docs/metrics.md); prometheus-client is part of the
``[service]`` extra. One concept per module:

- ``events``: the events-by-source counters every intake shares (workers, the API)
- ``metrics``: the workers' own metrics (ingestion, dead letters, learner, fan-out), declared
  once, and the calls the service layer makes to record them
- ``fleet``: the fleet gauges, computed at scrape time from the database and the broker
- ``registry``: what a scrape answers: this host's processes (prometheus-client's multiprocess
  directory, or this process alone) and the collectors asked for
- ``server``: ``routelearn metrics serve``, a worker host's scrape target

The instance side's optional collector is ``routelearn.instance.metrics`` (no service import).
"""
