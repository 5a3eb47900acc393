"""Package URLs (purl-spec) for every package type, so SBOMs and matchers share one identity."""

from __future__ import annotations

from urllib.parse import quote

from yamori.model import OSInfo, Package, PackageType


def _q(value: str, safe: str = "") -> str:
    return quote(value, safe=safe)


def purl_for(pkg: Package, os_info: OSInfo | None) -> str:
    """The purl of a package; OS packages carry the distro as the namespace and a `distro` qualifier."""
    qualifiers: list[tuple[str, str]] = []
    namespace = ""
    name = pkg.name
    version = pkg.version
    if pkg.type.is_os:
        namespace = os_info.family if os_info else ""
        if pkg.arch:
            qualifiers.append(("arch", pkg.arch))
        epoch = pkg.metadata.get("epoch")
        if pkg.type is PackageType.DEB and ":" in version:
            # dpkg spells the epoch inside the version; purls (as Trivy writes them) carry it
            # as a qualifier for both deb and rpm.
            epoch, version = version.split(":", 1)
        if pkg.type is not PackageType.APK and epoch not in (None, "", 0, "0"):
            qualifiers.append(("epoch", str(epoch)))
        if os_info and os_info.version:
            qualifiers.append(("distro", f"{os_info.family}-{os_info.version}"))
    elif pkg.type is PackageType.PYPI:
        name = name.lower().replace("_", "-")
    elif pkg.type is PackageType.NPM and name.startswith("@") and "/" in name:
        namespace, name = name.split("/", 1)
    elif pkg.type is PackageType.GOLANG and "/" in name:
        namespace, name = name.rsplit("/", 1)
    elif pkg.type is PackageType.MAVEN and ":" in name:
        namespace, name = name.split(":", 1)
    text = f"pkg:{pkg.type.value}/"
    if namespace:
        text += "/".join(_q(part) for part in namespace.split("/")) + "/"
    text += _q(name)
    if version:
        text += "@" + _q(version)
    if qualifiers:
        text += "?" + "&".join(f"{k}={_q(v)}" for k, v in sorted(qualifiers))
    return text
