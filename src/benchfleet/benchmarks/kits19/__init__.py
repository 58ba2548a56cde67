"""Medical image segmentation on KiTS19 (3D-UNet: 3d-unet-99, 3d-unet-99.9)."""
