"""MICRO: a physics-based virtual microscope and medical-imaging simulator for teaching."""

from micro.core.render import render, render_imaging, render_microscope
from micro.core.result import RenderResult

__all__ = ["RenderResult", "render", "render_imaging", "render_microscope"]
