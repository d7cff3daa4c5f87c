#!/bin/sh
# Regenerates blocklist.txt and blocklist_LICENSE.txt from the npm package
# zxcvbn (MIT licensed). Needs npm, node and tar. Run from any directory.
set -eu
version=4.4.2
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "zxcvbn@$version" >/dev/null && tar xzf "zxcvbn-$version.tgz")
{
	echo "# Common passwords, most common first: the \"passwords\" frequency list of zxcvbn $version"
	echo "# (npm package zxcvbn, lib/frequency_lists.js), Copyright (c) 2012-2016 Dan Wheeler and"
	echo "# Dropbox, Inc., MIT License (see firmware/auth/blocklist_LICENSE.txt). One password a line,"
	echo "# lower case; lines starting with # are comments. Regenerate with firmware/auth/blocklist.sh."
	node -e '
		const f = require(process.argv[1] + "/package/lib/frequency_lists.js");
		const p = Array.isArray(f.passwords) ? f.passwords : f.passwords.split(",");
		process.stdout.write(p.join("\n") + "\n");
	' "$tmp" | tr 'A-Z' 'a-z' | awk 'length($0) > 0 && !seen[$0]++'
} >"$here/blocklist.txt"
cp "$tmp/package/LICENSE.txt" "$here/blocklist_LICENSE.txt"
