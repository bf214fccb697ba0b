"""The tasks the workers run, by the names producers send them under (contracts).

Defined in ``routelearn.service.tasks`` (one module each), so that an installed
``routelearn[service]`` runs them without this checkout; importable from here for a shell in the
deployable (``celery -A workers.app shell``, then ``tasks.ingest_events.delay([...])``).

Task (queue): what it does.

- ``routelearn.ingest_events`` (``routelearn.ingest``): a batch of routing events, one transaction
- ``routelearn.ingest_event`` (``routelearn.ingest``): one routing event
- ``routelearn.learn_scores`` (``routelearn.learn``): a learner tick (beat)
- ``routelearn.fan_out_scores`` (``routelearn.learn``): a round of score updates to every instance
- ``routelearn.fan_out_registry`` (``routelearn.learn``): registry and routing policy changes to
  every instance
- ``routelearn.fan_out_policy_inputs`` (``routelearn.learn``): budgeted workspaces' spend to every
  instance (beat)
- ``routelearn.sweep_anomalies`` (``routelearn.learn``): an anomaly sweep (beat)
- ``routelearn.deliver_alerts`` (``routelearn.learn``): anomaly notices to the alert webhook
  (beat, and after a sweep)
- ``routelearn.send_snapshot`` (``routelearn.learn``): every current score to one instance's queue
- ``routelearn.maintain_partitions`` (``routelearn.maintenance``): partitions, retention (beat)
- ``routelearn.consume_pgmq`` (``routelearn.ingest``): seed instances' decisions from pgmq's
  ``model_routing_decisions``, drained (beat, while ``ROUTELEARN_PGMQ_ENABLED``)
"""

from __future__ import annotations

from routelearn.service.tasks.alerts import deliver_alerts
from routelearn.service.tasks.fanout import fan_out_policy_inputs, fan_out_registry, fan_out_scores
from routelearn.service.tasks.ingest import ingest_event, ingest_events
from routelearn.service.tasks.learn import learn_scores
from routelearn.service.tasks.maintenance import maintain_partitions
from routelearn.service.tasks.pgmq import consume_pgmq
from routelearn.service.tasks.snapshot import send_snapshot
from routelearn.service.tasks.sweep import sweep_anomalies

__all__ = [
    "consume_pgmq",
    "deliver_alerts",
    "fan_out_policy_inputs",
    "fan_out_registry",
    "fan_out_scores",
    "ingest_event",
    "ingest_events",
    "learn_scores",
    "maintain_partitions",
    "send_snapshot",
    "sweep_anomalies",
]
