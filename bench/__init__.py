"""Benchmarks that run the product's real processes (gunicorn, Celery, PostgreSQL, Redis)."""
