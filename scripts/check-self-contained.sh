#!/usr/bin/env bash
# Fails if any tracked file refers to the reference folder beside the repository (`..` + `/shared`):
# the build, tests, benchmarks and dev server must run from a plain clone with nothing beside it.
# The pattern is assembled at run time so this script does not match itself.
set -uo pipefail
cd "$(dirname "$0")/.."
dotdot='\.\.'
name='shared'
# A parent-relative path to that folder (either slash), and path joins of '..' then its name.
pattern="${dotdot}[/\\\\]${name}([/\\\\\"'\`]|\$)|['\"]${dotdot}['\"] *, *['\"]${name}['\"]"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  files() { git ls-files -z; }
else
  files() { find . -path ./node_modules -prune -o -path ./target -prune -o -path ./.git -prune -o -type f -print0; }
fi
hits=$(files | xargs -0 grep -nIE "$pattern" -- 2>/dev/null || true)
if [ -n "$hits" ]; then
  echo "self-contained check FAILED: these lines refer to a folder outside the repository:"
  echo "$hits"
  exit 1
fi
echo "self-contained check: no tracked file refers to a folder outside the repository"
