"""Running the hub: the server, process signals, garbage-collector tuning, migrations,
health checks, the development stack of real servers and the demo data."""
