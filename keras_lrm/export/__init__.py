"""SavedModel export with explicit memory state, and streaming generation."""

from keras_lrm.export.generation import generate
from keras_lrm.export.loading import load_model
from keras_lrm.export.saved_model import export_saved_model
from keras_lrm.export.saved_model import read_metadata

__all__ = ["export_saved_model", "generate", "load_model", "read_metadata"]
