# Sourced by scripts/test: installs the Debian packages that some tests run as real programs
# (e.g. a Prometheus server), only those not yet there. Works under `set -euo pipefail`.

# Whether a package is there: by the command the tests run, since that is what they need;
# other packages by dpkg's status.
_debian_package_present() {
    case "$1" in
        prometheus) [ -x /usr/bin/prometheus ] ;;
        chromium) [ -x /usr/bin/chromium ] ;;
        chromium-driver) [ -x /usr/bin/chromedriver ] ;;
        *) dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed' ;;
    esac
}

ensure_debian_packages() {
    local missing=() pkg
    for pkg in "$@"; do
        _debian_package_present "$pkg" || missing+=("$pkg")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0

    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        # -n: never stop the run to ask for a password.
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            sudo=(sudo -n)
        else
            # A developer without root still gets a run; only these tests skip (CI fails them).
            echo "warning: not root and no sudo, so ${missing[*]} cannot be installed;" \
                "the tests that need them will be skipped" >&2
            return 0
        fi
    fi

    echo "==> Installing Debian packages: ${missing[*]}"
    # policy-rc.d exiting 101 tells invoke-rc.d not to start services: packages such as
    # prometheus would otherwise start their daemon from /etc/init.d when there is no systemd.
    # An existing policy-rc.d is set aside and put back afterwards (one already set aside by
    # an interrupted run is the original, so it is kept).
    local policy=/usr/sbin/policy-rc.d saved=/usr/sbin/policy-rc.d.ensure-debian-packages
    if [ -e "$policy" ] && [ ! -e "$saved" ]; then "${sudo[@]}" mv "$policy" "$saved"; fi
    printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
    "${sudo[@]}" chmod 755 "$policy"

    local status=0
    # A failed update still leaves the old lists, which may well have the packages.
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq \
        || echo "warning: apt-get update failed; trying the install anyway" >&2
    # No recommends: prometheus recommends prometheus-node-exporter, another daemon.
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || status=$?

    "${sudo[@]}" rm -f "$policy"
    if [ -e "$saved" ]; then "${sudo[@]}" mv "$saved" "$policy"; fi
    return "$status"
}
