"""Everything about a task's buildroot: which image (adjutant/imagepolicy.py), the tag's
repo and macros (macros.py), the SRPM's needs (srpm.py), the cached prepared
buildroot images (cache.py), the scripts run inside the containers (script.py),
the hub's buildroot records (records.py) and the logs (logs.py)."""
