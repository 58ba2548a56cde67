"""The ``benchfleet`` command: the argument parser, and one handler per subcommand that calls ``benchfleet.api``,
prints what ``sweep/report.py`` renders of the result, and returns the exit code."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from benchfleet import __version__, api
from benchfleet.errors import BenchfleetError, UsageError
from benchfleet.rules import DEFAULT_ROUND, ROUNDS
from benchfleet.safetext import for_terminal

ROUND_HELP = (f"MLPerf Inference round whose rules, tree layout and checks apply: {', '.join(ROUNDS)} (default "
              f"{DEFAULT_ROUND}, the round of the call for volunteers); `benchfleet rounds` shows each")

EPILOG_RUN = """examples:
  benchfleet run
      embedded default: this machine, ResNet50 on ONNX Runtime CPU, open division, quick mode.
      Without an ImageNet folder it uses a generated model and dataset, labelled SYNTHETIC.
  benchfleet run --division closed --model synthetic --dataset synthetic --mode quick --out out/
      every scenario and compliance test a closed edge submission needs (quick: not for submission)
  benchfleet run --division closed --model official --dataset ~/imagenet/val --mode valid
      the real thing: official model (downloaded with its checksum), 600 s runs
"""


EPILOG_MERGE = """Each input is checked first (benchfleet check) and refused with its errors when it does not pass; what
passes is copied, never changed. One system id described two ways, two results for the same system, benchmark and
scenario (without --prefer) and one model mapped to two benchmarks are errors naming both inputs; nothing is
written then. The merged tree is checked again before it is moved into --out.

examples:
  benchfleet merge runs/lab-3f2a runs/aws-77c1 ~/their-tree --out merged/
  benchfleet merge runs/lab-* --out merged/ --prefer best
  benchfleet merge runs/lab-3f2a ~/friend-tree --out community/ --submitter MLCommunity
"""

EPILOG_SUBMIT = """What the round's own flow does before upload is done on a copy (never on your tree): empty folders
deleted, scenarios the rules infer filled in (SingleStream -> Offline/MultiStream, MultiStream -> Offline, -99.9
-> -99), then a strict check: a quick-mode tree is refused. Then either the archive, or: the repository is cloned
into a temporary folder, the tree placed where its layout keeps closed/ and open/, committed on a new branch with a
message listing each result, and pushed. A failure leaves nothing behind and pushes nothing.

examples:
  benchfleet submit merged/ --to git@github.com:myorg/submissions.git --branch mylab-v3.1
  benchfleet submit runs/lab-3f2a --archive --archive-dir upload/
"""

EPILOG_EXPORT = """One row per result: round, source, division, submitter, system, system_type, processor, cores,
accelerator, accelerators, benchmark, scenario, metric, unit, valid, quick, samples_per_s,
samples_per_s_per_accelerator, samples_per_s_per_core, usd_per_hour, samples_per_s_per_usd_hour,
usd_per_million_samples. results.json also holds each field's meaning ("fields") and a schema_version.

examples:
  benchfleet export runs/lab-3f2a merged/ --out explore/
"""

EPILOG_REPORT = """Per benchmark: throughput (Offline, Server) and percentile latency (SingleStream, MultiStream) per
system, accuracy against the closed target, the cost of a million samples on cloud systems, each Server target
search (probes against the latency bound); then the contributor board, every result with its verdict and
compliance tests (filter box), and the systems side by side. Plots are inline SVG: the file opens offline.
`benchfleet sweep` writes one into each run directory (report.html).

examples:
  benchfleet report runs/lab-3f2a merged/ --out report.html
  benchfleet report runs/lab-3f2a --compare ~/inference_results_v3.1/closed/SomeVendor --out mine-vs-theirs.html
"""

EPILOG_BOARD = """The call for volunteers' rule: one point per benchmark with valid, complete results on one system:
every scenario the round requires for the system's type (its systems/<id>.json), each VALID with accuracy met,
no checker ERROR in its results, measurements or compliance folders or in the system description (closed:
compliance tests passed). Each tree is checked first; the reason a benchmark has no point is printed beside it.

examples:
  benchfleet board runs/lab-3f2a runs/aws-77c1 ~/their-tree
      points per submitter, then per system and benchmark (a run directory's submission/ is read)
  benchfleet board merged/ --json > board.json
      the same as JSON
  benchfleet board runs/lab-3f2a --allow-quick
      practice points for quick-mode trees (not a submission)
"""

EPILOG_ROUNDS = """examples:
  benchfleet rounds
      every round from v3.1 to v6.1: its benchmarks (* = benchfleet runs it), tree layout, what changed
  benchfleet rounds v5.1
      one round, a line per benchmark: required scenarios per system type, sample counts, latency bounds,
      compliance tests and closed accuracy targets
  benchfleet run --round v5.1 --division closed
      run under v5.1's rules (seeds, counts, compliance tests) and write v5.1's tree layout
  benchfleet check out/submission --round v6.0
      check a tree as v6.0's checker would (results/ holds measurements.json and TESTxx/, code in src/)
"""


EPILOG_SWEEP = """examples:
  benchfleet sweep sweeps/example.yml --check
      validate the sweep file and print the plan: cells, hosts, estimated time; runs nothing
  benchfleet sweep sweeps/lab.yml --inventory inventories/lab
      run every cell; hosts work in parallel, each its cells in turn; live progress
  benchfleet sweep --resume lab-3f2a9c01d4
      run only the cells not done (after a lost host, a failure or Ctrl-C)
  benchfleet status lab-3f2a9c01d4
      per host and cell: pending, running (current scenario), done, failed and why

The run directory runs/<run-id>/ holds the plan, every fetched log, the submission tree,
results.json / results.csv and the Ansible event stream (ansible/artifacts/*/job_events).
Running the same sweep file again continues the same run: finished cells are never re-run.
The sweep file's `round:` key (v3.1 by default, up to v6.1) picks the rules, the tree layout and the check.
"""


EPILOG_TEARDOWN = """examples:
  benchfleet teardown clouds-3f2a9c01d4
      delete every instance, key pair, security group, resource group and firewall rule tagged
      benchfleet-run=clouds-3f2a9c01d4 and made by you (benchfleet-owner), on every cloud whose credentials
      are configured; confirmed by listing
  benchfleet reap --dry-run
      list resources of your runs past their benchfleet-expires tag (a controller that died, a lost laptop)
  benchfleet reap --older-than 6h --provider aws --region us-east-1
      delete instances of your runs launched more than 6 hours ago
  benchfleet reap --provider ovh
      OVHcloud bills a halted instance: this deletes your runs' instances past their expiry, halted or not
  benchfleet reap --provider oci --region us-ashburn-1
      OCI bills an instance shut down from its own OS: this terminates your runs' instances past their expiry
  benchfleet reap --provider alibaba --region cn-hangzhou,us-west-1
      Alibaba Cloud ECS releases each instance at its AutoReleaseTime; this deletes what is past its expiry tag
      and the run's VPC, security group and key pair once no instance is left
  benchfleet reap --all-owners
      every user's expired runs, not only yours; a run launched or prepared within --grace (15m) is left

Resources without benchfleet's tags (run, owner, expiry) are never touched.

Credentials come from each SDK's own chain: AWS_PROFILE or the AWS_* variables; AZURE_SUBSCRIPTION_ID with
az login or a managed identity; GOOGLE_CLOUD_PROJECT with gcloud auth application-default login; OVHcloud: the
OS_* variables of the project's openrc.sh, or OS_CLOUD naming a clouds.yaml entry (every region of its catalog is
scanned unless --region is given); OCI: the API key config file (OCI_CONFIG_FILE, default ~/.oci/config, profile
OCI_CLI_PROFILE; every region the tenancy subscribes to is scanned unless --region is given); Alibaba Cloud:
ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET (every region ECS offers is scanned unless
--region is given).
"""


EPILOG_TUNE = """examples:
  benchfleet tune --benchmark resnet50 --scenarios Offline,Server --system-type datacenter
      Offline: threads, then batch, from short runs (highest samples/s; LoadGen is then asked for it);
      Server: the highest target QPS whose short run is VALID, confirmed by the run itself (stepped down
      when not); SingleStream/MultiStream: the threads with the lowest percentile latency
  benchfleet tune --inventory inventories/lab --tune-budget 5m
      each host of the lab, at most 5 minutes of short runs per cell
  benchfleet tune --show
      the tuning files (~/.benchfleet/tuning/<system id>.json) and each setting's trials

A tune is a run: it measures with the settings it found and writes the same tree. Later runs on hardware with
the same system id (CPU, vCPUs, memory, GPUs) take those settings unless --threads/--batch say otherwise or
--no-tuned; a host whose backend version changed drops them. $BENCHFLEET_TUNING_DIR moves the cache.
"""


EPILOG_SETUP = """examples:
  benchfleet setup --inventory inventories/lab
      NVIDIA driver and CUDA runtime where there is an NVIDIA GPU (from NVIDIA's repositories; a reboot only
      when the driver needs one), a venv with pinned packages, the frameworks, the benchfleet harness
  benchfleet bundle wheels/ && benchfleet setup --inventory inventories/airgap --offline wheels/
      air-gapped lab: the controller pushes every wheel; hosts need no route to any registry
  benchfleet setup --inventory inventories/lab --check
      what would change, changing nothing; a second run of setup reports changed=0
"""


ACCEPT_NEW_HOST_KEYS_HELP = ("trust an inventory host's SSH key on first use, recording it in the run's own "
                             "known_hosts (default: the key must be in ~/.ssh/known_hosts already)")


def _list(text: str) -> list[str]:
    """A comma list as typed (``aws, gcp``), without blanks."""
    return [x.strip() for x in text.split(",") if x.strip()]


def _path(text: str) -> Path | None:
    return Path(text) if text else None


def _scenarios(text: str) -> list[str] | None:
    """--scenarios as a list; None when left out (what the division and system type need)."""
    if not text:
        return None
    scenarios = _list(text)
    if not scenarios:
        from benchfleet.rules.table import SCENARIOS

        raise UsageError(f"--scenarios: {text!r} names no scenario; give a comma list of "
                         f"{', '.join(SCENARIOS)}, or leave --scenarios out for what the division needs")
    return scenarios


def _run_arguments(r: argparse.ArgumentParser) -> None:
    """What `run` and `tune` share: the benchmark, where and how it runs."""
    r.add_argument("--division", default="open", choices=["open", "closed"],
                   help="open (default; the quick start) or closed (all required scenarios + compliance)")
    r.add_argument("--mode", default="quick", choices=["quick", "valid"],
                   help="quick: short runs marked not for submission (default); valid: the round's 600 s rules")
    r.add_argument("--model", default="auto",
                   help="official (download with checksum), synthetic (generated), a path, or auto (default)")
    bench_help, dataset_help = api.benchmarks_help()
    r.add_argument("--dataset", default="auto", help=dataset_help)
    r.add_argument("--dataset-count", type=int, default=0,
                   help="samples to use (default 1024, the rules' minimum; at most 330067, DLRM-v2's groups)")
    r.add_argument("--synthetic-width", type=int, default=0, help=argparse.SUPPRESS)
    r.add_argument("--scenarios", default="", help="comma list; default: what the division and system type need")
    r.add_argument("--system-type", default="edge", help="edge (default), datacenter or datacenter,edge")
    r.add_argument("--offline", default="auto", choices=["auto", "measured", "inferred"],
                   help="Offline on edge systems: inferred from SingleStream in quick mode (auto) or measured")
    r.add_argument("--benchmark", default="resnet50", help=bench_help)
    r.add_argument("--backend", default="onnxruntime",
                   help="inference backend: onnxruntime (default), pytorch (the same ONNX file run by torch), "
                        "tensorflow, tflite, or noop (infers nothing: measures the orchestration alone; its results "
                        "are labelled NO-OP and refused by check and submit)")
    r.add_argument("--precision", default="fp32", choices=["fp32", "fp16", "bf16", "int8"],
                   help="fp32 (default); pytorch: fp16 (cuda) or bf16; onnxruntime on the cpu: int8 (ResNet50, "
                        "BERT), a model quantized once per host on the benchmark's official MLCommons calibration "
                        "list, refused if its accuracy misses the target")
    r.add_argument("--calibration-count", type=int, default=0,
                   help="int8: calibrate on the official list's first N samples (default: all of it: 500 ImageNet "
                        "images, 100 SQuAD features)")
    r.add_argument("--compiler", default="none", choices=["none", "inductor"],
                   help="pytorch: inductor compiles the model with torch.compile once per process, before LoadGen "
                        "starts (on cuda with its CUDA graphs); none (default) runs it as it is")
    r.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    r.add_argument("--threads", type=int, default=0, help="inference threads (default: all cores; at most 1024)")
    r.add_argument("--batch", type=int, default=0, help="batch for Offline/Server (default 8; 64 on cuda; at most "
                                                        "4096)")
    r.add_argument("--round", default=DEFAULT_ROUND, help=ROUND_HELP)
    r.add_argument("--submitter", default="benchfleet", help="organisation name in the tree (no spaces)")
    r.add_argument("--inventory", default="", help="Ansible inventory (default: inventories/local)")
    r.add_argument("--out", default="", help="run directory (default ./runs/<run-id>)")
    r.add_argument("--runs-dir", default="runs", help=argparse.SUPPRESS)
    r.add_argument("--run-id", default="", help=argparse.SUPPRESS)
    r.add_argument("--cache-dir", default="", help="model/dataset cache (default ~/.cache/benchfleet)")
    r.add_argument("--check", action="store_true", help="Ansible check mode: show what would change, run nothing")
    r.add_argument("--accept-new-host-keys", action="store_true", help=ACCEPT_NEW_HOST_KEYS_HELP)
    pw = r.add_argument_group("power (MLPerf power: each performance run measured through MLCommons' power client "
                              "and server; all three of client, server and ntp)")
    pw.add_argument("--power-client", default="", metavar="DIR",
                    help="your mlcommons/power-dev checkout on the hosts (the release the round accepts; benchfleet "
                         "runs it only when its sources are that release's)")
    pw.add_argument("--power-server", default="", metavar="HOST[:PORT]", help="the power server (the director)")
    pw.add_argument("--power-ntp", default="", metavar="ADDR", help="the NTP server the client and server sync with")
    pw.add_argument("--power-analyzer", default="", metavar="FILE",
                    help="a Markdown file describing the analyzer (measurements' analyzer_table.md)")
    pw.add_argument("--power-settings", default="", metavar="FILE",
                    help="a Markdown file with the system's power settings (measurements' power_settings.md)")
    pw.add_argument("--power-source", default="", metavar="DIR|URL",
                    help="deploy MLCommons' power client and server from here: your mlcommons/power-dev checkout "
                         "on the controller, or its git URL (cloned by the controller; hosts need no network); "
                         "pushed to --power-client on the hosts (and the director)")
    pw.add_argument("--power-version", default="", metavar="REF", help="the git commit or tag of a URL source")
    pw.add_argument("--power-director", default="", metavar="HOST",
                    help="the inventory host (localhost too) where benchfleet starts the power server with "
                         "PTDaemon's settings (--power-ptd), and stops it after the run")
    pw.add_argument("--power-ptd", default="", metavar="K=V,...",
                    help="PTDaemon on the director: command=/opt/ptd/ptd-linux-x86,device_type=49,"
                         "device_port=/dev/ttyUSB0 (and interface_flag, network_port, channel, gpib_board)")


def _key_values(text: str, flag: str) -> dict | None:
    """'a=1,b=x' -> {'a': '1', 'b': 'x'} (the sweep file's rules check names and values); '' -> None. A channel's
    comma stays with it (channel=1,2)."""
    if not text:
        return None
    out: dict[str, str] = {}
    last = ""
    for part in text.split(","):
        key, eq, value = part.partition("=")
        if not eq and last == "channel" and part.strip().isdigit():
            out[last] += "," + part.strip()
            continue
        if not eq or not key.strip():
            raise api.UsageError(flag, f"{part!r} is not KEY=VALUE; give e.g. command=/opt/ptd/ptd-linux-x86,"
                                       "device_type=49,device_port=/dev/ttyUSB0")
        last = key.strip()
        out[last] = value.strip()
    return out


def _text_file(path: str, flag: str) -> str:
    if not path:
        return ""
    try:
        return Path(path).expanduser().read_text()[:20_000]
    except OSError as exc:
        raise api.UsageError(flag, f"{path} cannot be read ({exc.strerror}); give a Markdown file") from None


def _run_options(a: argparse.Namespace, tune: bool) -> api.RunOptions:
    return api.RunOptions(
        division=a.division, mode=a.mode, model=a.model, dataset=a.dataset, dataset_count=a.dataset_count,
        synthetic_width=a.synthetic_width, scenarios=_scenarios(a.scenarios), system_type=a.system_type,
        offline=a.offline, benchmark=a.benchmark, backend=a.backend, precision=a.precision, device=a.device,
        calibration_count=a.calibration_count, compiler=a.compiler,
        threads=a.threads, batch=a.batch, round=a.round, submitter=a.submitter, inventory=_path(a.inventory),
        out=_path(a.out), runs_dir=Path(a.runs_dir), run_id=a.run_id, cache_dir=a.cache_dir, check=a.check,
        accept_new_host_keys=a.accept_new_host_keys, tune=tune,
        tune_budget_s=api.seconds(a.tune_budget, "--tune-budget") if tune else 600.0,
        tuned=not getattr(a, "no_tuned", False), power_client=getattr(a, "power_client", ""),
        power_server=getattr(a, "power_server", ""), power_ntp=getattr(a, "power_ntp", ""),
        power_analyzer=_text_file(getattr(a, "power_analyzer", ""), "--power-analyzer"),
        power_settings=_text_file(getattr(a, "power_settings", ""), "--power-settings"),
        power_source=getattr(a, "power_source", ""), power_version=getattr(a, "power_version", ""),
        power_director=getattr(a, "power_director", ""), power_ptd=_key_values(getattr(a, "power_ptd", ""),
                                                                                 "--power-ptd"))


def cmd_run(a: argparse.Namespace) -> int:
    from benchfleet.sweep import report

    res = api.run(_run_options(a, a.tune))
    print(report.run_report(res))
    for line in res.tuning:
        print(line)
    return res.exit_code


def cmd_tune(a: argparse.Namespace) -> int:
    from benchfleet.sweep import report, tuning

    if a.show:
        print(tuning.show(tuning.store_dir()))
        return 0
    res = api.run(_run_options(a, True))
    print(report.run_report(res))
    for line in res.tuning or ["nothing was tuned (see the failures above)"]:
        print(line)
    return res.exit_code


def cmd_sweep(a: argparse.Namespace) -> int:
    from benchfleet.sweep import report

    if a.resume:
        if a.sweep_file:
            raise UsageError("--resume: give the run id alone; the run directory holds its plan")
        res = api.resume(api.ResumeOptions(
            a.resume, inventory=_path(a.inventory), runs_dir=Path(a.runs_dir), forks=a.forks, check=a.check,
            max_cost=a.max_cost, accept_new_host_keys=a.accept_new_host_keys, allow_world_ssh=a.allow_world_ssh))
    else:
        res = api.sweep(api.SweepOptions(
            a.sweep_file, inventory=_path(a.inventory), check=a.check, run_id=a.run_id, new=a.new, tune=a.tune,
            shard=a.shard, runs_dir=Path(a.runs_dir), forks=a.forks, max_cost=a.max_cost,
            accept_new_host_keys=a.accept_new_host_keys, allow_world_ssh=a.allow_world_ssh))
    if isinstance(res, api.PlanResult):
        print(report.plan_report(res.sweep_file, res.plan))
    else:
        print(report.run_report(res))
    return res.exit_code


def cmd_status(a: argparse.Namespace) -> int:
    from benchfleet.sweep import report

    runs = [api.status(r, runs_dir=Path(a.runs_dir), round=a.round or None) for r in a.run_id]
    if a.json:
        docs = [json.loads(report.status_json(res.plan, res.states)) for res in runs]
        print(json.dumps(docs[0] if len(docs) == 1 else docs, indent=2))
        return 0
    print("\n\n".join(report.status_report(res.plan, res.states, res.host_failures) for res in runs))
    if len(runs) > 1:  # the shards of one sweep (or any runs): their cells together
        print("\n" + report.status_totals([(res.plan, res.states) for res in runs]))
    return 0


def cmd_teardown(a: argparse.Namespace) -> int:
    """Delete everything tagged with the run, on every configured cloud (no local state needed)."""
    from benchfleet.sweep import report

    res = api.teardown(a.run_id, providers=_list(a.provider) or None, regions=_list(a.region) or None,
                       runs_dir=Path(a.runs_dir), all_owners=a.all_owners, log=print)
    print(report.teardown_report(res.run_id, res.report))
    return res.exit_code


def cmd_reap(a: argparse.Namespace) -> int:
    """Delete instances of any run past their benchfleet-expires tag (or older than --older-than)."""
    from benchfleet.sweep import report

    older = api.seconds(a.older_than) if a.older_than else None
    grace = api.seconds(a.grace, "--grace") if a.grace else None
    res = api.reap(older_than_s=older, grace_s=grace, dry_run=a.dry_run, all_owners=a.all_owners,
                   providers=_list(a.provider) or None, regions=_list(a.region) or None, log=print)
    print(report.reap_report(res.report, res.dry_run))
    return res.exit_code


def cmd_setup(a: argparse.Namespace) -> int:
    """Run playbooks/setup.yml: NVIDIA (where there is a GPU), venv, wheels/models/data, frameworks, harness."""
    from benchfleet.sweep import report

    res = api.setup(inventory=_path(a.inventory), offline=_path(a.offline), venv=a.venv, limit=_list(a.limit),
                    push_cache=_path(a.push_cache), check=a.check, work=Path(a.work),
                    accept_new_host_keys=a.accept_new_host_keys)
    text = report.setup_report(res.result)
    if text:
        print(text)
    return res.exit_code


def cmd_bundle(a: argparse.Namespace) -> int:
    try:
        api.bundle(Path(a.out))
    except RuntimeError as exc:
        print(f"benchfleet bundle: {exc}", file=sys.stderr)
        return 1
    print(f"next: benchfleet setup --inventory <inventory> --offline {a.out}")
    return 0


def cmd_rounds(a: argparse.Namespace) -> int:
    from benchfleet.sweep import report
    from benchfleet.sweep.schema import IMPLEMENTED_BENCHMARKS

    tables = api.rounds(a.round or None)
    if a.json:
        import dataclasses
        import json

        print(json.dumps([dataclasses.asdict(t) for t in tables], indent=2, default=str))
    else:
        print(report.rounds_report(tables, set(IMPLEMENTED_BENCHMARKS), detail=bool(a.round)), end="")
    return 0


def cmd_check(a: argparse.Namespace) -> int:
    from benchfleet.sweep import report

    res = api.check(Path(a.tree), round=a.round, accuracy_logs=_path(a.accuracy_logs), dataset=_path(a.dataset),
                    allow_quick=a.allow_quick)
    print(report.check_report(res.report, verbose=a.verbose))
    return res.exit_code


def cmd_merge(a: argparse.Namespace) -> int:
    from benchfleet.sweep import report

    res = api.merge([Path(t) for t in a.inputs], Path(a.out), round=a.round, prefer=a.prefer or None,
                    submitter=a.submitter or None, allow_quick=a.allow_quick)
    print(f"merged {res.results} result(s) of {len(res.inputs)} input(s) into {res.out}")
    print(report.check_report(res.report))
    return 0


def cmd_submit(a: argparse.Namespace) -> int:
    res = api.submit(Path(a.tree), round=a.round, to=a.to or None, branch=a.branch or None,
                     archive_dir=Path(a.archive_dir) if a.archive else None, repo_path=a.repo_path or None)
    print(f"submit: {len(res.report.results)} result(s) pass the {a.round} check"
          + (f"; {len(res.inferred)} inferred as the round's preprocessing does" if res.inferred else ""))
    print(res.next_steps)
    return 0


def cmd_export(a: argparse.Namespace) -> int:
    paths = api.export([Path(t) for t in a.trees], Path(a.out), round=a.round, allow_quick=a.allow_quick)
    print("wrote " + " and ".join(str(p) for p in paths))
    return 0


def cmd_report(a: argparse.Namespace) -> int:
    out = api.report([Path(t) for t in a.sources], Path(a.out), compare=[Path(t) for t in a.compare],
                     round=a.round, title=a.title)
    print(f"wrote {out} (one file: open it in a browser, no network needed)")
    return 0


def cmd_board(a: argparse.Namespace) -> int:
    from benchfleet.submission import board

    b = api.board([Path(t) for t in a.trees], round=a.round, allow_quick=a.allow_quick)
    print(json.dumps(b.as_dict(), indent=1) if a.json else board.text(b))
    return 0


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
    _run_arguments(r)
    r.add_argument("--tune", action="store_true",
                   help="tune first: threads and batch per scenario from short runs, the Server target searched; "
                        "the settings are kept in the run's tuning/ and in ~/.benchfleet/tuning (benchfleet tune)")
    r.add_argument("--tune-budget", default="10m", help="time for the short tuning runs per cell (default 10m)")
    r.add_argument("--no-tuned", action="store_true",
                   help="ignore this system's tuning file (by default a run takes the settings it holds)")
    r.set_defaults(func=cmd_run)

    tu = sub.add_parser("tune", help="find this system's best settings per scenario and keep them for later runs",
                        epilog=EPILOG_TUNE, formatter_class=argparse.RawDescriptionHelpFormatter)
    _run_arguments(tu)
    tu.add_argument("--tune-budget", default="10m", help="time for the short tuning runs per cell (default 10m)")
    tu.add_argument("--show", action="store_true", help="print the tuning files and how each setting was found")
    tu.set_defaults(func=cmd_tune)

    sw = sub.add_parser("sweep", help="run a sweep file across a fleet of hosts into one submission tree",
                        epilog=EPILOG_SWEEP, formatter_class=argparse.RawDescriptionHelpFormatter)
    sw.add_argument("sweep_file", nargs="?", default="", help="the sweep file (YAML); see sweeps/example.yml")
    sw.add_argument("--inventory", default="", help="Ansible inventory with the sweep's hosts (default: "
                                                    "inventories/local; on --resume: the run's own)")
    sw.add_argument("--check", action="store_true", help="validate and print the plan (cells, hosts, estimated "
                                                         "time); runs nothing, creates nothing")
    sw.add_argument("--resume", default="", metavar="RUN_ID", help="run only the cells of RUN_ID not done yet")
    sw.add_argument("--run-id", default="", help="name the run: 1-64 letters, digits, '.', '_' or '-', without '..' "
                                                 "(default: <sweep-file>-<hash of the plan and its "
                                                 "owner>, so the same sweep again by the same user continues the "
                                                 "same run)")
    sw.add_argument("--new", action="store_true", help="start a fresh run even if this sweep ran before")
    sw.add_argument("--tune", action="store_true", help="tune each cell first (as `tune: true` in the file); the "
                    "settings go to the run's tuning/ and ~/.benchfleet/tuning")
    sw.add_argument("--shard", default="", metavar="K/N",
                    help="run only the K-th of N shards of the sweep's cells, e.g. 2/5, each shard on its own "
                         "controller into its own run directory; `benchfleet merge` joins their trees. Cells of a "
                         "cloud system are spread by cell id (each shard makes its own instances); an inventory "
                         "host's cells stay in one shard (two controllers never measure on one machine)")
    sw.add_argument("--runs-dir", default="runs", help="where run directories live (default ./runs)")
    sw.add_argument("--forks", type=int, default=0, help="hosts worked on at once (default: all, up to 50)")
    sw.add_argument("--max-cost", type=float, default=None, metavar="USD",
                    help="refuse to start when the cloud cost estimate is above this")
    sw.add_argument("--accept-new-host-keys", action="store_true", help=ACCEPT_NEW_HOST_KEYS_HELP)
    sw.add_argument("--allow-world-ssh", action="store_true",
                    help="let a cloud system's ssh_cidr open port 22 to the world (0.0.0.0/0, ::/0, shorter than "
                         "/8); refused without it")
    sw.set_defaults(func=cmd_sweep)

    td = sub.add_parser("teardown", help="delete every cloud resource a run made (found by its tags)",
                        epilog=EPILOG_TEARDOWN, formatter_class=argparse.RawDescriptionHelpFormatter)
    td.add_argument("run_id", help="the run id (tag benchfleet-run)")
    td.add_argument("--provider", default="", help="comma list of clouds (default: every configured one)")
    td.add_argument("--region", default="", help="comma list of regions to scan (default: all)")
    td.add_argument("--runs-dir", default="runs", help=argparse.SUPPRESS)
    td.add_argument("--all-owners", action="store_true",
                    help="also what other users (benchfleet-owner tag) made under this run id; default: yours only")
    td.set_defaults(func=cmd_teardown)

    rp = sub.add_parser("reap", help="delete your expired benchfleet runs' resources on every configured cloud",
                        epilog=EPILOG_TEARDOWN, formatter_class=argparse.RawDescriptionHelpFormatter)
    rp.add_argument("--older-than", default="", metavar="AGE",
                    help="also instances launched longer ago than this (90m, 6h, 2d); default: past their expiry tag")
    rp.add_argument("--dry-run", action="store_true", help="list what would be deleted; delete nothing")
    rp.add_argument("--all-owners", action="store_true",
                    help="every user's runs (benchfleet-owner tag); default: only yours (user-at-controller)")
    rp.add_argument("--grace", default="", metavar="AGE",
                    help="leave runs launched or prepared within this (default 15m: they may still be provisioning)")
    rp.add_argument("--provider", default="", help="comma list of clouds (default: every configured one)")
    rp.add_argument("--region", default="", help="comma list of regions to scan (default: all)")
    rp.set_defaults(func=cmd_reap)

    stt = sub.add_parser("status", help="per host and cell: pending, running, done or failed, and why")
    stt.add_argument("run_id", nargs="+", help="the run id (a folder in --runs-dir); several (the shards of a sweep, "
                                               "each its own run directory) are reported one after another, with "
                                               "their totals")
    stt.add_argument("--runs-dir", default="runs", help="where run directories live (default ./runs)")
    stt.add_argument("--json", action="store_true", help="machine-readable output")
    stt.add_argument("--round", default="", help=f"the round you expect the run to be of ({', '.join(ROUNDS)}): an "
                                                 "error if it is another")
    stt.set_defaults(func=cmd_status)

    su = sub.add_parser("setup", help="make hosts ready: NVIDIA driver/CUDA, venv, frameworks, harness (idempotent)",
                        epilog=EPILOG_SETUP, formatter_class=argparse.RawDescriptionHelpFormatter)
    su.add_argument("--inventory", default="", help="Ansible inventory (default: inventories/local)")
    su.add_argument("--offline", default="", metavar="WHEELHOUSE",
                    help="push every wheel from this folder (benchfleet bundle) so hosts need no registry")
    su.add_argument("--venv", default="", help="venv path on the hosts (default ~/.benchfleet/venv)")
    su.add_argument("--limit", default="", help="comma list of hosts or groups")
    su.add_argument("--push-cache", default="", metavar="DIR",
                    help="push downloaded models and datasets from this controller cache (e.g. ~/.cache/benchfleet)")
    su.add_argument("--check", action="store_true", help="check mode: report what would change, change nothing")
    su.add_argument("--work", default="runs/setup", help=argparse.SUPPRESS)
    su.add_argument("--accept-new-host-keys", action="store_true", help=ACCEPT_NEW_HOST_KEYS_HELP)
    su.set_defaults(func=cmd_setup)

    bu = sub.add_parser("bundle", help="build the wheelhouse offline mode pushes (benchfleet and its pinned "
                                       "requirements)")
    bu.add_argument("out", help="folder for the wheels")
    bu.set_defaults(func=cmd_bundle)

    c = sub.add_parser("check", help="validate a submission tree against a round's rules")
    c.add_argument("tree", help="folder holding closed/ and/or open/")
    c.add_argument("--round", default=DEFAULT_ROUND, help="the round whose checker this check stands in for: its "
                                                          "benchmarks, targets, seeds, compliance tests and tree "
                                                          f"layout ({', '.join(ROUNDS)}; default {DEFAULT_ROUND})")
    c.add_argument("--accuracy-logs", default="", help="folder with the full accuracy logs (to recompute accuracy)")
    c.add_argument("--dataset", default="", help="dataset folder whose val_map.txt labels the accuracy logs")
    c.add_argument("--allow-quick", action="store_true",
                   help="accept a tree that declares QUICK MODE (short runs become warnings): a pipeline test, "
                        "not a submission")
    c.add_argument("-v", "--verbose", action="store_true", help="also print warnings")
    c.set_defaults(func=cmd_check)
    mg = sub.add_parser("merge", help="one submission tree from many runs and trees (anyone's), checked",
                        epilog=EPILOG_MERGE, formatter_class=argparse.RawDescriptionHelpFormatter)
    mg.add_argument("inputs", nargs="+", help="benchfleet run directories or trees holding closed/ or open/")
    mg.add_argument("--out", required=True, help="the merged tree: a new folder (or an empty one)")
    mg.add_argument("--prefer", choices=["newest", "best"], default="",
                    help="which of two results for the same system, benchmark and scenario to keep: newest (the "
                         "later LoadGen test_datetime) or best (the better metric); default: the merge stops and "
                         "names both")
    mg.add_argument("--submitter", default="", help="put every input under this submitter folder (and in its system "
                                                    "descriptions); default: each keeps its own")
    mg.add_argument("--round", default=DEFAULT_ROUND, help=f"the inputs' round (default {DEFAULT_ROUND})")
    mg.add_argument("--allow-quick", action="store_true",
                    help="merge quick-mode trees too (a practice tree: submit refuses it)")
    mg.set_defaults(func=cmd_merge)
    sm = sub.add_parser("submit", help="check a tree strictly and push it to a submissions repository, or write the "
                                       "upload archive", epilog=EPILOG_SUBMIT,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    sm.add_argument("tree", help="the tree to submit (holding closed/ or open/), or a benchfleet run directory")
    sm.add_argument("--to", default="", metavar="REPOSITORY", help="git URL or path of the submissions repository "
                                                                    "(cloned with your git and SSH set-up)")
    sm.add_argument("--branch", default="", help="the new branch to push (with --to), e.g. mylab-v3.1")
    sm.add_argument("--repo-path", default="", help="folder of the repository that holds closed/ and open/ "
                                                    "(default: found from its layout)")
    sm.add_argument("--archive", action="store_true",
                    help="write mlperf_submission_<submitter>.tar.gz and its .sha1 (the round's upload)")
    sm.add_argument("--archive-dir", default=".", help="where --archive writes (default: this folder)")
    sm.add_argument("--round", default=DEFAULT_ROUND, help=f"the tree's round (default {DEFAULT_ROUND})")
    sm.set_defaults(func=cmd_submit)
    ex = sub.add_parser("export", help="every result of some trees with derived metrics, as JSON and CSV",
                        epilog=EPILOG_EXPORT, formatter_class=argparse.RawDescriptionHelpFormatter)
    ex.add_argument("trees", nargs="+", help="trees holding closed/ or open/, or benchfleet run directories")
    ex.add_argument("--out", default=".", help="folder for results.json and results.csv (default: this folder)")
    ex.add_argument("--round", default=DEFAULT_ROUND, help=f"the trees' round (default {DEFAULT_ROUND})")
    ex.add_argument("--allow-quick", action="store_true", help="read quick-mode trees' results too (marked quick)")
    ex.set_defaults(func=cmd_export)
    rpt = sub.add_parser("report", help="one self-contained HTML page with plots of runs and trees",
                         epilog=EPILOG_REPORT, formatter_class=argparse.RawDescriptionHelpFormatter)
    rpt.add_argument("sources", nargs="+", help="benchfleet run directories or trees holding closed/ or open/")
    rpt.add_argument("--out", default="report.html", help="the page to write (default report.html)")
    rpt.add_argument("--compare", action="append", default=[], metavar="TREE",
                     help="a published tree to show beside yours (grey); repeat for more")
    rpt.add_argument("--title", default="benchfleet results", help="the page's title")
    rpt.add_argument("--round", default=DEFAULT_ROUND, help=f"the round (default {DEFAULT_ROUND})")
    rpt.set_defaults(func=cmd_report)
    bo = sub.add_parser("board", help="points per submitter and system: one per benchmark with valid, complete "
                                      "results on one system",
                        epilog=EPILOG_BOARD, formatter_class=argparse.RawDescriptionHelpFormatter)
    bo.add_argument("trees", nargs="+", help="submission trees (folders holding closed/ or open/) or benchfleet run "
                                             "directories, anyone's")
    bo.add_argument("--round", default=DEFAULT_ROUND,
                    help=f"the round whose rules judge them (default {DEFAULT_ROUND})")
    bo.add_argument("--allow-quick", action="store_true",
                    help="count quick-mode trees too (practice points: a quick tree is not a submission)")
    bo.add_argument("--json", action="store_true", help="the board as JSON (each benchmark with its point or why not)")
    bo.set_defaults(func=cmd_board)
    ro = sub.add_parser("rounds", help="the MLPerf Inference rounds benchfleet knows: benchmarks, rules, what changed",
                        epilog=EPILOG_ROUNDS, formatter_class=argparse.RawDescriptionHelpFormatter)
    ro.add_argument("round", nargs="?", default="", help="one round: a line per benchmark with its rules")
    ro.add_argument("--json", action="store_true", help="the round tables as JSON")
    ro.set_defaults(func=cmd_rounds)
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
    except BenchfleetError as exc:
        # an error may quote names from a tree or a host (merge, submit, board): control characters shown escaped
        print(f"benchfleet: error: {for_terminal(str(exc), multiline=True)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("benchfleet: interrupted; finished results stay in the output folder", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
