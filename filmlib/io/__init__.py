"""Reading and writing clips: video files through PyAV, image sequences through OpenCV (DPX through FFmpeg)."""
