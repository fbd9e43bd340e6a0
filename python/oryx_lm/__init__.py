"""Oryx multi-mixer language models (attention + linear recurrence) for PyTorch and Hugging Face."""
from .configuration_oryx import OryxConfig
from .modeling_oryx import OryxCache, OryxForCausalLM
from . import ops
from .schedule import Schedule, parse_schedule

__all__ = ["OryxConfig", "OryxForCausalLM", "OryxCache", "Schedule", "parse_schedule", "ops"]
