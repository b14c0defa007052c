"""Exports: ONNX (verified), torch.fx code, state_dict. Torch is imported by the submodules."""
