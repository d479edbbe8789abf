"""stilalarm: the one namespace every product package is installed and imported under.

In the repository `stilalarm/wire`, `stilalarm/console`, ... are symlinks to the top-level folders
operators know (`wire/`, `console/`, ...); import them only as `stilalarm.<package>`.
"""
