"""PostgreSQL access. Every write of one batch shares the caller's connection/transaction."""
