"""Image classification on ImageNet 2012 val (ResNet50; open: MobileNet, EfficientNet-Lite)."""
