"""Sources: a brand's configured connectors, their secrets (encrypted) and their health."""
