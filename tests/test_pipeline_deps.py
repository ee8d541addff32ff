import pytest

from pipeline.base.deps import require


@pytest.mark.parametrize("module,extra", [("no_such_module_xyz", "zh")])
def test_deps_require_names_the_extra(module, extra):
    with pytest.raises(ImportError, match=rf"pip install 'hotline\[{extra}\]'"):
        require(module, extra, "testing")


@pytest.mark.parametrize("module", ["json"])
def test_deps_require_returns_module(module):
    assert require(module, "zh", "testing").__name__ == module
