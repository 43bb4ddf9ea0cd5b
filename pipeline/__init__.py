"""The Faust app, its agents, settings and the ``lingting`` CLI."""
