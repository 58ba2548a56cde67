"""MLPerf Inference v3.1 (checker tag v3.1, ce189bda; contract §2-4).

The baseline round: every later round is ``derive(...)`` of the one before (v4_0.py ... v6_1.py).
"""

from __future__ import annotations

from benchfleet.rules.table import BenchmarkRule, RoundRules, Seeds

_EDGE_ALL = ("SingleStream", "MultiStream", "Offline")
_DC = ("Server", "Offline")

_RESNET_LIKE = {
    "datacenter": _DC, "edge": _EDGE_ALL, "datacenter,edge": ("SingleStream", "MultiStream", "Offline", "Server"),
}
_SS_OFF = {
    "datacenter": _DC, "edge": ("SingleStream", "Offline"), "datacenter,edge": ("SingleStream", "Offline", "Server"),
}
_DC_ONLY = {"datacenter": _DC, "datacenter,edge": ("Offline", "Server")}
_GPT3 = {"datacenter": _DC, "datacenter,edge": _DC}
_UNET = {
    "datacenter": ("Offline",), "edge": ("SingleStream", "Offline"), "datacenter,edge": ("SingleStream", "Offline"),
}

_ALL_TESTS = ("TEST01", "TEST04", "TEST05")
_NO_TEST04 = ("TEST01", "TEST05")

_ACC = r"^accuracy=([\d\.]+).*"
_F1 = r"^{[\"\']exact_match[\"\']\:\s*[\d\.]+,\s*[\"\']f1[\"\']\:\s*([\d\.]+)}"


_GPTJ_KEY = r".*'{}':\s([\d.]+).*"


def _gptj_extra(fraction: float) -> tuple[tuple[str, str, float], ...]:
    return (("ROUGE2", _GPTJ_KEY.format("rouge2"), 20.1235 * fraction),
            ("ROUGEL", _GPTJ_KEY.format("rougeL"), 29.9881 * fraction),
            ("GEN_LEN", _GPTJ_KEY.format("gen_len"), 4016878 * 0.9))


def _rule(name, model, metric, pattern, target, psc, scen, tests, server_ns=None, sampling=4096, eq=(), extra=()):
    return BenchmarkRule(name, model, metric, pattern, target, psc, scen, tests, server_ns, sampling, eq, extra)


V3_1 = RoundRules(
    version="v3.1",
    seeds=Seeds(148687905518835231, 520418551913322573, 811580660758947900),
    test05_seeds=Seeds(793197339507417767, 255610748586851044, 352213341366340113),
    benchmarks={
        "resnet50": _rule("resnet50", "resnet50", "acc", _ACC, 76.46 * 0.99, 1024, _RESNET_LIKE, _ALL_TESTS,
                          15_000_000),
        "retinanet": _rule("retinanet", "retinanet", "mAP", r"^mAP=([\d\.]+).*", 37.55 * 0.99, 64,
                           _RESNET_LIKE, _NO_TEST04, 100_000_000, sampling=256),
        "rnnt": _rule("rnnt", "rnnt", "WER", r"Word Error Rate\:.*, accuracy=([0-9\.]+)%", (100 - 7.452) * 0.99,
                      2513, _SS_OFF, _NO_TEST04, 1_000_000_000),
        "bert-99": _rule("bert-99", "bert", "F1", _F1, 90.874 * 0.99, 10833, _SS_OFF, _NO_TEST04, 130_000_000),
        "bert-99.9": _rule("bert-99.9", "bert", "F1", _F1, 90.874 * 0.999, 10833, _DC_ONLY, _NO_TEST04, 130_000_000),
        "dlrm-v2-99": _rule("dlrm-v2-99", "dlrm-v2", "AUC", r"^AUC=([\d\.]+).*", 80.31 * 0.99, 204800, _DC_ONLY,
                            _NO_TEST04, 60_000_000),
        "dlrm-v2-99.9": _rule("dlrm-v2-99.9", "dlrm-v2", "AUC", r"^AUC=([\d\.]+).*", 80.31 * 0.999, 204800,
                              _DC_ONLY, _NO_TEST04, 60_000_000),
        "3d-unet-99": _rule("3d-unet-99", "3d-unet", "DICE", r"Accuracy\:\s*mean\s*=\s*([\d\.]+).*", 0.86170 * 0.99,
                            43, _UNET, _NO_TEST04, sampling=64, eq=("SingleStream", "Offline")),
        "3d-unet-99.9": _rule("3d-unet-99.9", "3d-unet", "DICE", r"Accuracy\:\s*mean\s*=\s*([\d\.]+).*",
                              0.86170 * 0.999, 43, _UNET, _NO_TEST04, sampling=64, eq=("SingleStream", "Offline")),
        "gptj-99": _rule("gptj-99", "gptj", "ROUGE1", _GPTJ_KEY.format("rouge1"), 42.9865 * 0.99, 13368, _SS_OFF, (),
                         20_000_000_000, eq=("SingleStream",), extra=_gptj_extra(0.99)),
        "gptj-99.9": _rule("gptj-99.9", "gptj", "ROUGE1", _GPTJ_KEY.format("rouge1"), 42.9865 * 0.999, 13368,
                           _SS_OFF, (), 20_000_000_000, eq=("SingleStream",), extra=_gptj_extra(0.999)),
        # gpt3 was listed by the v3.1 checker (targets copied from GPT-J, marked TODO there) but never adopted.
        # mlperf.conf of v3.1 has no gpt3 line: its .conf name "gpt3" is UNCONFIRMED.
        "gpt3-99": _rule("gpt3-99", "gpt3", "ROUGE1", _GPTJ_KEY.format("rouge1"), 42.9865 * 0.99, 13368, _GPT3, (),
                         20_000_000_000, extra=_gptj_extra(0.99)),
        "gpt3-99.9": _rule("gpt3-99.9", "gpt3", "ROUGE1", _GPTJ_KEY.format("rouge1"), 42.9865 * 0.999, 13368, _GPT3,
                           (), 20_000_000_000, extra=_gptj_extra(0.999)),
    },
    # resnet50 is the results folder; "resnet" is the checker's key. The v3.1 checker's other folder-name aliases
    # (mobilenet, ssd-resnet34, ssd_* ...) are left out: checker_model() returns the first alias of a benchmark.
    aliases={"resnet": "resnet50"},
    # the checker's guess for an unmapped open folder (SSD-family names first: they contain "mobilenet" or
    # "resnet50" but name models this round has no benchmark for)
    name_guesses=(
        (("ssdlite", "ssd-inception", "yolo", "ssd-mobilenet", "ssd-resnet50"), None),
        (("mobilenet", "efficientnet", "resnet50"), "resnet50"),
        (("rcnn",), None),
        (("bert-99.9",), "bert-99.9"),
        (("bert-99",), "bert-99"),
    ),
    source="checker tag v3.1 (ce189bda), mlperf.conf of the tag",
    changes=(),
)
