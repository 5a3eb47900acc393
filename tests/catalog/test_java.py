"""Java archive cataloger on Debian's real jars (Maven's lib directory), and a war assembled
in memory from them to exercise nesting."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import pytest
from _realdata import analyze_bytes

from yamori.catalog.java import JavaArchiveCataloger, parse_manifest
from yamori.model import Package
from yamori.scan.applier import apply_layers
from yamori.scan.layer import analyze_tree
from yamori.scan.scanner import finalize

MAVEN_LIB = Path("/usr/share/maven/lib")
JAVA = Path("/usr/share/java")

pytestmark = pytest.mark.skipif(not MAVEN_LIB.is_dir(), reason="Debian maven is not installed")


def _jar(name: str) -> bytes:
    return (JAVA / name).read_bytes()


def _packages(path: str, data: bytes) -> list[Package]:
    result = analyze_bytes(JavaArchiveCataloger(), path, data)
    assert result is not None
    return result.packages


def test_pom_properties() -> None:
    [guava] = _packages("usr/share/java/guava.jar", _jar("guava.jar"))
    assert (guava.name, guava.version) == ("com.google.guava:guava", "31.1-jre")
    assert guava.licenses == ["http://www.apache.org/licenses/LICENSE-2.0.txt"]
    assert guava.metadata["source"] == "pom.properties"


def test_shaded_jar_reports_every_bundled_artifact() -> None:
    got = {
        (p.name, p.version) for p in _packages("x/wagon-http-shaded.jar", _jar("wagon-http-shaded-3.5.3.jar"))
    }
    assert got == {
        ("commons-codec:commons-codec", "1.15"),
        ("org.apache.httpcomponents:httpclient", "4.5.14"),
        ("org.apache.httpcomponents:httpcore", "4.4.16"),
        ("org.apache.maven.wagon:wagon-http-shared", "3.5.3"),
        ("org.apache.maven.wagon:wagon-http", "3.5.3"),
    }


def test_manifest_and_file_name_fallbacks() -> None:
    [guice] = _packages("guice-no-aop-4.2.3.jar", _jar("guice-no-aop-4.2.3.jar"))
    assert (guice.name, guice.version, guice.metadata["source"]) == (
        "com.google.inject:guice-no-aop",
        "4.2.3",
        "manifest",
    )
    [aop] = _packages("aopalliance-1.0.jar", _jar("aopalliance-1.0.jar"))
    assert (aop.name, aop.version, aop.metadata["source"]) == ("aopalliance", "1.0", "filename")


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_nested_archives_in_memory() -> None:
    inner_jar = _zip({"BOOT-INF/lib/slf4j-api.jar": _jar("slf4j-api.jar")})  # two levels deep
    war = _zip(
        {
            "META-INF/MANIFEST.MF": b"Manifest-Version: 1.0\r\n\r\n",
            "WEB-INF/lib/commons-io.jar": _jar("commons-io.jar"),
            "WEB-INF/lib/app-libs.jar": inner_jar,
            "WEB-INF/lib/broken.jar": b"not a zip",
        }
    )
    packages = _packages("srv/app.war", war)
    got = {(p.name, p.version, p.metadata.get("archive_path")) for p in packages}
    assert got == {
        ("commons-io:commons-io", "2.11.0", "WEB-INF/lib/commons-io.jar"),
        ("org.slf4j:slf4j-api", "1.7.32", "WEB-INF/lib/app-libs.jar!/BOOT-INF/lib/slf4j-api.jar"),
    }
    assert all(p.location == "srv/app.war" for p in packages)


def test_scan_of_maven_lib(tmp_path: Path) -> None:
    root = tmp_path / "usr/share/maven/lib"
    root.mkdir(parents=True)
    for jar in MAVEN_LIB.glob("*.jar"):
        # Copied, not linked: the walker does not follow symlinks.
        (root / jar.name).write_bytes(Path(os.path.realpath(jar)).read_bytes())
    cataloger = JavaArchiveCataloger()
    analysis = analyze_tree(tmp_path, [cataloger], where="t")
    assert not analysis.warnings
    _, packages = finalize(apply_layers([analysis]), [cataloger])
    by_name = {p.name: p for p in packages}
    assert by_name["org.apache.maven:maven-core"].version == "3.8.7"
    assert by_name["org.apache.maven:maven-core"].purl == "pkg:maven/org.apache.maven/maven-core@3.8.7"
    # Every jar but one names itself: Debian's aopalliance.jar has no pom.properties, no
    # version in its manifest and none in its (symlinked) file name.
    unnamed = {f"usr/share/maven/lib/{j.name}" for j in MAVEN_LIB.glob("*.jar")} - {
        p.location for p in packages
    }
    assert unnamed == {"usr/share/maven/lib/aopalliance.jar"}


def test_garbage_and_manifest_parsing() -> None:
    with pytest.raises(ValueError):
        _packages("x.jar", b"PK\x03\x04 garbage")
    # A corrupt manifest inside an otherwise valid zip: a short reason, not a zlib error.
    jar = bytearray(_zip({"META-INF/MANIFEST.MF": b"Implementation-Version: 1.0\r\n" * 50}))
    start = jar.index(b"META-INF/MANIFEST.MF") + len("META-INF/MANIFEST.MF")
    jar[start + 2 : start + 12] = b"\xff" * 10
    with pytest.raises(ValueError):
        _packages("y.jar", bytes(jar))
    manifest = parse_manifest(
        "Manifest-Version: 1.0\r\nBundle-Name: a very long\r\n  name\r\n\r\nName: x\r\nFoo: y\r\n"
    )
    assert manifest == {"Manifest-Version": "1.0", "Bundle-Name": "a very long name"}
