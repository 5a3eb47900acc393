"""Ruby catalogers: Debian's real installed gemspecs (ruby, rake), and a Gemfile.lock in the
documented Bundler format."""

from __future__ import annotations

from pathlib import Path

import pytest
from _realdata import analyze_bytes

from yamori.catalog.ruby import GemfileLockCataloger, GemspecCataloger, parse_gemspec
from yamori.scan.applier import apply_layers
from yamori.scan.layer import analyze_tree
from yamori.scan.scanner import finalize

GEMS = Path("/usr/lib/ruby/gems/3.1.0/specifications")
RAKE = Path("/usr/share/rubygems-integration/all/specifications/rake-13.0.6.gemspec")
FIXTURES = Path(__file__).parent / "fixtures" / "ruby"


@pytest.mark.skipif(not RAKE.exists(), reason="Debian rake is not installed")
def test_rake_gemspec() -> None:
    result = analyze_bytes(GemspecCataloger(), str(RAKE).lstrip("/"), RAKE.read_bytes())
    assert result is not None
    [rake] = result.packages
    assert (rake.name, rake.version, rake.licenses) == ("rake", "13.0.6", ["MIT"])
    assert rake.files == ["/usr/share/rubygems-integration/all/gems/rake-13.0.6/exe/rake"]


@pytest.mark.skipif(not GEMS.is_dir(), reason="Debian ruby is not installed")
def test_ruby_bundled_and_default_gems() -> None:
    cataloger = GemspecCataloger()
    analysis = analyze_tree(Path("/usr/lib/ruby/gems"), [cataloger], where="t")
    assert not analysis.warnings
    _, packages = finalize(apply_layers([analysis]), [cataloger])
    expected = len(list(GEMS.glob("*.gemspec"))) + len(list((GEMS / "default").glob("*.gemspec")))
    assert len(packages) == expected
    by_name = {p.name: p for p in packages}
    assert by_name["minitest"].version == "5.15.0"
    assert by_name["minitest"].licenses == ["MIT"]
    # Paths are relative to the scanned root (here /usr/lib/ruby/gems).
    assert "/3.1.0/gems/minitest-5.15.0/README.rdoc" in by_name["minitest"].files
    assert by_name["json"].version == "2.6.1"  # a default gem
    assert by_name["json"].purl == "pkg:gem/json@2.6.1"
    for pkg in packages:
        stem = Path(pkg.location).name.removesuffix(".gemspec")
        assert stem.startswith(f"{pkg.name}-{pkg.version}"), (stem, pkg.name, pkg.version)


def test_gemspec_variants_are_never_executed() -> None:
    text = (
        "Gem::Specification.new do |spec|\n"
        "  spec.name = 'evil'\n"
        "  spec.version = Gem::Version.new('1.2.3')\n"
        "  spec.license = 'Apache-2.0'\n"
        "  system('touch /tmp/pwned')\n"
        "end\n"
    )
    pkg = parse_gemspec(text, "specifications/evil-1.2.3.gemspec")
    assert pkg is not None
    assert (pkg.name, pkg.version, pkg.licenses) == ("evil", "1.2.3", ["Apache-2.0"])
    assert parse_gemspec("nothing here", "specifications/x.gemspec") is None
    cataloger = GemspecCataloger()
    assert cataloger.wants("var/lib/gems/3.1.0/specifications/x-1.gemspec", 0o644)
    assert not cataloger.wants("src/x/x.gemspec", 0o644)


def test_gemfile_lock() -> None:
    result = analyze_bytes(
        GemfileLockCataloger(), "app/Gemfile.lock", (FIXTURES / "Gemfile.lock").read_bytes()
    )
    assert result is not None
    got = {p.name: p for p in result.packages}
    assert {n: p.version for n, p in got.items()} == {
        "rack": "2.2.8",
        "rack-test": "2.1.0",
        "nokogiri": "1.15.4",
        "racc": "1.7.1",
        "mini_portile2": "2.8.4",
        "mygem": "0.1.0",
        "sinatra": "3.1.0",
    }
    assert got["nokogiri"].metadata["platforms"] == ["ruby", "x86_64-linux"]
    assert got["mygem"].metadata["source"] == "path"
    assert got["sinatra"].metadata["source"] == "git"
    assert GemfileLockCataloger.scopes == frozenset({"fs"})
