#!/usr/bin/env bash
# The documentation cannot drift from the programs. For each of the four
# commands, with OPTS = every --option named in its --help output:
#  - each of OPTS has its own entry in the command's section of docs/cli.md
#    ("## sluice-NAME" up to the next "## "; an entry is a table row that
#    starts with it) and in docs/man/sluice-NAME.1 (the tag line of a .TP);
#  - every --option mentioned anywhere in that section or man page is one
#    of OPTS.
# So a new option in --help fails this test until both documents describe
# it, and a removed one fails it until both forget it. Every man page must
# also render without a groff warning.
source "$(dirname "$0")/lib.sh"
CLI_MD=$SRC/docs/cli.md
MAN_DIR=$SRC/docs/man
command -v groff >/dev/null || fail "groff is missing (scripts/deps.sh installs groff-base)"
[ -f "$CLI_MD" ] || fail "docs/cli.md is missing"

# Every "--word" in the input, one per line, sorted and unique. A run of
# three dashes ("--- connect") is not an option.
options() { grep -oE -- '(^|[^-])--[a-z0-9][a-z0-9-]*' | sed 's/^[^-]//' | sort -u; }
# The tool's section of docs/cli.md.
cli_section() { awk -v h="## $1" '$0 == h { f = 1; next } /^## / { f = 0 } f' "$CLI_MD"; }
# Man page source without comments, with roff's \- as - and font changes
# (\fB \fI \fR \fP \f(XX \f[X]) removed, so "\fB\-\-pipe\fR" reads "--pipe".
man_text() {
  grep -v '^\.\\"' "$1" | sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' -e 's/\\f([A-Z][A-Z]//g' \
    -e 's/\\f\[[^]]*\]//g'
}

# missing_in NAME-A OPTS-A NAME-B OPTS-B: each option of A must be
# in B; prints what is missing and returns 1 if anything is.
missing_in() {
  local missing
  missing=$(comm -23 "$2" "$4")
  [ -z "$missing" ] && return 0
  echo "  in $1 but not in $3: $(tr '\n' ' ' <<<"$missing")" >&2
  return 1
}

bad=0
for tool in collector:collector/sluice-collector producer:producer/sluice-producer \
  dump:collector/sluice-dump bench:bench/sluice-bench pull:collector/forward/sluice-pull \
  ctl:collector/sluice-ctl; do
  name=sluice-${tool%%:*}
  bin=$BIN/${tool#*:}
  man=$MAN_DIR/$name.1
  if [ "$name" = sluice-pull ] && [ ! -x "$bin" ]; then
    note "sluice-pull not built (no libnats): not checked"; continue
  fi
  note "$name"
  "$bin" --help >"$WORK/$name.help" || fail "$name --help exited non-zero"
  options <"$WORK/$name.help" >"$WORK/$name.help.opts"
  [ "$(wc -l <"$WORK/$name.help.opts")" -ge 3 ] || fail "$name --help names too few options"

  cli_section "$name" >"$WORK/$name.md"
  [ -s "$WORK/$name.md" ] || { echo "  docs/cli.md has no '## $name' section" >&2; bad=1; }
  options <"$WORK/$name.md" >"$WORK/$name.md.opts"
  sed -n 's/^| `\(--[a-z0-9][a-z0-9-]*\).*/\1/p' "$WORK/$name.md" | sort -u >"$WORK/$name.md.entries"

  : >"$WORK/$name.man.opts"
  : >"$WORK/$name.man.entries"
  if [ -f "$man" ]; then
    man_text "$man" | options >"$WORK/$name.man.opts"
    man_text "$man" | awk 'tp { print; tp = 0 } /^\.TP/ { tp = 1 }' |
      sed -n 's/^[^-]*\(--[a-z0-9][a-z0-9-]*\).*/\1/p' | sort -u >"$WORK/$name.man.entries"
    grep -q "^\.TH ${name^^} 1 " "$man" || { echo "  $man: .TH is not '${name^^} 1'" >&2; bad=1; }
    groff -man -Tutf8 -ww -z "$man" >"$WORK/$name.groff" 2>&1 || true
    if [ -s "$WORK/$name.groff" ]; then
      echo "  $man does not render cleanly:" >&2; cat "$WORK/$name.groff" >&2; bad=1
    fi
  else
    echo "  $man is missing" >&2; bad=1
  fi

  missing_in "$name --help" "$WORK/$name.help.opts" "the option table of docs/cli.md ($name)" "$WORK/$name.md.entries" || bad=1
  missing_in "docs/cli.md ($name)" "$WORK/$name.md.opts" "$name --help" "$WORK/$name.help.opts" || bad=1
  missing_in "$name --help" "$WORK/$name.help.opts" "the OPTIONS of docs/man/$name.1" "$WORK/$name.man.entries" || bad=1
  missing_in "docs/man/$name.1" "$WORK/$name.man.opts" "$name --help" "$WORK/$name.help.opts" || bad=1
done
[ "$bad" = 0 ] || fail "the docs do not match the programs' --help (see above)"
echo "ok"
