"""A PEP 517 build backend in the standard library alone, so that
``pip install ./python`` works on a machine without network: pip's build
isolation then has nothing to download (pyproject.toml requires nothing),
where setuptools would need itself and ``wheel`` fetched from an index.

It builds one pure-Python wheel (and an sdist) of the ``sluice`` package
from the metadata in pyproject.toml, read with tomllib when there is one
(Python 3.11) and otherwise with the few lines below that understand the
simple keys this project uses.
"""
import base64
import hashlib
import io
import os
import re
import tarfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = "sluice"


def _project():
    text = open(os.path.join(ROOT, "pyproject.toml"), encoding="utf-8").read()
    try:
        import tomllib
        return tomllib.loads(text)["project"]
    except ImportError:
        pass
    proj, section = {}, None
    for line in text.splitlines():
        line = line.strip()
        m = re.match(r"^\[(.+)\]$", line)
        if m:
            section = m.group(1)
            continue
        m = re.match(r'^([A-Za-z_-]+)\s*=\s*"(.*)"$', line)
        if m and section == "project":
            proj[m.group(1)] = m.group(2)
        elif m and section == "project.scripts":
            proj.setdefault("scripts", {})[m.group(1)] = m.group(2)
    return proj


def _names():
    p = _project()
    return p, re.sub(r"[-_.]+", "_", p["name"]), p["version"]


def _metadata(p):
    lines = ["Metadata-Version: 2.1", "Name: " + p["name"],
             "Version: " + p["version"], "Summary: " + p.get("description", ""),
             "Requires-Python: " + p.get("requires-python", ">=3")]
    for extra, reqs in p.get("optional-dependencies", {}).items():
        lines.append("Provides-Extra: " + extra)
        for r in reqs:
            lines.append('Requires-Dist: %s; extra == "%s"' % (r, extra))
    readme = os.path.join(ROOT, "README.md")
    body = open(readme, encoding="utf-8").read() if os.path.exists(readme) else ""
    lines.append("Description-Content-Type: text/markdown")
    return "\n".join(lines) + "\n\n" + body


def _files():
    out = []
    for name in sorted(os.listdir(os.path.join(ROOT, PACKAGE))):
        if name.endswith(".py"):
            out.append(PACKAGE + "/" + name)
    return out


def _digest(data):
    h = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + h.decode()


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def _dist_info(p, dist, version):
    di = "%s-%s.dist-info" % (dist, version)
    files = {di + "/METADATA": _metadata(p).encode(),
             di + "/WHEEL": b"Wheel-Version: 1.0\nGenerator: sluice_build\n"
                            b"Root-Is-Purelib: true\nTag: py3-none-any\n",
             di + "/top_level.txt": (PACKAGE + "\n").encode()}
    scripts = p.get("scripts", {})
    if scripts:
        files[di + "/entry_points.txt"] = ("[console_scripts]\n" + "".join(
            "%s = %s\n" % kv for kv in scripts.items())).encode()
    return di, files


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    p, dist, version = _names()
    di, files = _dist_info(p, dist, version)
    for name, data in files.items():
        path = os.path.join(metadata_directory, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
    return di


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    p, dist, version = _names()
    di, files = _dist_info(p, dist, version)
    for rel in _files():
        files[rel] = open(os.path.join(ROOT, rel), "rb").read()
    record = "".join("%s,%s,%d\n" % (n, _digest(d), len(d))
                     for n, d in sorted(files.items()))
    record += di + "/RECORD,,\n"
    name = "%s-%s-py3-none-any.whl" % (dist, version)
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w",
                         zipfile.ZIP_DEFLATED) as z:
        for n, d in sorted(files.items()):
            z.writestr(n, d)
        z.writestr(di + "/RECORD", record)
    return name


def build_sdist(sdist_directory, config_settings=None):
    p, dist, version = _names()
    base = "%s-%s" % (dist, version)
    name = base + ".tar.gz"
    rels = ["pyproject.toml", "README.md", "_build/sluice_build.py"] + _files()
    with tarfile.open(os.path.join(sdist_directory, name), "w:gz") as t:
        for rel in rels:
            if os.path.exists(os.path.join(ROOT, rel)):
                t.add(os.path.join(ROOT, rel), arcname=base + "/" + rel)
        info = _metadata(p).encode()
        ti = tarfile.TarInfo(base + "/PKG-INFO")
        ti.size = len(info)
        t.addfile(ti, io.BytesIO(info))
    return name
