"""The per-brand dashboard: volume, sentiment, intents, response times, workload."""
