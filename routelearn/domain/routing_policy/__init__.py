"""Routing policy set centrally: rules, agent preferences, workspace configs (config.py), the
pure decision they make for a request (engine.py), and the versioned change that carries them
to every instance (change.py)."""
