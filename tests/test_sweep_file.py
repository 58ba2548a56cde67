"""Sweep files: every mistake is refused before anything runs, with the field path and what is allowed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from benchfleet.cli import main
from benchfleet.cloud.fleet import SystemRequest
from benchfleet.sweep import cloud
from benchfleet.sweep.plan import Plan, PlanSystem, expand
from benchfleet.sweep.schema import CloudSpec, SweepError, SweepFile, parse

GOOD = {"submitter": "MyLab", "systems": [{"name": "lab", "hosts": ["all"]}]}


CLOUD = {"provider": "aws", "regions": ["us-east-1"], "instance_type": "m5.large"}


def _with(**kw) -> dict:
    d = yaml.safe_load(yaml.safe_dump(GOOD))
    d.update(kw)
    return d


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_with(benchmarks=["resnet101"]), "benchmarks[0]: 'resnet101' is not a v3.1 benchmark: no round from v3.1 "
                                          "to v6.1 has a benchmark 'resnet101'; benchfleet runs resnet50"),
        (_with(round="v5.1", benchmarks=["gptj-99"]), "benchmarks[0]: 'gptj-99' is not a v5.1 benchmark: gptj-99 was "
                                                      "retired after v5.0"),
        (_with(round="v6.3"), "round: unknown MLPerf round 'v6.3'; known rounds: v3.1, v4.0"),
        (_with(round="v4.0", benchmarks=["resnet50", "llama2-70b-99"]),
         "benchmarks[1]: 'llama2-70b-99' is a v4.0 benchmark that benchfleet does not run yet; choose from resnet50, "
         "retinanet, rnnt, bert-99, bert-99.9, dlrm-v2-99, dlrm-v2-99.9, 3d-unet-99, 3d-unet-99.9, gptj-99, gptj-99.9"),
        (_with(benchmarks=["efficientnet-lite0-tflite"], backends=["tflite"], division="closed"),
         "benchmarks[0]: efficientnet-lite0-tflite is an open-division model; add open to division or use resnet50"),
        (_with(benchmarks=["bert-99"], backends=["tflite"]),  # one combination: the field to change
         "backends: bert-99 has no tflite model; use backend onnxruntime, pytorch or tensorflow"),
        (_with(benchmarks=["bert-99"], backends=["tflite"], devices=["cpu", "cuda"]),
         "benchmarks[0]: bert-99 has no model for backends tflite on cpu, cuda; add backend onnxruntime or pytorch or "
         "tensorflow to backends"),
        (_with(backends=["tensorrt"]), "backends: unknown backend 'tensorrt'"),
        (_with(division="closed", scenarios=["SingleStream", "MultiStream", "Offline", "Server"]),
         "scenarios[3]: Server is not allowed in the closed division for resnet50 on systems[0] ('lab', edge); "
         "allowed: SingleStream, MultiStream, Offline"),
        (_with(division="closed", scenarios=["SingleStream"]),
         "scenarios: the closed division needs SingleStream, MultiStream, Offline for resnet50 on systems[0] "
         "('lab', edge); missing MultiStream, Offline"),
        ({"systems": [{"name": "lab", "hosts": ["all"]}]},
         "submitter: required: your organisation's name as it appears in the submission"),
        (_with(systems=[{"name": "lab", "hsots": ["all"]}]),
         "systems[0].hsots: unknown key; did you mean 'hosts'? allowed here: name, hosts, cloud, system_type"),
        (_with(sytems=[]), "sytems: unknown key; did you mean 'systems'?"),
        (_with(systems=[{"name": "lab", "hosts": ["all"], "overrides": {"thread": 2}}]),
         "systems[0].overrides.thread: unknown key; did you mean 'threads'? allowed here: threads, batch"),
        (_with(devices=["gpu"]), "devices: unknown device 'gpu'; did you mean 'cpu'? allowed: cpu, cuda"),
        (_with(submitter="My Lab"), "submitter: use letters, digits, '.', '_' or '-' (no spaces)"),
        (_with(systems=[{"name": "lab", "hosts": ["all"], "system_type": "laptop"}]),
         "systems[0].system_type: must be one of datacenter, edge"),
        (_with(systems=[{"name": "a", "hosts": ["all"], "description": {"host_memory_config": "x"}}]),
         "systems[0].description: 'host_memory_config' is not a system description key; "
         "did you mean 'host_memory_configuration'?"),
        (_with(round="v9.9"), "round: unknown MLPerf round 'v9.9'; known rounds: v3.1"),
        (_with(systems=[{"name": "a", "hosts": ["all"]}, {"name": "a", "hosts": ["x"]}]),
         "systems[1].name: 'a' is used twice"),
        # cloud systems: bad input is refused before any resource exists
        (_with(systems=[{"name": "a", "hosts": ["h"], "cloud": CLOUD}]),
         "systems[0].hosts: give hosts (inventory) or cloud (instances benchfleet creates), not both"),
        (_with(systems=[{"name": "AWS_1", "cloud": CLOUD}]),
         "systems[0].name: 'AWS_1' names cloud instances: use lowercase letters, digits and '-'"),
        (_with(systems=[{"name": "a", "cloud": {**CLOUD, "provider": "hetzner"}}]),
         "systems[0].cloud.provider: Input should be 'aws', 'azure', 'gcp', 'ovh', 'oci' or 'alibaba'"),
        # OVHcloud: no spot, regions and flavors as its catalog names them
        (_with(systems=[{"name": "a", "cloud": {"provider": "ovh", "regions": ["GRA11"], "instance_type": "b3-8",
                                                "spot": True}}]),
         "systems[0].cloud.spot: OVHcloud Public Cloud has no spot or preemptible instances; remove spot: true"),
        (_with(systems=[{"name": "a", "cloud": {"provider": "ovh", "regions": ["GRA11", "sbg5"],
                                                "instance_type": "b3-8"}}]),
         "systems[0].cloud.regions[1]: 'sbg5' is not an OVHcloud region; regions are named as the project's catalog "
         "lists them, in capitals (GRA11, SBG5, BHS5, DE1, UK1, WAW1, ...); did you mean 'SBG5'?"),
        (_with(systems=[{"name": "a", "cloud": {"provider": "ovh", "regions": "GRA11", "instance_type": "B3 8"}}]),
         "systems[0].cloud.instance_type: 'B3 8' is not an OVHcloud flavor name (b3-8, c3-16, t2-45, l4-90, "
         "h100-380, ...: `openstack flavor list`)"),
        (_with(systems=[{"name": "a", "cloud": {**CLOUD, "ssh_cidr": "everyone"}}]),
         "systems[0].cloud.ssh_cidr: 'everyone' is not an address range; give e.g. 203.0.113.7/32, or auto"),
        (_with(systems=[{"name": "a", "cloud": {"provider": "aws", "region": "us-east-1", "instance_type": "t3"}}]),
         "systems[0].cloud.region: unknown key; did you mean 'regions'?"),
        (_with(systems=[{"name": "a", "cloud": {**CLOUD, "count": 0}}]),
         "systems[0].cloud.count: 0 is out of range; allowed 1 to 64"),
        (_with(systems=[{"name": "a"}]), "systems[0].hosts: required: inventory groups or host names"),
        (_with(systems=[{"name": "a", "cloud": {**CLOUD, "provider": "azure", "expires_h": 30}}]),
         "systems[0].cloud.expires_h: 30 hours; Azure instances expire within 24 hours"),
    ],
)
def test_bad_sweep_file_names_the_field(data, message, tmp_path, capsys):
    f = tmp_path / "bad.yml"
    f.write_text(yaml.safe_dump(data))
    runs = tmp_path / "runs"
    rc = main(["sweep", str(f), "--runs-dir", str(runs)])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert message in err
    assert err.count("\n") == 1, err  # one mistake, one error line
    assert not runs.exists()  # nothing created before the error


def test_hosts_must_exist_in_the_inventory(tmp_path, capsys):
    inv = tmp_path / "inv.yml"
    inv.write_text(yaml.safe_dump({"all": {"children": {"lab": {"hosts": {"n1": {}, "n2": {}}}}}}))
    f = tmp_path / "s.yml"
    f.write_text(yaml.safe_dump(_with(systems=[{"name": "lab", "hosts": ["lab"]}, {"name": "gpu",
                                                                                   "hosts": ["gpu_nodes"]}])))
    assert main(["sweep", str(f), "--inventory", str(inv), "--runs-dir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert "systems[1].hosts[0]: 'gpu_nodes' is neither a group nor a host of" in err
    assert "groups: all, lab, ungrouped; hosts: n1, n2" in err
    with pytest.raises(SweepError, match=r"host 'n1' is already in systems\[0\]"):
        expand(parse(_with(systems=[{"name": "a", "hosts": ["lab"]}, {"name": "b", "hosts": ["n1"]}])), inv)


def test_expansion_gives_stable_cell_ids_and_check_prints_the_plan(tmp_path, capsys):
    inv = tmp_path / "inv.yml"
    inv.write_text(yaml.safe_dump({"all": {"children": {"lab": {"hosts": {"n1": {}, "n2": {}}}}}}))
    data = _with(division=["open", "closed"], systems=[{"name": "lab", "hosts": ["lab"],
                                                        "overrides": {"threads": 1}}],
                 defaults={"threads": 2, "batch": 4})
    plan = expand(parse(data), inv)
    ids = [c.id for c in plan.cells]
    # open: SingleStream (+ inferred Offline); closed edge: SingleStream (+ Offline) and MultiStream
    assert ids == [f"{h}.resnet50.onnxruntime-cpu.{d}" for h in ("n1", "n2")
                   for d in ("open.SingleStream+Offline", "closed.SingleStream+Offline", "closed.MultiStream")]
    assert ids == [c.id for c in expand(parse(data), inv).cells]  # stable
    assert plan.fingerprint() == expand(parse(data), inv).fingerprint()
    spec = plan.cells[0].spec
    assert spec["threads"] == 1 and spec["batch"] == 4  # system override over sweep default
    assert spec["only"] == ["SingleStream", "Offline"]
    f = tmp_path / "s.yml"
    f.write_text(yaml.safe_dump(data))
    runs = tmp_path / "runs"
    assert main(["sweep", str(f), "--inventory", str(inv), "--check", "--runs-dir", str(runs)]) == 0
    out = capsys.readouterr().out
    assert "system lab (edge): n1, n2" in out
    assert "6 cells on 2 hosts; estimated" in out
    assert all(i in out for i in ids)
    assert not runs.exists()  # --check creates nothing


def test_cells_only_for_what_the_registry_runs(tmp_path):
    inv = tmp_path / "inv.yml"
    inv.write_text(yaml.safe_dump({"all": {"hosts": {"n1": {}}}}))
    data = _with(benchmarks=["resnet50", "efficientnet-lite0-tflite", "bert-99"],
                 backends=["onnxruntime", "tflite", "pytorch"], division=["open", "closed"],
                 systems=[{"name": "lab", "hosts": ["all"], "overrides": {"precision": "bf16"}}])
    plan = expand(parse(data), inv)
    combos = sorted({(c.benchmark, c.backend, c.division) for c in plan.cells})
    assert combos == sorted([(b, bk, d) for b in ("bert-99", "resnet50") for bk in ("onnxruntime", "pytorch")
                             for d in ("closed", "open")] + [("efficientnet-lite0-tflite", "tflite", "open")])
    precisions = {(c.backend, c.spec["precision"]) for c in plan.cells}
    assert precisions == {("onnxruntime", "fp32"), ("pytorch", "bf16"), ("tflite", "fp32")}


def test_resume_needs_a_known_run(tmp_path, capsys):
    assert main(["sweep", "--resume", "nope", "--runs-dir", str(tmp_path)]) == 2
    assert "--resume: no run 'nope' in" in capsys.readouterr().err
    assert main(["status", "nope", "--runs-dir", str(tmp_path)]) == 2


def test_example_sweep_is_valid():
    root = Path(__file__).resolve().parents[1]
    assert parse(yaml.safe_load((root / "sweeps" / "example.yml").read_text())).submitter == "MyLab"
    clouds = parse(yaml.safe_load((root / "sweeps" / "clouds.yml").read_text()))
    assert [s.cloud.provider for s in clouds.systems] == ["aws", "azure", "gcp"]
    assert clouds.systems[0].cloud_hosts() == ["aws-c6i-1", "aws-c6i-2"]


def test_cloud_run_id_must_name_cloud_resources(tmp_path, capsys):
    f = tmp_path / "c.yml"
    f.write_text(yaml.safe_dump(_with(systems=[{"name": "a", "cloud": {**CLOUD, "ssh_cidr": "127.0.0.1/32"}}])))
    rc = main(["sweep", str(f), "--run-id", "My_Run", "--runs-dir", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert rc == 2 and "--run-id: run id 'My_Run' cannot name cloud resources" in err, err
    assert not (tmp_path / "runs").exists()


def test_the_plan_is_typed_and_plan_json_keeps_its_shape(tmp_path):
    inv = tmp_path / "inv.yml"
    inv.write_text(yaml.safe_dump({"all": {"hosts": {"n1": {}}}}))
    data = _with(systems=[{"name": "lab", "hosts": ["all"], "description": {"host_storage_type": "NVMe"}},
                          {"name": "aws-a", "cloud": {**CLOUD, "count": 2, "ssh_cidr": "10.0.0.1/32"}}])
    plan = expand(parse(data), inv, "r1")
    assert isinstance(plan.sweep, SweepFile) and plan.submitter == "MyLab"
    assert plan.systems["lab"] == PlanSystem("edge", {"host_storage_type": "NVMe"})
    assert isinstance(plan.cloud_systems()["aws-a"], CloudSpec) and list(plan.cloud_systems()) == ["aws-a"]
    text = plan.to_json()
    d = json.loads(text)  # the file keeps its shape: the sweep as data, systems as mappings
    assert d["sweep"] == parse(data).model_dump(mode="json")
    assert d["systems"]["lab"] == {"system_type": "edge", "description": {"host_storage_type": "NVMe"}}
    assert d["systems"]["aws-a"]["cloud"] == parse(data).systems[1].cloud.model_dump(mode="json")
    back = Plan.from_json(text)
    assert back.to_json() == text and back.sweep == plan.sweep and back.systems == plan.systems
    (req,) = cloud.system_requests(back)
    assert isinstance(req, SystemRequest)
    assert (req.name, req.provider, req.hosts, req.instance_type) == ("aws-a", "aws", ["aws-a-1", "aws-a-2"],
                                                                     "m5.large")
    # a plan written before sweep files had `setup` ran no set-up, and still does not
    old = json.loads(text)
    del old["sweep"]["setup"]
    assert Plan.from_json(json.dumps(old)).sweep.setup == "never"


def test_shards_are_disjoint_complete_and_keep_an_inventory_hosts_cells_together(tmp_path, capsys):
    from benchfleet.sweep.plan import parse_shard, shard_plan

    inv = tmp_path / "inv.yml"
    inv.write_text(yaml.safe_dump({"all": {"children": {"lab": {"hosts": {f"n{i}": {} for i in range(1, 7)}}}}}))
    data = _with(division=["open", "closed"], benchmarks=["resnet50", "bert-99"],
                 systems=[{"name": "lab", "hosts": ["lab"]}, {"name": "aws-c", "cloud": {**CLOUD, "count": 3}}])
    whole = expand(parse(data), inv)
    shards = [shard_plan(expand(parse(data), inv), k, 3) for k in (1, 2, 3)]
    ids = [[c.id for c in s.cells] for s in shards]
    assert sorted(sum(ids, [])) == sorted(c.id for c in whole.cells) and len(set(sum(ids, []))) == len(whole.cells)
    assert all(ids) and [s.shard for s in shards] == ["1/3", "2/3", "3/3"]
    for h in (f"n{i}" for i in range(1, 7)):  # an inventory host is in one shard, with all its cells
        assert sum(1 for s in shards if s.cells_of(h)) == 1
    cloud_host = "aws-c-1"  # a cloud host's cells are spread by cell id: its shards make instances of their own
    assert sum(1 for s in shards if s.cells_of(cloud_host)) > 1
    assert all(s.hosts == whole.hosts for s in shards)  # system ids are those of the whole sweep
    assert ids == [[c.id for c in shard_plan(expand(parse(data), inv), k, 3).cells] for k in (1, 2, 3)]  # stable
    assert Plan.from_json(shards[1].to_json()).shard == "2/3"
    for bad in ("0/3", "4/3", "2of3", "", "1/0"):
        with pytest.raises(ValueError, match="is not K/N"):
            parse_shard(bad)
    f = tmp_path / "s.yml"
    f.write_text(yaml.safe_dump(_with(systems=[{"name": "lab", "hosts": ["lab"]}])))
    runs = tmp_path / "runs"
    assert main(["sweep", str(f), "--inventory", str(inv), "--shard", "4/3", "--runs-dir", str(runs)]) == 2
    assert "--shard: '4/3' is not K/N with 1 <= K <= N" in capsys.readouterr().err
    assert not runs.exists()
