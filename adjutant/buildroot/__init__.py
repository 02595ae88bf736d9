"""Everything about a task's buildroot.  Buildroot (core.py) goes through its
lifecycle with the rest, one concept a module:

    core.py       Buildroot: load, prepare, install, rpmbuild, record, expire
    context.py    BuildContext: what a buildroot needs of its task (a Protocol)
    services.py   BuildrootServices: what all tasks of the daemon share
    images.py     which image (adjutant/imagepolicy.py), and on this host (pulled)
    mounts.py     what a buildroot's containers see of the host
    arches.py     the buildroot's arch and the 32-bit personality
    failure.py    build_error and the packager's reason for a failed step
    statelog.py   the daemon's lines in state.log
    workfiles.py  a task's input from the hub's work/ (an uploaded SRPM)
    repos.py      the tag's repo, under topdir or over topurl (fetch_url)
    downloads.py  the host's cache of the packages fetched over topurl
    roots.py      the prepared roots, kept, and each task's view of one
    script.py     the scripts run inside the containers (pure)
    macros.py, mockopts.py, comps.py   the tag's macros, mock.* extras, groups
    srpm.py       the SRPM's header: its needs and arches
    records.py    the hub's buildroot records (rpm lists, ids, origins)
    logs.py       the logs, streamed to the hub while the task runs
"""
