"""Load profiles: YAML (Artillery's script subset plus loadwatch sections) read with line
numbers, checked field by field, turned into a ``Profile``; LLM prompts and request bodies.
May import ``driver.schedule`` and ``metrics``.
"""

from driver.profile.model import (
    EngineOptions,
    LoadOptions,
    Profile,
    ProfileError,
    RenderedRequest,
    SageMakerOptions,
    SandboxOptions,
    ScalingOptions,
)
from driver.profile.options import describe_llm, llm_length_warnings
from driver.profile.parse import describe_plan, load_profile, parse_profile, sanitize
from driver.profile.prompts import (
    LengthDistribution,
    Prompt,
    PromptSource,
    SyntheticPrompts,
    load_prompts,
    request_body,
)

__all__ = [
    "EngineOptions",
    "LengthDistribution",
    "LoadOptions",
    "Profile",
    "ProfileError",
    "Prompt",
    "PromptSource",
    "RenderedRequest",
    "SageMakerOptions",
    "SandboxOptions",
    "ScalingOptions",
    "SyntheticPrompts",
    "describe_llm",
    "describe_plan",
    "llm_length_warnings",
    "load_profile",
    "load_prompts",
    "parse_profile",
    "request_body",
    "sanitize",
]
