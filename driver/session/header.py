"""The recording's header of a session: what ran, against what, and the plan it followed.

Built from the values the session hands it (profile, target, workers, where the load comes
from, its meta and start time), so that it does not depend on the session that writes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import driver
from driver.profile import Profile, describe_plan
from metrics.records import FORMAT_VERSION, Header


def session_header(profile: Profile, *, target: Mapping[str, Any], target_label: str,
                   workers: int, load_source: dict[str, Any], meta: Mapping[str, Any],
                   epoch0: float) -> Header:
    """``load_source`` is the pool's ``describe()``; ``epoch0`` the wall time of elapsed 0."""
    header_meta = {
        "plan": describe_plan(profile),
        "load": asdict(profile.load) | {"workers": workers},
        "ensure": profile.ensure,
        "target_kind": target.get("kind", "http"),
        "load_source": load_source,
        **meta,
    }
    if profile.llm is not None:  # the goodput SLOs, parsed: compare and report read them
        header_meta["llm_slo"] = {
            name: None if value is None else value * 1000 for name, value in
            (("ttft_ms", profile.llm.slo_ttft), ("tpot_ms", profile.llm.slo_tpot))}
    return Header(
        format=FORMAT_VERSION,
        tool_version=driver.__version__,
        started_at=datetime.fromtimestamp(epoch0, UTC).isoformat(),
        t=epoch0,
        target=target_label,
        profile_path=str(profile.path) if profile.path else None,
        profile=profile.sanitized,
        workers=workers,
        meta=header_meta,
    )
