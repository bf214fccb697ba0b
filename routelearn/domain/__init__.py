"""Pure logic: no Celery, no database driver. Tested without a broker."""
