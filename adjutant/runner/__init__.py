"""The task runner: the only code that talks to systemd.

A `TaskSpec` goes in (runner.spec), an `Outcome` comes out (runner.outcome);
in between, `TaskRunner` (runner.runner) runs the task as the transient unit
adjutant-task-<id>.service, follows it over D-Bus, copies its journal to a log
file and re-attaches to its units after a restart.  It knows nothing of Koji.

This package's __init__ imports nothing, so that the unit's ExecStopPost
(runner.poststop) starts quickly.
"""
