"""Running the pipeline: in-process (embedded) or as scale-out workers on Redis Streams."""
