"""plugins/ofx/tools/check_abi.py: it must catch a misspelt constant and accept matching ones.

The official OpenFX headers are not in the repository (CI cannot fetch them), so the check is
exercised against small header files written here in the official spelling style.
"""
import importlib.util
from pathlib import Path

TOOL = Path(__file__).resolve().parents[1] / "plugins" / "ofx" / "tools" / "check_abi.py"


def _tool():
    spec = importlib.util.spec_from_file_location("check_abi", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_reads_strings_and_int_casts(tmp_path):
    header = tmp_path / "a.h"
    header.write_text('#define kOfxStatErrValue ((int) 11)\n#define kOfxPropTime "OfxPropTime"\n')
    assert _tool().read_constants([header]) == {"kOfxStatErrValue": "11", "kOfxPropTime": '"OfxPropTime"'}


def test_flags_a_wrong_value_and_a_missing_name():
    tool = _tool()
    ours = {"kA": '"X"', "kB": "3", "kC": '"Y"'}
    official = {"kA": '"X"', "kB": "4"}
    assert tool.compare(ours, official) == [
        "kB: ours 3, official 4",
        "kC: not defined in the official headers",
    ]


def test_our_header_uses_the_standard_multiple_clip_depths_string():
    consts = _tool().read_constants([TOOL.parents[1] / "src" / "ofx_abi.h"])
    assert consts["kOfxImageEffectPropSupportsMultipleClipDepths"] == '"OfxImageEffectPropMultipleClipDepths"'
