"""Recommendation: DLRM-DCNv2 on the multi-hot Criteo 1TB day 23 (dlrm-v2-99, dlrm-v2-99.9)."""
