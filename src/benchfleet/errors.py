"""Errors the user sees: something the user can fix, printed as one line without a traceback.

The wording is ``<where>: <what>; <how to fix it>``, where "where" is a flag (``--backend``), a sweep field
path (``systems[0].hosts[1]``), an argument (``run id``) or a file. The CLI prints
``benchfleet: error: <message>`` and exits with the error's ``exit_code``.
"""

from __future__ import annotations


class BenchfleetError(Exception):
    """Something the user can fix. ``where``: the flag, sweep field or file; ``what``: what is wrong; ``fix``: what
    to do. A message that names no single place (``the cloud checks above failed; ...``) is given whole as
    ``where`` alone."""

    exit_code = 1

    def __init__(self, where: str, what: str = "", fix: str = ""):
        self.where, self.what, self.fix = where, what, fix
        text = f"{where}: {what}" if what else where
        super().__init__(text + (f"; {fix}" if fix else ""))


class UsageError(BenchfleetError):
    """Input that cannot run (a flag, a sweep file, a run id): refused before anything runs, exit 2."""

    exit_code = 2
