#!/usr/bin/env python3
"""The layer rules of DESIGN.md ("Layers"), checked on the real tree.

1. Links: every layer target links only the layers below it. The build
   writes each target's direct link list (LINK_LIBRARIES, PRIVATE ones
   included) to a file at configure time (tests/CMakeLists.txt); this
   compares it with ALLOWED_LINKS.
2. Sources: the installed producer libraries are built from producer/,
   format/ and os/ only: no collector source is in libsluice-producer.
3. Includes: every #include "x.h" in a layer's folder names a header of
   that folder or of a layer it may use (ALLOWED_INCLUDES). The include
   directories already make most wrong includes fail to compile; this
   also catches one that happens to be reachable (err.h is everyone's).

Usage: check_layers.py SOURCE_DIR LINKS_FILE. Exit 0 pass, 1 fail.
"""
import os
import re
import sys

# target -> layer targets it may link directly (system libraries aside).
ALLOWED_LINKS = {
    "sluice_os": set(),
    "sluice_format": {"sluice_os"},
    "sluice_io": {"sluice_os"},
    "sluice_pipeline": {"sluice_os", "sluice_format"},
    "sluice_engine": {"sluice_io", "sluice_pipeline", "sluice_format",
                      "sluice_os"},
    "sluice_dump": {"sluice_format"},
    "sluice_forward": {"sluice_format", "sluice_os"},
    "sluice_producer": {"sluice_format", "sluice_os"},
    "sluice_producer_static": set(),
    "sluice_producer_shared": set(),
    "sluice-producer": {"sluice_producer"},
    "sluice_proc": {"sluice_os"},
}
# Targets that exist only in some builds (sluice_forward: with libnats).
OPTIONAL = {"sluice_forward"}
# Everything that is one of ours; anything else in a link list is a
# system library (Threads::Threads, liburing, ws2_32, ...).
OURS = re.compile(r"^sluice[_-]")

# folder -> folders whose headers it may include.
ALLOWED_INCLUDES = {
    "os": {"os"},
    "format": {"format", "os"},
    "collector/io": {"collector/io", "os"},
    "collector/core": {"collector/core", "os", "format"},
    "collector/engine": {"collector/engine", "collector/io",
                         "collector/core", "format", "os"},
    "collector/dump": {"collector/dump", "format"},
    "collector/forward": {"collector/forward", "format", "os"},
    "producer": {"producer", "format", "os"},
}
# The error codes are the one header every layer shares.
EVERYONE = {"err.h"}


def check_links(links_file, errors):
    seen = set()
    with open(links_file) as f:
        for line in f:
            line = line.strip()
            if not line or ":" not in line:
                continue
            target, _, libs = line.partition(":")
            seen.add(target)
            if target not in ALLOWED_LINKS:
                continue
            for lib in filter(None, libs.split(";")):
                lib = re.sub(r"^\$<LINK_ONLY:(.*)>$", r"\1", lib)
                if OURS.match(lib) and lib not in ALLOWED_LINKS[target]:
                    errors.append(f"link: {target} -> {lib} is not an "
                                  f"allowed edge")
    for target in ALLOWED_LINKS:
        if target not in seen and target not in OPTIONAL:
            errors.append(f"link: {target} missing from {links_file}")
    return seen


def check_sources(links_file, src, errors):
    with open(links_file) as f:
        for line in f:
            target, _, srcs = line.strip().partition(":")
            if not target.endswith("#sources"):
                continue
            for s in filter(None, srcs.split(";")):
                rel = os.path.relpath(os.path.join(src, "producer", s)
                                      if not os.path.isabs(s) else s, src)
                top = rel.split(os.sep)[0]
                if top not in ("producer", "format", "os"):
                    errors.append(f"source: {target[:-8]} is built from "
                                  f"{rel}, outside producer/, format/, os/")


def header_home(src, name):
    homes = []
    for folder in ALLOWED_INCLUDES:
        if os.path.isfile(os.path.join(src, folder, name)):
            homes.append(folder)
    return homes


def check_includes(src, errors):
    inc = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
    for folder, allowed in ALLOWED_INCLUDES.items():
        d = os.path.join(src, folder)
        for name in sorted(os.listdir(d)):
            if not name.endswith((".c", ".h")):
                continue
            with open(os.path.join(d, name), encoding="utf-8") as f:
                for n, line in enumerate(f, 1):
                    m = inc.match(line)
                    if not m:
                        continue
                    h = m.group(1)
                    if h.startswith("sluice/") or h in EVERYONE:
                        continue
                    homes = header_home(src, h)
                    if not homes:
                        errors.append(f"include: {folder}/{name}:{n}: "
                                      f'"{h}" is no layer\'s header')
                    elif not set(homes) & allowed:
                        errors.append(f"include: {folder}/{name}:{n}: "
                                      f'"{h}" is {homes[0]}/, which '
                                      f"{folder}/ may not use")


def main():
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    src, links_file = sys.argv[1], sys.argv[2]
    errors = []
    check_links(links_file, errors)
    check_sources(links_file, src, errors)
    check_includes(src, errors)
    for e in errors:
        print(e)
    print(f"layers: {len(errors)} violation(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
