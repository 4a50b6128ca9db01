"""Pictures and video: reading images with Pillow (headers checked before decoding), thumbnails,
video frames with PyAV, and local files resolved and served only from declared media roots.
Import the modules themselves (`workbench.media.images`, `.thumbnails`, `.video`, `.files`)."""

__all__: list[str] = []
