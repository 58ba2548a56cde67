"""Tables printed at the end of a run and by ``benchfleet status``.

Cells hold host text (validity, failure messages, progress, system names): ``table`` shows every cell
through ``for_terminal``, one line each, so a host can neither send the terminal commands nor add rows.
"""

from __future__ import annotations

import time

from benchfleet.safetext import for_terminal
from benchfleet.sweep.plan import Plan
from benchfleet.sweep.rundir import CellState


def table(head: tuple[str, ...], body: list[tuple]) -> str:
    body = [tuple(for_terminal(x) for x in row) for row in body]
    cols = list(zip(head, *body, strict=False)) if body else [(h,) for h in head]
    widths = [max(len(str(x)) for x in col) for col in cols]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*head), fmt.format(*("-" * w for w in widths))]
                     + [fmt.format(*b) for b in body])


def results_table(rows: list[dict]) -> str:
    body = []
    for r in rows:
        notes = []
        if r.get("inferred_from"):
            notes.append(f"inferred from {r['inferred_from']}")
        if r.get("compliance"):
            failed = [t for t, ok in r["compliance"].items() if not ok]
            notes.append("compliance " + ("FAIL " + ",".join(failed) if failed else "pass"))
        if r.get("failure"):
            notes.append(r["failure"])
        if r.get("synthetic"):
            notes.append("SYNTHETIC")
        if r.get("not_for_submission"):
            notes.append("not for submission")
        value = r.get("metric")
        body.append((r["system"], r.get("division", ""), r["benchmark"], r["scenario"], r.get("unit") or "",
                     f"{value:.3f}" if isinstance(value, (int, float)) else "-", r.get("validity") or "-",
                     f"{r['accuracy']:.3f}%" if isinstance(r.get("accuracy"), (int, float)) else "-",
                     "; ".join(notes)))
    return table(("system", "division", "benchmark", "scenario", "metric", "value", "valid", "accuracy", "notes"),
                 body)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def cell_note(st: CellState) -> str:
    if st.state == "done":
        return st.validity or ""
    if st.state == "running":
        return st.progress or ""
    if st.kind:
        return f"{st.kind}: {st.task + ': ' if st.task else ''}{st.message}".strip()[:160].replace("\n", " ")
    return ""


def status_table(plan: Plan, states: dict[str, CellState], now: float | None = None) -> str:
    now = now or time.time()
    body = []
    for c in plan.cells:
        st = states[c.id]
        if st.started and st.state == "running":
            el = duration(now - st.started)
        elif st.started and st.finished:
            el = duration(st.finished - st.started)
        else:
            el = "-"
        body.append((c.host, c.label, st.state, el, cell_note(st)))
    return table(("host", "cell", "state", "elapsed", "detail"), body)


def plan_table(plan: Plan) -> str:
    body = [(c.host, c.system, c.id, duration(c.estimate_s)) for c in plan.cells]
    return table(("host", "system", "cell", "estimate"), body)
