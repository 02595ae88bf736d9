"""Everything that talks to the Koji hub: the session (session.py) and how a
task's result is encoded and kept until delivered (results.py)."""
