"""The retriever's parameters are the settings' fields under the same names, defaults written once in Settings."""

import dataclasses

from fieldmap.settings import Settings
from rag.hipporag import HippoParams


def test_every_parameter_is_the_setting_of_the_same_name():
    names = [field.name for field in dataclasses.fields(HippoParams)]
    assert set(names) <= set(Settings.model_fields)
    assert all(field.default is dataclasses.MISSING for field in dataclasses.fields(HippoParams))  # no second default
    changed = Settings.load(
        env={"FIELDMAP_PPR_NEIGHBOURHOOD_HOPS": "0", "FIELDMAP_RRF_K": "7"}, config_file="/nonexistent.toml"
    )
    params = HippoParams.of(changed)
    assert {name: getattr(params, name) for name in names} == {name: getattr(changed, name) for name in names}
    assert params.ppr_neighbourhood_hops == 0 and params.rrf_k == 7
