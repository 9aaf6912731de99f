"""The command line: one typer module per command group; the only place that prints."""
