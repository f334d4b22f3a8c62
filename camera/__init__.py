"""Frame sources, the frame ring and motion detection: the camera side of the loop."""
