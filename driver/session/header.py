"""The recording's header of a session: what ran, against what, and the plan it followed."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import driver
from driver.profile import describe_plan
from metrics.records import FORMAT_VERSION, Header

if TYPE_CHECKING:
    from driver.session.runner import Session


def session_header(session: Session) -> Header:
    profile = session.profile
    meta = {
        "plan": describe_plan(profile),
        "load": asdict(profile.load) | {"workers": session.workers},
        "ensure": profile.ensure,
        "target_kind": session.target.get("kind", "http"),
        "load_source": session.pool.describe(),
        **session.meta,
    }
    if profile.llm is not None:  # the goodput SLOs, parsed: compare and report read them
        meta["llm_slo"] = {name: None if value is None else value * 1000 for name, value in
                           (("ttft_ms", profile.llm.slo_ttft), ("tpot_ms", profile.llm.slo_tpot))}
    return Header(
        format=FORMAT_VERSION,
        tool_version=driver.__version__,
        started_at=datetime.fromtimestamp(session.epoch0, UTC).isoformat(),
        t=session.epoch0,
        target=session.target_label,
        profile_path=str(profile.path) if profile.path else None,
        profile=profile.sanitized,
        workers=session.workers,
        meta=meta,
    )
