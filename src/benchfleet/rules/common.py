"""Values several round tables share: scenario sets of LLM benchmarks and where LoadGen logs their results."""

from __future__ import annotations

OFF = ("Offline",)
INT_SRV = ("Interactive", "Server")
# Datacenter LLMs from v5.1: Offline required, Server and/or Interactive optional (one of them must be there).
LLM_DC = {"datacenter": OFF, "datacenter,edge": OFF}
LLM_DC_OPTIONAL = {"datacenter": INT_SRV, "datacenter,edge": INT_SRV}
LLM_EQ = ("Offline", "Server", "Interactive")  # equal issue in every scenario an LLM runs
LLM_FIELDS = {"Offline": "result_tokens_per_second", "Server": "result_completed_tokens_per_second"}
