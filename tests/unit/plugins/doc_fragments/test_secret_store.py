"""The store option's two doc fragments describe the same suboptions (ansible-test wants literals)."""
from __future__ import annotations

import yaml

from ansible_collections.partnercenter.national_cloud.plugins.doc_fragments.secret_store import ModuleDocFragment
from ansible_collections.partnercenter.national_cloud.plugins.module_utils._remote_stores import STORE_OPTION_SPEC


def test_secret_store_fragment_suboptions_are_the_same_in_both_and_match_the_spec():
    store = yaml.safe_load(ModuleDocFragment.STORE)["options"]["store"]
    webapp = yaml.safe_load(ModuleDocFragment.WEBAPP)["options"]["webapp_secret_store"]
    assert store["suboptions"] == webapp["suboptions"]
    assert set(store["suboptions"]) == set(STORE_OPTION_SPEC)
    for name, spec in STORE_OPTION_SPEC.items():
        doc = store["suboptions"][name]
        assert doc["type"] == spec["type"] and doc.get("default") == spec.get("default")
        assert doc.get("choices") == spec.get("choices") and doc.get("aliases") == spec.get("aliases")
