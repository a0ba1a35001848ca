"""Medical-imaging renderers: digital phantoms, X-ray, CT, MRI, ultrasound, PET and SPECT.

Entry point: `micro.core.imaging.render.render_imaging_request`."""
