"""The ``benchfleet`` command."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from pydantic import ValidationError

from benchfleet import __version__

EPILOG_RUN = """examples:
  benchfleet run
      embedded default: this machine, ResNet50 on ONNX Runtime CPU, open division, quick mode.
      Without an ImageNet folder it uses a generated model and dataset, labelled SYNTHETIC.
  benchfleet run --division closed --model synthetic --dataset synthetic --mode quick --out out/
      every scenario and compliance test a closed edge submission needs (quick: not for submission)
  benchfleet run --division closed --model official --dataset ~/imagenet/val --mode valid
      the real thing: official model (downloaded with its checksum), 600 s runs
"""


class UsageError(Exception):
    pass


def _spec_from_args(a: argparse.Namespace):
    from benchfleet.harness.spec import HarnessSpec

    fields = {
        "division": a.division, "mode": a.mode, "model": a.model, "dataset": a.dataset,
        "system_type": a.system_type, "offline": a.offline, "threads": a.threads, "batch": a.batch,
        "round": a.round, "benchmark": a.benchmark, "backend": a.backend, "device": a.device,
    }
    if a.scenarios:
        fields["scenarios"] = [s.strip() for s in a.scenarios.split(",") if s.strip()]
    if a.dataset_count:
        fields["dataset_count"] = a.dataset_count
    if a.synthetic_width:
        fields["synthetic_width"] = a.synthetic_width
    if a.cache_dir:
        fields["cache_dir"] = a.cache_dir
    try:
        spec = HarnessSpec(**fields)
        spec.resolved_scenarios()
        spec.offline_inferred()
    except ValidationError as exc:
        e = exc.errors()[0]
        field = ".".join(str(x) for x in e["loc"]) or "spec"
        raise UsageError(f"--{field.replace('_', '-')}: {e['msg']}") from None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if spec.dataset not in ("auto", "synthetic") and not Path(spec.dataset).expanduser().is_dir():
        raise UsageError(f"--dataset: {spec.dataset} is not a folder; give an ImageNet val folder or 'synthetic'")
    if spec.model not in ("auto", "official", "synthetic") and not Path(spec.model).expanduser().is_file():
        raise UsageError(f"--model: {spec.model} is not a file; use official, synthetic or a path to an ONNX model")
    if spec.model == "synthetic" and spec.dataset not in ("auto", "synthetic"):
        raise UsageError("--dataset: a generated model only scores on its generated dataset; use --dataset synthetic")
    if spec.dataset == "synthetic" and spec.model not in ("auto", "synthetic"):
        raise UsageError("--model: the synthetic dataset is labelled by the synthetic model; use --model synthetic")
    return spec


def _table(rows: list[dict]) -> str:
    head = ("system", "benchmark", "scenario", "metric", "value", "valid", "accuracy", "notes")
    body = []
    for r in rows:
        notes = []
        if r.get("inferred_from"):
            notes.append(f"inferred from {r['inferred_from']}")
        if r.get("compliance"):
            failed = [t for t, ok in r["compliance"].items() if not ok]
            notes.append("compliance " + ("FAIL " + ",".join(failed) if failed else "pass"))
        if r.get("synthetic"):
            notes.append("SYNTHETIC")
        if r.get("not_for_submission"):
            notes.append("not for submission")
        value = r.get("metric")
        body.append((r["system"], r["benchmark"], r["scenario"], r.get("unit") or "",
                     f"{value:.3f}" if isinstance(value, (int, float)) else "-", r.get("validity") or "-",
                     f"{r['accuracy']:.3f}%" if isinstance(r.get("accuracy"), (int, float)) else "-", "; ".join(notes)))
    cols = zip(head, *body, strict=False)
    widths = [max(len(str(x)) for x in col) for col in cols] if body else [len(h) for h in head]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*head), fmt.format(*("-" * w for w in widths))] + [fmt.format(*b) for b in body])


def cmd_run(a: argparse.Namespace) -> int:
    from benchfleet import project
    from benchfleet.runner import run_playbook

    spec = _spec_from_args(a)
    run_id = a.run_id or time.strftime("%Y%m%d-%H%M%S")
    out = Path(a.out).expanduser().resolve() if a.out else Path("benchfleet-out").resolve() / run_id
    inventory = Path(a.inventory) if a.inventory else project.home() / "inventories" / "local"
    if not inventory.exists():
        raise UsageError(f"--inventory: {inventory} does not exist")
    if a.submitter.strip() == "" or " " in a.submitter:
        raise UsageError("--submitter: give your organisation's name without spaces, e.g. MyLab")
    out.mkdir(parents=True, exist_ok=True)
    print(f"benchfleet {__version__}: run {run_id} -> {out}", flush=True)
    print(f"  {spec.benchmark} on {spec.backend}/{spec.device}, {spec.division} division, {spec.mode} mode, "
          f"scenarios {', '.join(spec.resolved_scenarios())}", flush=True)
    started = time.time()
    summary = run_playbook(
        "run.yml", inventory, out,
        extravars={"benchfleet_benchmark_spec": spec.model_dump(), "benchfleet_benchmark_run_id": run_id,
                   "benchfleet_benchmark_fetch_dir": str(out / "hosts"),
                   "benchfleet_benchmark_workdir": str(out / "work")},
        env={"BENCHFLEET_OUTPUT_DIR": str(out), "BENCHFLEET_SUBMITTER": a.submitter,
             "BENCHFLEET_DIVISION": spec.division, "BENCHFLEET_SYSTEM_TYPE": spec.system_type,
             "BENCHFLEET_ROUND": spec.round},
        progress=lambda line: print(f"  [{time.time() - started:6.0f}s] {line}", flush=True),
        check=a.check,
    )
    rows = summary.get("results", [])
    print()
    if rows:
        print(_table(rows))
    for sysinfo in summary.get("systems", []):
        if sysinfo.get("unknown_fields"):
            print(f"system {sysinfo['system_id']}: not detected, marked unknown (set benchfleet_system in the "
                  f"inventory): {', '.join(sysinfo['unknown_fields'])}")
    for f in summary.get("failures", []):
        print(f"FAILED {f['host']} / {f['task']}: {f['message']}")
    if summary.get("error"):
        print(f"ERROR writing the submission tree: {summary['error']}")
    tree = summary.get("tree")
    rc = 0 if summary.get("ansible_rc") == 0 and tree else 1
    if tree:
        from benchfleet.submission.check import check_tree

        dataset = _synthetic_or_given_dataset(out)
        report = check_tree(Path(tree), spec.round, accuracy_logs=out / "hosts", dataset=dataset)
        print(f"\nsubmission tree: {tree}")
        print(f"benchfleet check: {'OK' if report.ok else f'{len(report.errors)} error(s)'}"
              f" ({len([f for f in report.findings if f.level == 'WARNING'])} warning(s))")
        for f in report.errors[:20]:
            print(f"  {f}")
        if any(r.get("synthetic") for r in rows):
            print("NOTE: SYNTHETIC model and dataset: this checks the pipeline; it is not a result to publish.")
    print(f"done in {time.time() - started:.0f}s")
    return rc


def _synthetic_or_given_dataset(out: Path) -> Path | None:
    for hj in sorted((out / "hosts").glob("*/results/harness.json")):
        meta = json.loads(hj.read_text())
        spec = meta["spec"]
        if meta.get("synthetic"):
            from benchfleet.models.synthetic import dataset_dir_for

            return dataset_dir_for(Path(spec["cache_dir"]).expanduser() / "synthetic", spec["dataset_count"],
                                   spec["synthetic_width"])
        if spec["dataset"] not in ("auto", "synthetic"):
            return Path(spec["dataset"]).expanduser()
    return None


def cmd_check(a: argparse.Namespace) -> int:
    from benchfleet.submission.check import check_tree

    root = Path(a.tree)
    if not root.is_dir():
        raise UsageError(f"tree: {root} is not a folder; pass the folder holding closed/ or open/")
    try:
        report = check_tree(root, a.round, accuracy_logs=Path(a.accuracy_logs) if a.accuracy_logs else None,
                            dataset=Path(a.dataset) if a.dataset else None)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    for f in report.findings:
        if f.level == "ERROR" or a.verbose:
            print(f)
    for r in report.results:
        print(f"result {r['system']}/{r['benchmark']}/{r['scenario']}: {r.get('metric')} "
              f"{'valid' if r.get('valid') else 'INVALID'}")
    n_warn = len(report.findings) - len(report.errors)
    print(f"SUMMARY: {'submission looks OK' if report.ok else 'submission has errors'} "
          f"({len(report.errors)} errors, {n_warn} warnings)")
    return 0 if report.ok else 1


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="benchfleet",
        description="Run MLPerf Inference on one host or a fleet and produce a submission tree the "
                    "MLCommons checker accepts.",
    )
    p.add_argument("--version", action="version", version=f"benchfleet {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    r = sub.add_parser("run", help="run benchmarks through Ansible and write a submission tree",
                       epilog=EPILOG_RUN, formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("--division", default="open", choices=["open", "closed"],
                   help="open (default; the quick start) or closed (all required scenarios + compliance)")
    r.add_argument("--mode", default="quick", choices=["quick", "valid"],
                   help="quick: short runs marked not for submission (default); valid: the round's 600 s rules")
    r.add_argument("--model", default="auto",
                   help="official (download with checksum), synthetic (generated), a path, or auto (default)")
    r.add_argument("--dataset", default="auto", help="ImageNet 2012 val folder (val_map.txt + JPEGs), synthetic, "
                                                     "or auto (synthetic when none is given)")
    r.add_argument("--dataset-count", type=int, default=0, help="images to use (default 1024, the rules' minimum)")
    r.add_argument("--synthetic-width", type=int, default=0, help=argparse.SUPPRESS)
    r.add_argument("--scenarios", default="", help="comma list; default: what the division and system type need")
    r.add_argument("--system-type", default="edge", help="edge (default), datacenter or datacenter,edge")
    r.add_argument("--offline", default="auto", choices=["auto", "measured", "inferred"],
                   help="Offline on edge systems: inferred from SingleStream in quick mode (auto) or measured")
    r.add_argument("--benchmark", default="resnet50", help="benchmark (resnet50)")
    r.add_argument("--backend", default="onnxruntime", help="inference backend (onnxruntime)")
    r.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    r.add_argument("--threads", type=int, default=0, help="inference threads (default: all cores)")
    r.add_argument("--batch", type=int, default=0, help="batch for Offline/Server (default 8)")
    r.add_argument("--round", default="v3.1", help="MLPerf round whose rules apply (v3.1)")
    r.add_argument("--submitter", default="benchfleet", help="organisation name in the tree (no spaces)")
    r.add_argument("--inventory", default="", help="Ansible inventory (default: inventories/local)")
    r.add_argument("--out", default="", help="output folder (default ./benchfleet-out/<run-id>)")
    r.add_argument("--run-id", default="", help=argparse.SUPPRESS)
    r.add_argument("--cache-dir", default="", help="model/dataset cache (default ~/.cache/benchfleet)")
    r.add_argument("--check", action="store_true", help="Ansible check mode: show what would change, run nothing")
    r.set_defaults(func=cmd_run)

    c = sub.add_parser("check", help="validate a submission tree against a round's rules")
    c.add_argument("tree", help="folder holding closed/ and/or open/")
    c.add_argument("--round", default="v3.1")
    c.add_argument("--accuracy-logs", default="", help="folder with the full accuracy logs (to recompute accuracy)")
    c.add_argument("--dataset", default="", help="dataset folder whose val_map.txt labels the accuracy logs")
    c.add_argument("-v", "--verbose", action="store_true", help="also print warnings")
    c.set_defaults(func=cmd_check)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    if not argv:
        parser.print_help()
        return 2
    a = parser.parse_args(argv)
    if not getattr(a, "func", None):
        parser.print_help()
        return 2
    try:
        return a.func(a)
    except UsageError as exc:
        print(f"benchfleet: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("benchfleet: interrupted; finished results stay in the output folder", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
