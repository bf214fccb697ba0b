"""Messaging shared by both sides: the broker connection, per-instance queues, fan-out, notices."""
