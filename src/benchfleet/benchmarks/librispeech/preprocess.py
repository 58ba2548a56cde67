"""Log-mel features as the reference's AudioPreprocessing (pytorch/parts/features.py FilterbankFeatures with
configs/rnnt.toml [input_eval]) computes them for one utterance (batch of one, as pytorch_SUT.py runs it):

- 16 kHz; pre-emphasis 0.97 (``x[0], x[1:] - 0.97 x[:-1]``);
- STFT: n_fft 512, window 320 samples (0.02 s), hop 160 (0.01 s), Hann window (``periodic=False``) zero-padded
  to 512 in the middle, ``center=True`` (reflect padding of 256), power spectrum ``re^2 + im^2``;
- the deterministic dither: ``+ 1e-5 ** 2`` on the power; 80 mel filters (librosa.filters.mel(sr=16000,
  n_fft=512, n_mels=80, fmin=0, fmax=8000): Slaney scale and area normalisation), in float32;
- ``log(x + 1e-20)``; frame splicing 3 (frames t, t+1, t+2 stacked, zeros past the end, every third kept);
- per-feature normalisation over the ``ceil(ceil(n / 160) / 3)`` valid frames (mean, unbiased std + 1e-5),
  then the frames cut to that length.

The result is (frames, 240) float32, the rows the encoder reads (the SUT feeds (frames, 1, 240)).
"""

from __future__ import annotations

import math

import numpy as np

SAMPLE_RATE = 16000
WIN_LENGTH = 320  # int(16000 * 0.02)
HOP_LENGTH = 160  # int(16000 * 0.01)
N_FFT = 512
N_MELS = 80
PREEMPH = 0.97
DITHER = 1e-5
LOG_GUARD = 1e-20
FRAME_SPLICING = 3
NORM_CONSTANT = 1e-5
FEATURES = N_MELS * FRAME_SPLICING  # 240


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney's mel scale (librosa's default, htk=False): linear below 1 kHz, logarithmic above."""
    f = np.asanyarray(f, dtype=np.float64)
    f_sp = 200.0 / 3
    mels = f / f_sp
    min_log_hz, logstep = 1000.0, math.log(6.4) / 27.0
    min_log_mel = min_log_hz / f_sp
    log_t = f >= min_log_hz
    mels = np.where(log_t, min_log_mel + np.log(np.maximum(f, min_log_hz) / min_log_hz) / logstep, mels)
    return mels


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asanyarray(m, dtype=np.float64)
    f_sp = 200.0 / 3
    freqs = f_sp * m
    min_log_hz, logstep = 1000.0, math.log(6.4) / 27.0
    min_log_mel = min_log_hz / f_sp
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), freqs)


def mel_filterbank(sr: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS, fmin: float = 0.0,
                   fmax: float | None = None) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) float32: librosa.filters.mel's defaults (Slaney mel scale, ``norm="slaney"``)."""
    fmax = sr / 2.0 if fmax is None else fmax
    fftfreqs = np.fft.rfftfreq(n=n_fft, d=1.0 / sr)
    mel_f = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fftfreqs)
    weights = np.zeros((n_mels, len(fftfreqs)), dtype=np.float32)
    for i in range(n_mels):
        lower = -ramps[i] / fdiff[i]
        upper = ramps[i + 2] / fdiff[i + 1]
        weights[i] = np.maximum(0, np.minimum(lower, upper))
    enorm = 2.0 / (mel_f[2:n_mels + 2] - mel_f[:n_mels])
    weights *= enorm[:, np.newaxis]
    return weights


_FB: np.ndarray | None = None


def feature_length(num_samples: int) -> int:
    """The reference's get_seq_len: frames after the hop, then after frame splicing (ceil divisions)."""
    frames = (num_samples + HOP_LENGTH - 1) // HOP_LENGTH
    return (frames + FRAME_SPLICING - 1) // FRAME_SPLICING


def features(waveform: np.ndarray) -> np.ndarray:
    """(frames, 240) float32 log-mel features of a 16 kHz float32 waveform.

    Computed with torch in float32, the operations the reference runs in its order: the features' weakest
    mel bins (leakage of the window's side lobes) move by 1e-4 with one unit in the last place of a window
    value or another FFT's rounding, so a float64 or numpy FFT version departs from the reference by that
    much; these agree with it to float32 rounding.
    """
    import torch

    global _FB
    if _FB is None:
        _FB = mel_filterbank()
    x = torch.from_numpy(np.ascontiguousarray(waveform, dtype=np.float32))
    if x.ndim != 1 or x.shape[0] <= N_FFT // 2:
        raise ValueError(f"features: a waveform is a 1-D array of more than {N_FFT // 2} samples")
    seq_len = feature_length(int(x.shape[0]))
    with torch.no_grad():
        x = torch.cat((x[:1], x[1:] - PREEMPH * x[:-1]))[None]
        window = torch.hann_window(WIN_LENGTH, periodic=False, dtype=torch.float32)
        spec = torch.stft(x, n_fft=N_FFT, hop_length=HOP_LENGTH, win_length=WIN_LENGTH, center=True,
                          window=window, return_complex=True)
        power = torch.view_as_real(spec).pow(2).sum(-1) + DITHER ** 2  # (1, 257, frames)
        mel = torch.log(torch.matmul(torch.from_numpy(_FB)[None], power) + LOG_GUARD)  # (1, 80, frames)
        stacked = [mel]
        for n in range(1, FRAME_SPLICING):
            shifted = torch.zeros_like(mel)
            shifted[:, :, :-n] = mel[:, :, n:]
            stacked.append(shifted)
        spliced = torch.cat(stacked, dim=1)[:, :, ::FRAME_SPLICING]  # (1, 240, ceil(frames / 3))
        valid = spliced[0, :, :seq_len]
        mean = valid.mean(dim=1)
        std = valid.std(dim=1) + NORM_CONSTANT
        out = (spliced[0, :, :seq_len] - mean[:, None]) / std[:, None]
    return out.T.contiguous().numpy()


def feature_rows(feats: list[np.ndarray], frames: int | None = None) -> np.ndarray:
    """(N, 1 + frames, 240) float32 samples: row 0 holds the utterance's frame count (in column 0), rows 1..
    its features, zeros after them; ``frames`` defaults to the longest utterance's."""
    frames = max(f.shape[0] for f in feats) if frames is None else frames
    out = np.zeros((len(feats), 1 + frames, FEATURES), dtype=np.float32)
    for k, f in enumerate(feats):
        out[k, 0, 0] = f.shape[0]
        out[k, 1:1 + f.shape[0]] = f
    return out


def split_row(row: np.ndarray) -> np.ndarray:
    """The (frames, 240) features of one sample of ``feature_rows``."""
    n = int(row[0, 0])
    return row[1:1 + n]
