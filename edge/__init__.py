"""The appliance: configuration, the pipeline loop, decisions, events, reporters and the CLI."""
