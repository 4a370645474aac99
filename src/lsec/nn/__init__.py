"""Pure ``torch.nn`` modules: tensors in, tensors out; no file I/O, no config objects."""
