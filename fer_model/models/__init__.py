"""The networks: FERNet and its variants (one plan of layers), the ONNX graph over the folder's weights, the onnxruntime network, export and Grad-CAM."""
