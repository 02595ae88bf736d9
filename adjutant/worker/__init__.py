"""The worker: adjutant as a Koji builder (loop.py), its readiness rules
(readiness.py) and what it keeps of each task across restarts (state.py)."""
