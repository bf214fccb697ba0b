"""Event models, database tables and migrations."""
