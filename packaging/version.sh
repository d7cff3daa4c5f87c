#!/bin/sh
# The Debian version of a build from this tree: X.Y.Z from a tag vX.Y.Z on
# HEAD, else 0.0~gitN.gHASH (N commits on main: it grows with every commit,
# so packages upgrade in order), with +dirty for uncommitted changes.
set -eu
cd "$(dirname "$0")/.."
if tag=$(git describe --tags --exact-match --match 'v[0-9]*' 2>/dev/null); then
	v=${tag#v}
else
	v="0.0~git$(git rev-list --count HEAD).g$(git rev-parse --short=7 HEAD)"
fi
# Only tracked files count, as in git describe --dirty.
if ! git diff --quiet HEAD -- 2>/dev/null; then
	v="$v+dirty"
fi
echo "$v"
