"""HTTP in front of the core: the app, request parsing and envelope, errors, LIST, listener."""
