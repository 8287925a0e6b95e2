#!/usr/bin/env bash
# Install the upstream binaries of docker/artifacts.lock for one architecture, verified by sha256.
# Usage: install-artifacts.sh SOURCE ARCH LOCK OUT_DIR
#   SOURCE upstream: download each url (https only);  vendor: take /vendor/<name>-<version>-linux-<arch>
# A file is accepted only if it matches the binary checksum, or the archive checksum (then the
# extracted member must match the binary checksum where the lock has one). Same rules as
# ciab/artifacts.py, so `invoke vendor` and this script agree on every file.
set -Eeuo pipefail

source=$1 arch=$2 lock=$3 out=$4
vendor_dir=${VENDOR_DIR:-/vendor}

die() {
	echo "install-artifacts: error: $*" >&2
	exit 1
}

fetch() { # fetch NAME VERSION URL DEST
	local name=$1 version=$2 url=$3 dest=$4
	case "$source" in
	upstream)
		curl --fail --silent --show-error --location --proto '=https' --tlsv1.2 \
			--retry 3 --output "$dest" "$url" || die "download of $url failed"
		;;
	vendor)
		local file="$vendor_dir/$name-$version-linux-$arch"
		[ -f "$file" ] || die "$file is missing: run \`invoke vendor\` (or place the file from $url there)"
		cp "$file" "$dest"
		;;
	*) die "unknown source '$source' (upstream or vendor)" ;;
	esac
}

install_one() { # install_one NAME VERSION SHA256 URL ARCHIVE_SHA256 MEMBER
	local name=$1 version=$2 sha=$3 url=$4 archive_sha=$5 member=$6
	local work actual
	work=$(mktemp -d)
	fetch "$name" "$version" "$url" "$work/download"
	actual=$(sha256sum "$work/download" | cut -d' ' -f1)
	if [ "$actual" = "$sha" ]; then
		mv "$work/download" "$work/binary"
	elif [ "$actual" = "$archive_sha" ]; then
		tar -xzf "$work/download" -C "$work" "$member"
		mv "$work/$member" "$work/binary"
		if [ "$sha" != - ]; then
			actual=$(sha256sum "$work/binary" | cut -d' ' -f1)
			[ "$actual" = "$sha" ] || die "$name: $member in the archive has sha256 $actual, lock says $sha"
		fi
	else
		die "$name $version ($arch): sha256 $actual matches neither $sha nor $archive_sha in the lock"
	fi
	install -m 0755 "$work/binary" "$out/$name"
	rm -rf "$work"
	echo "install-artifacts: $name $version ($arch) verified"
}

mkdir -p "$out"
found=0
while read -r name version row_arch sha url archive_sha member; do
	case "$name" in '' | '#'*) continue ;; esac
	[ "$row_arch" = "$arch" ] || continue
	install_one "$name" "$version" "$sha" "$url" "$archive_sha" "$member"
	found=$((found + 1))
done <"$lock"
[ "$found" -gt 0 ] || die "no artifacts for architecture '$arch' in $lock"
