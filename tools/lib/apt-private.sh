# shellcheck shell=bash
# A private apt configuration per Debian suite, built from this machine's own
# mirror: its own sources list, lists, cache and status under $CACHE/apt/SUITE.
# The system's apt state is never read or written, and no mirror host name is
# written down anywhere: the URI comes from the machine's apt sources.
#
# Source this file with CACHE set, then:
#   uri=$(mirror_uri)                  the machine's first Debian archive URI
#   setup_suite SUITE URI              write the sources list and run apt-get update
#   apt-get $(apt_opts SUITE) ...      any apt-get/apt-cache call on that suite
#   dep_matching SUITE PKG REGEX       the first dependency of PKG matching REGEX
#   download_unpack SUITE DIR PKG...   apt-get download PKG... and dpkg -x them into DIR
#
# APT_ARCH (default: this machine's architecture) is the architecture whose
# packages these calls see: another one (arm64) gets its own lists and cache
# under $CACHE/apt/SUITE-ARCH, so no dpkg --add-architecture is needed for it.
APT_KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
APT_ARCH=${APT_ARCH:-$(dpkg --print-architecture)}

# apt_dir SUITE: the private apt state of SUITE for APT_ARCH
apt_dir() {
	if [ "$APT_ARCH" = "$(dpkg --print-architecture)" ]; then
		echo "$CACHE/apt/$1"
	else
		echo "$CACHE/apt/$1-$APT_ARCH"
	fi
}

mirror_uri() {
	local uri
	uri=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' |
		grep -v -- '-security' | head -n 1)
	[ -n "$uri" ] || uri=$(grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list |
		sed 's/\[[^]]*\]//' | awk '{print $2}' | grep -v -- '-security' | head -n 1)
	echo "$uri"
}

apt_opts() {
	local dir
	dir=$(apt_dir "$1")
	echo "-o Dir::Etc::sourcelist=$dir/sources.list -o Dir::Etc::sourceparts=/nonexistent" \
		"-o Dir::State::Lists=$dir/lists -o Dir::Cache=$dir/cache" \
		"-o Dir::State::status=$dir/status -o Debug::NoLocking=1" \
		"-o APT::Get::List-Cleanup=0 -o Acquire::Languages=none" \
		"-o APT::Architecture=$APT_ARCH -o APT::Architectures=$APT_ARCH"
}

# setup_suite SUITE URI: lists refreshed at most once an hour
setup_suite() {
	local suite=$1 uri=$2 dir
	dir=$(apt_dir "$suite")
	mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial"
	[ -e "$dir/status" ] || : >"$dir/status"
	echo "deb [signed-by=$APT_KEYRING] $uri $suite main" >"$dir/sources.list"
	if [ -n "$(find "$dir/lists" -maxdepth 1 -name '*_Packages*' -mmin -60 2>/dev/null)" ]; then
		return 0
	fi
	# shellcheck disable=SC2046
	apt-get $(apt_opts "$suite") -qq update >"$dir/update.log" 2>&1
}

dep_matching() {
	# shellcheck disable=SC2046
	apt-cache $(apt_opts "$1") depends "$2" 2>/dev/null |
		awk '/Depends:/ {print $2}' | grep -E "$3" | head -n 1
}

# download_unpack SUITE DIR PKG...: the packages' files under DIR (no scripts run)
download_unpack() {
	local suite=$1 dir=$2 work deb
	shift 2
	work=$(mktemp -d)
	# shellcheck disable=SC2046
	if ! (cd "$work" && apt-get $(apt_opts "$suite") -qq download "$@" >"$work/log" 2>&1); then
		tail -n 1 "$work/log" >&2
		rm -rf "$work"
		return 1
	fi
	mkdir -p "$dir"
	for deb in "$work"/*.deb; do
		dpkg-deb -x "$deb" "$dir" || { rm -rf "$work"; return 1; }
	done
	rm -rf "$work"
}
