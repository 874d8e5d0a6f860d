"""The web inbox (FastAPI + Jinja2 + htmx)."""
