"""Settings and the secret: what a run is told, from where, and what must never be shown."""
