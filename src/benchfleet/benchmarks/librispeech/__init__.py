"""Speech recognition on LibriSpeech dev-clean (RNN-T: rnnt)."""
