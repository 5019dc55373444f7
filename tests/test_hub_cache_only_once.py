"""Whether a checkpoint request may read the Hugging Face cache only is decided once per request: the decision
may look the Hub's host up (a DNS query where it resolves), and the not-cached path of a Hub source read it twice
(the download, then the refusal), a load of a pushed repo once per file."""

from __future__ import annotations

import pytest

import stylizing_vit_aug as sva
from stylizing_vit_aug import hub


def test_a_hub_source_not_cached_decides_cache_only_once(offline, monkeypatch):
    asked = []
    real = hub.why_cache_only

    def counted(local_files_only):
        asked.append(local_files_only)
        return real(local_files_only)

    monkeypatch.setattr(hub, "why_cache_only", counted)
    with pytest.raises(hub.CheckpointNotCached, match="someone/absent"):
        sva.StylizeTransform("someone/absent", p=0.01)
    assert len(asked) == 1
    request = hub.CheckpointRequest("someone/absent")
    first, again = request.cache_only, request.cache_only
    assert first is not None and again == first and len(asked) == 2  # a new request decides anew, once
