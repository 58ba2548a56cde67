"""The official calibration sets: the only samples a closed-division quantized model may be calibrated on.

MLCommons publishes, per benchmark, the list of dataset samples calibration may use (``calibration/`` in
mlcommons/inference). benchfleet ships the lists of the benchmarks it quantizes (in each benchmark folder's
``calibration/``, byte for byte with their SHA-256 below) and calibrates on one of them or on a part of one
(the harness spec's ``calibration_list``, ``--calibration-count N``); a list naming any sample outside the official
ones is refused before anything is built, with the samples it named. What was used is recorded (``Calibration.record``)
for the system description and the measurements README.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

SOURCE = "https://github.com/mlcommons/inference/blob/v3.1/calibration/"


class CalibrationError(ValueError):
    """A calibration list or set that may not be used; the message names the samples and the fix."""


@dataclass(frozen=True)
class OfficialList:
    """One published calibration list: its file in the benchmark folder and its SHA-256 as published."""

    task: str  # the benchmark folder (imagenet)
    name: str  # the file name, as in mlcommons/inference
    sha256: str
    origin: str  # its path in mlcommons/inference

    @property
    def path(self) -> Path:
        return Path(__file__).resolve().parent / self.task / "calibration" / self.name

    @property
    def url(self) -> str:
        return SOURCE + self.origin

    def names(self) -> list[str]:
        data = self.path.read_bytes()
        if hashlib.sha256(data).hexdigest() != self.sha256:
            raise CalibrationError(f"{self.path}: not the published {self.origin} (its SHA-256 differs); "
                                   "reinstall benchfleet")
        # a line is a sample name, or a name and its label (ImageNet option 2): the name is the first word
        return [line.split()[0] for line in data.decode().splitlines() if line.strip()]


# "Please only use at most 1 calibration file from this folder for calibration." (calibration/ImageNet/README.md)
OFFICIAL: dict[str, tuple[OfficialList, ...]] = {
    "imagenet": (
        OfficialList("imagenet", "cal_image_list_option_1.txt",
                     "7662247d1d9407d6cb564268f64c5a4a6cf9f1a34fd2e6cdc3b94dcf278b3dc9",
                     "ImageNet/cal_image_list_option_1.txt"),
        OfficialList("imagenet", "cal_image_list_option_2.txt",
                     "11ce810122226ec0ca8c56e47ee356e3c1185f3c6ce8262edb50c3c1d0a9705e",
                     "ImageNet/cal_image_list_option_2.txt"),
    ),
    # indices into the features of dev-v1.1.json (max_seq_length 384, doc_stride 128), as benchfleet's featurizer
    # numbers them; the README's other list (qas ids) is not shipped: "at most 1 calibration file"
    "squad": (
        OfficialList("squad", "bert_calibration_features.txt",
                     "5a4ace54371313359193a661d653731115fc749c6ed92812ada1f74d4b1b708a",
                     "SQuAD-v1.1/bert_calibration_features.txt"),
    ),
}


@dataclass(frozen=True)
class Calibration:
    """The samples a model is calibrated on (in order) and the official list they come from."""

    task: str
    names: tuple[str, ...]
    official: OfficialList
    given: str = ""  # the user's list file, when one was given

    def digest(self) -> str:
        return hashlib.sha256("\n".join(self.names).encode()).hexdigest()

    def record(self) -> dict:
        return {"official_list": self.official.origin, "official_list_url": self.official.url,
                "official_list_sha256": self.official.sha256, "samples": len(self.names),
                "samples_sha256": self.digest(), "given_list": self.given or None}


def tasks() -> list[str]:
    return sorted(OFFICIAL)


def choose(task: str, given: Path | None = None, count: int | None = None) -> Calibration:
    """The calibration set of ``task``: the names of ``given`` (a file, one sample name a line), every one of them
    in a single official list, else the first official list; ``count``: its first ``count`` samples."""
    lists = OFFICIAL.get(task)
    if not lists:
        raise CalibrationError(f"precision: no official calibration list of {task} ships with benchfleet (it has "
                               f"{', '.join(tasks())}); run this benchmark in fp32")
    if given is None:
        official, names = lists[0], lists[0].names()
    else:
        try:
            names = [n.split()[0] for n in Path(given).read_text().splitlines() if n.strip()]
        except (OSError, UnicodeDecodeError) as exc:
            raise CalibrationError(f"calibration_list: {given} cannot be read ({exc}); give a text file with one "
                                   "sample name a line") from None
        if not names:
            raise CalibrationError(f"calibration_list: {given} names no sample")
        if len(set(names)) != len(names):
            seen: set[str] = set()
            twice = next(n for n in names if n in seen or seen.add(n))
            raise CalibrationError(f"calibration_list: {given} names {twice!r} twice; name each sample once")
        best, outside = None, None
        for official in lists:
            listed = set(official.names())
            extra = [n for n in names if n not in listed]
            if not extra:
                best = official
                break
            if outside is None or len(extra) < len(outside):
                outside = extra
        if best is None:
            shown = ", ".join(repr(n[:80]) for n in outside[:5]) + (" ..." if len(outside) > 5 else "")
            raise CalibrationError(
                f"calibration_list: {given} names {len(outside)} sample(s) outside every official {task} calibration "
                f"list ({shown}); the closed division calibrates only on one official list "
                f"({', '.join(o.origin for o in lists)}): remove them, or calibrate on the official list itself")
        official = best
    if count is not None:
        if not 0 < count <= len(names):
            raise CalibrationError(f"calibration_count: {count} is not between 1 and the list's {len(names)} samples")
        names = names[:count]
    return Calibration(task, tuple(names), official, str(given) if given else "")
