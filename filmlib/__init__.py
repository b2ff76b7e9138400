"""Film restoration library: lazy clips, a chunk cache, video I/O and restoration stages.

This package knows nothing of ComfyUI; the node classes in ``nodes/`` are thin wrappers around it.
"""
