"""The files of an MLPerf power result, as MLCommons' power client and server write them and the round's checker
reads them: beside the testing run's ``run_1/`` (which also holds ``spl.txt``), ``ranging/`` and ``power/``."""

from __future__ import annotations

RUNS = ("ranging", "run_1")
RUN_FILES = ("mlperf_log_summary.txt", "mlperf_log_detail.txt", "spl.txt")
POWER_FILES = ("client.json", "client.log", "ptd_logs.txt", "server.json", "server.log")
# The harness's exit status when the power set-up (client, server, analyzer) failed: the cell fails as
# infrastructure, not as a benchmark (EX_TEMPFAIL).
POWER_EXIT = 75
