"""LibriSpeech dev-clean as the reference reads it: ``dev-clean-wav.json`` (the manifest that the reference's
convert_librispeech.py writes beside the 16 kHz wav files that sox made of the flac files) and its Manifest
(parts/manifest.py) with ``max_duration=15.0`` and transcript normalization, which QSL.py and accuracy_eval.py
both use, so that LoadGen's sample index is the index into the filtered list.

The manifest is a JSON list of ``{"files": [{"fname": "dev-clean-wav/<spk>/<ch>/<id>.wav", "speed": 1,
"duration": ..., ...}], "original_duration": s, "original_num_samples": n, "transcript": "..."}``; ``fname`` is
relative to the dataset folder.
"""

from __future__ import annotations

import json
import re
import string
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MANIFEST = "dev-clean-wav.json"
SAMPLE_RATE = 16000
MAX_DURATION = 15.0  # QSL.py and accuracy_eval.py: Manifest(..., max_duration=15.0)
# configs/rnnt.toml [labels]: 28 symbols; the model's 29th (index 28) is the blank
LABELS = (" ", "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "q", "r", "s", "t",
          "u", "v", "w", "x", "y", "z", "'")
BLANK = len(LABELS)


@dataclass(frozen=True)
class Utterance:
    wav: Path  # the speed-1 file
    duration: float
    transcript: str  # normalized, as the label ids the reference's Manifest keeps, turned back into text


def load_manifest(data_dir: str | Path, manifest: str = MANIFEST) -> list[Utterance]:
    """The utterances the reference's Manifest keeps, in its order (``normalize=True``, ``max_duration=15.0``,
    no minimum duration, the files of speed 1)."""
    data_dir = Path(data_dir)
    out: list[Utterance] = []
    for data in json.loads((data_dir / manifest).read_text(encoding="utf-8")):
        duration = data["original_duration"]
        if duration > MAX_DURATION:
            continue
        text = normalize_transcript(data["transcript"])
        if text is None:
            continue
        files = [f for f in data["files"] if f["speed"] == 1]
        out.append(Utterance(data_dir / files[0]["fname"], duration, text))
    return out


def read_wav(path: str | Path) -> np.ndarray:
    """Float32 samples as the reference's AudioSegment.from_file reads them (soundfile, float32, mono by
    averaging channels); the reference resamples with librosa only when the rate is not 16 kHz, which the
    converted dataset never needs, so another rate is refused here."""
    import soundfile

    with soundfile.SoundFile(str(path), "r") as f:
        rate = f.samplerate
        samples = f.read(dtype="float32")
    if rate != SAMPLE_RATE:
        raise ValueError(f"dataset: {path} is sampled at {rate} Hz; the reference's dataset is converted to "
                         f"{SAMPLE_RATE} Hz by convert_librispeech.py")
    if samples.ndim >= 2:
        samples = np.mean(samples, 1)
    return samples.astype(np.float32, copy=False)


# --- transcript normalization: parts/manifest.py normalize_string with english_cleaners (parts/text) ----------

_LABEL_SET = set(LABELS)
# string.punctuation without "+" and "&" and without the labels' own "'", each turned into a space
_PUNCT = "".join(c for c in string.punctuation if c not in "+&" and c not in _LABEL_SET)
_PUNCT_TABLE = str.maketrans(_PUNCT, " " * len(_PUNCT))
_WHITESPACE = re.compile(r"\s+")
_ABBREVIATIONS = [(re.compile(rf"\b{a}\.", re.IGNORECASE), full) for a, full in (
    ("mrs", "misess"), ("mr", "mister"), ("dr", "doctor"), ("st", "saint"), ("co", "company"), ("jr", "junior"),
    ("maj", "major"), ("gen", "general"), ("drs", "doctors"), ("rev", "reverend"), ("lt", "lieutenant"),
    ("hon", "honorable"), ("sgt", "sergeant"), ("capt", "captain"), ("esq", "esquire"), ("ltd", "limited"),
    ("col", "colonel"), ("ft", "fort"))]


def normalize_transcript(text: str) -> str | None:
    """english_cleaners (ASCII transliteration, lower case, numbers and abbreviations spelled out, punctuation
    to spaces, "&" -> " and ", "+" -> " plus ", whitespace collapsed), stripped, then every character outside the
    labels dropped; None where the reference's normalization fails (it drops the utterance)."""
    # the libraries are imported where needed (LibriSpeech's transcripts need neither), outside the try: a missing
    # one is an error, never a dropped utterance
    normalize_numbers = None
    if not text.isascii():
        from unidecode import unidecode

        text = unidecode(text)  # ASCII transliteration comes first: "½" turns into digits
    if any(c.isdigit() for c in text):
        from benchfleet.benchmarks.librispeech.numbers import normalize_numbers, require_inflect

        require_inflect()
    try:
        text = text.lower()
        if normalize_numbers is not None:
            text = normalize_numbers(text)
        for regex, full in _ABBREVIATIONS:
            text = regex.sub(full, text)
        text = text.translate(_PUNCT_TABLE)
        text = text.replace("&", " and ").replace("+", " plus ")
        text = _WHITESPACE.sub(" ", text).strip()
    except Exception:  # noqa: BLE001 - the reference catches everything and drops the utterance
        return None
    return "".join(c for c in text if c in _LABEL_SET)


def transcript_ids(text: str) -> list[int]:
    """Label ids of a normalized transcript (the reference's parse_transcript; unknown characters dropped)."""
    index = {c: i for i, c in enumerate(LABELS)}
    return [index[c] for c in text if c in index]


def ids_to_text(ids) -> str:
    """The reference's __rnnt_decoder_predictions_tensor: label ids joined as characters (the blank has none)."""
    out = []
    for i in ids:
        if not 0 <= int(i) < len(LABELS):
            raise ValueError(f"response: label id {int(i)} is not one of the {len(LABELS)} characters")
        out.append(LABELS[int(i)])
    return "".join(out)
