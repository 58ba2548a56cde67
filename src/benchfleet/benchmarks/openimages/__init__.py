"""Object detection on the MLPerf OpenImages subset (RetinaNet ResNeXt50-32x4d FPN: retinanet)."""
