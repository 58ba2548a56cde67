"""One self-contained HTML page of results: plots drawn with matplotlib as inline SVG (text as paths: no font, script
or image is fetched when the page opens), tables with a filter box, the contributor board.

Inputs are benchfleet run directories and submission trees (anyone's), and ``compare`` trees shown beside them. What
they hold is data: every text is HTML-escaped, numbers are taken only as numbers, and a run directory's host-written
files (the Server search of harness.json) give numbers only.
"""

from __future__ import annotations

import html
import io
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchfleet.jsonvalues import number
from benchfleet.rules import get_round
from benchfleet.submission import board as board_mod
from benchfleet.submission import export
from benchfleet.submission.check import Checker
from benchfleet.submission.files import run_results, submission_root

LATENCY = ("SingleStream", "MultiStream")
THROUGHPUT = ("Offline", "Server")


@dataclass
class Inputs:
    rows: list[dict]  # export rows, with "compare" (bool) and, for run directories, run fields
    board: board_mod.Board
    server: list[dict] = field(default_factory=list)  # system, benchmark, probes [(target, latency ms, valid)], bound
    runs: list[dict] = field(default_factory=list)  # run directories' results.json summaries (numbers and names)


def _run_rows(run_dir: Path) -> dict[tuple[str, str, str], dict]:
    out = {}
    for key, r in run_results(run_dir).items():
        comp = r.get("compliance") if isinstance(r.get("compliance"), dict) else None
        out[key] = {"accuracy": number(r.get("accuracy")), "host": str(r.get("host", ""))[:80],
                    "compliance": {str(k)[:10]: v is True for k, v in comp.items()} if comp else None,
                    "provider": str(r.get("provider", "") or "")[:20],
                    "instance_type": str(r.get("instance_type", "") or "")[:40]}
    return out


def _server_searches(run_dir: Path) -> list[dict]:
    out = []
    for meta in sorted((run_dir / "cells").glob("*/results/harness.json")) if (run_dir / "cells").is_dir() else []:
        try:
            data = json.loads(meta.read_text()[:5_000_000])
        except (OSError, ValueError):
            continue
        for s in data.get("scenarios") or [] if isinstance(data, dict) else []:
            search = s.get("server_search") if isinstance(s, dict) else None
            if not isinstance(search, dict):
                continue
            probes = [(number(p.get("target_qps")), number(p.get("latency_ms")), p.get("valid") is True)
                      for p in (search.get("probes") or [])[:32] if isinstance(p, dict)]
            probes = [p for p in probes if p[0] is not None and p[1] is not None]
            if probes:
                out.append({"cell": meta.parts[-3][:120], "benchmark": str(data.get("benchmark", ""))[:40],
                            "probes": probes, "best": number(search.get("best_qps"))})
    return out


def gather(sources: list[Path], compare: list[Path], round_version: str = "v3.1",
           allow_quick: bool = True, checked: dict[Path, Checker] | None = None) -> Inputs:
    """Rows, board entries and Server searches of every input; ``checked``: inputs a caller has checked already
    (a run's own check, with its accuracy rescored), whose checkers are read instead of checking again."""
    rows: list[dict] = []
    server: list[dict] = []
    entries: list[board_mod.Entry] = []
    rules = get_round(round_version)
    for path, is_compare in [(p, False) for p in sources] + [(p, True) for p in compare]:
        extra = _run_rows(path)
        checker = (checked or {}).get(path)
        if checker is None:
            checker = Checker(submission_root(path), rules, allow_quick=allow_quick)
            checker.run()  # once per input: its rows and its board entries read the same check
        for r in export.rows_checked(path, checker):
            r["compare"] = is_compare
            r.update(extra.get((r["system"], r["benchmark"], r["scenario"]), {}))
            rows.append(r)
        entries += board_mod.score_checked(checker)
        if not is_compare:
            server += _server_searches(path)
    return Inputs(rows, board_mod.of(entries, round_version, [*sources, *compare], allow_quick), server)


# ---- plots -----------------------------------------------------------------------------------------------------

def _svg(fig) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    text = buf.getvalue()
    text = text[text.index("<svg"):]  # the XML header and DOCTYPE out: inline in HTML
    # matplotlib writes each label's text again in an XML comment, unescaped: a name from a tree holding "-->" would
    # end the comment and become markup. Comments and metadata go (the text itself is drawn as paths).
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    return re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.S)


def _bars(title: str, unit: str, items: list[tuple[str, float, bool, bool]], log_scale: bool = False) -> str:
    """Horizontal bars: (label, value, valid, compare)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.fonttype"] = "path"
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(items) + 1.2))
    labels = [i[0] for i in items]
    values = [i[1] for i in items]
    colors = ["#9aa5b1" if i[3] else ("#2b6cb0" if i[2] else "#c53030") for i in items]
    ax.barh(range(len(items)), values, color=colors)
    ax.set_yticks(range(len(items)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(unit)
    ax.set_title(title, fontsize=10)
    if log_scale and values and min(values) > 0 and max(values) / min(values) > 50:
        ax.set_xscale("log")
    for k, v in enumerate(values):
        ax.text(v, k, f" {v:.4g}", va="center", fontsize=7)
    return _svg(fig)


def _server_plot(s: dict, bound_ms: float | None) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.fonttype"] = "path"
    fig, ax = plt.subplots(figsize=(6, 3))
    for target, lat, valid in s["probes"]:
        ax.scatter(target, lat, color="#2b6cb0" if valid else "#c53030", marker="o" if valid else "x")
    if bound_ms:
        ax.axhline(bound_ms, color="#555", linestyle="--", linewidth=1, label="latency bound")
    if s["best"]:
        ax.axvline(s["best"], color="#2f855a", linewidth=1, label="highest VALID target")
    ax.set_xlabel("target queries/s")
    ax.set_ylabel("percentile latency (ms)")
    ax.set_title(f"Server target search: {s['cell']}", fontsize=9)
    if bound_ms or s["best"]:
        ax.legend(fontsize=7)
    return _svg(fig)


# ---- page ------------------------------------------------------------------------------------------------------

def _e(v: object) -> str:
    return html.escape("" if v is None else str(v), quote=True)


def _fmt(v: object) -> str:
    return f"{v:.4g}" if isinstance(v, float) else _e(v)


def _table(tid: str, headers: list[str], body: list[list[str]], raw: bool = False) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    rows = "".join("<tr>" + "".join(f"<td>{c if raw else _e(c)}</td>" for c in r) + "</tr>" for r in body)
    return (f'<input class="filter" data-table="{tid}" placeholder="filter rows (any text)">'
            f'<table id="{tid}"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>')


CSS = """body{font-family:sans-serif;margin:1.5em;max-width:1100px}h1{font-size:1.4em}h2{font-size:1.15em;
margin-top:1.6em;border-bottom:1px solid #ccc}table{border-collapse:collapse;font-size:.8em;margin:.5em 0}
td,th{border:1px solid #ddd;padding:2px 6px;text-align:left}th{background:#f3f3f3}.ok{color:#22543d}
.bad{color:#9b2c2c;font-weight:bold}.note{color:#555;font-size:.85em}.filter{margin:.3em 0;width:20em}
details{margin:.4em 0}summary{cursor:pointer;font-weight:bold}"""

JS = """document.querySelectorAll('input.filter').forEach(function(box){box.addEventListener('input',function(){
var t=document.getElementById(box.dataset.table);var q=box.value.toLowerCase();
t.querySelectorAll('tbody tr').forEach(function(r){
r.style.display=r.textContent.toLowerCase().indexOf(q)<0?'none':'';});});});"""


def render(data: Inputs, title: str, round_version: str = "v3.1") -> str:
    rules = get_round(round_version)
    rows = data.rows
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    parts = [f"<h1>{_e(title)}</h1>",
             f'<p class="note">MLPerf Inference {_e(round_version)} · generated {when} by benchfleet · '
             f"{len(rows)} result(s) · blue: VALID, red: not VALID, grey: compared trees</p>"]
    if any(r["quick"] for r in rows):
        parts.append('<p class="bad">Quick-mode results are included: shortened runs, NOT FOR SUBMISSION.</p>')
    # the board
    pts = data.board.points()
    parts.append("<h2>Contributor board</h2>")
    parts.append(_table("board", ["submitter", "system", "points"],
                        [[s, y, str(n)] for (s, y), n in sorted(pts.items(), key=lambda kv: (-kv[1], kv[0]))]))
    missing = [e for e in data.board.entries if not e.point]
    if missing:
        parts.append("<details><summary>Why some benchmarks earn no point</summary>" + _table(
            "nopoint", ["submitter", "system", "benchmark", "reason"],
            [[e.submitter, e.system, e.benchmark, e.why] for e in missing]) + "</details>")
    # plots, one per benchmark and kind
    for bench in sorted({r["benchmark"] for r in rows}):
        br = [r for r in rows if r["benchmark"] == bench]
        parts.append(f"<h2>{_e(bench)}</h2>")
        for scen in THROUGHPUT + LATENCY:
            items = [(f"{r['system']} ({r['submitter']})", r["metric"], r["valid"], r["compare"])
                     for r in br if r["scenario"] == scen and r["metric"]]
            if items:
                unit = next(r["unit"] for r in br if r["scenario"] == scen)
                what = "throughput" if scen in THROUGHPUT else "latency at the round's percentile (lower is better)"
                parts.append(f"<figure>{_bars(f'{bench} {scen}: {what}', unit, items, log_scale=True)}</figure>")
        acc = [(f"{r['system']} {r['scenario']}", r["accuracy"], r["valid"], r["compare"]) for r in br
               if number(r.get("accuracy")) is not None]
        if acc:
            try:
                targets = ", ".join(f"{name} {bound:.4g}"
                                    for name, _, bound in rules.benchmark(bench).accuracy_targets())
            except ValueError:
                targets = "none: an open model"
            parts.append(f"<figure>{_bars(f'{bench}: accuracy (closed target: {targets})', 'accuracy', acc)}"
                         "</figure>")
        cost = [(f"{r['system']} {r['scenario']}", r["usd_per_million_samples"], r["valid"], r["compare"])
                for r in br if r.get("usd_per_million_samples")]
        if cost:
            parts.append(f"<figure>{_bars(f'{bench}: cost of a million samples (cloud)', 'USD', cost)}</figure>")
    for s in data.server:
        try:
            ns = rules.benchmark(s["benchmark"]).server_latency_ns
        except ValueError:
            ns = None
        parts.append(f"<figure>{_server_plot(s, ns / 1e6 if ns else None)}</figure>")
    # validity and compliance at a glance
    parts.append("<h2>Every result</h2>")
    body = []
    for r in rows:
        comp = r.get("compliance")
        comp_text = "" if not comp else " ".join(f"{k} {'pass' if v else 'FAIL'}" for k, v in comp.items())
        verdict = '<span class="ok">VALID</span>' if r["valid"] else '<span class="bad">not VALID</span>'
        body.append([_e(r["submitter"]), _e(r["system"]), _e(r["benchmark"]), _e(r["scenario"]),
                     _fmt(r["metric"]) + " " + _e(r["unit"]), verdict, _e(comp_text) or "-",
                     _fmt(r.get("accuracy")) or "-", _fmt(r.get("usd_per_hour")) or "-",
                     _fmt(r.get("usd_per_million_samples")) or "-", "compared" if r["compare"] else _e(r["source"])])
    parts.append(_table("results", ["submitter", "system", "benchmark", "scenario", "metric", "verdict",
                                    "compliance", "accuracy", "USD/h", "USD per 1M samples", "source"], body,
                        raw=True))
    # system descriptions side by side
    systems = sorted({(r["submitter"], r["system"]) for r in rows})
    fields = ["system_type", "processor", "cores", "accelerator", "accelerators", "provider", "instance_type"]
    first = {(r["submitter"], r["system"]): r for r in rows}
    parts.append("<h2>Systems</h2>")
    parts.append(_table("systems", ["field", *[f"{y} ({s})" for s, y in systems]],
                        [[f, *[first[k].get(f, "") for k in systems]] for f in fields]))
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
            "script-src 'unsafe-inline'; img-src data:\">"
            f"<title>{_e(title)}</title><style>{CSS}</style></head><body>{''.join(parts)}<script>{JS}</script>"
            "</body></html>\n")


def write(sources: list[Path], out: Path, compare: list[Path] | None = None, round_version: str = "v3.1",
          title: str = "benchfleet results", checked: dict[Path, Checker] | None = None) -> Path:
    data = gather(sources, compare or [], round_version, checked=checked)
    text = render(data, title, round_version)
    tmp = out.with_name(out.name + ".part")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)
    return out
