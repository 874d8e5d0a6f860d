"""Alembic migrations, shipped inside the package so `earful init` works from any install."""
