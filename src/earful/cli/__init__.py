"""The `earful` command line, one module per command group."""
