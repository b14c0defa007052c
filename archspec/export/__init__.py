"""Exports, each verified before it is written (docs/exports.md): ONNX (options in onnx_options),
safetensors, torch.export, standalone Python, the fx trace, state_dict. Torch is imported by the submodules."""
