#!/usr/bin/env bash
# The console and the customer page in a real browser: headless Chromium (Debian's `chromium` and
# `chromium-driver`, installed as root when missing) driven by Selenium (from PyPI, into a virtual
# environment under .build) against a running `vigil serve` on a temporary SQLite file with
# sandbox providers. scripts/browser/console_test.py does the walk (sign-in refused then
# accepted, overview, search, an order approved by hand, a form without its CSRF token, the
# viewer's read-only view, a customer page approved and another declined as the sandbox ID
# provider, the Content-Security-Policy, sign-out) and audits each page for unlabelled controls
# and for a layout wider than a phone. Screenshots of every page go to .build/browser-screenshots/
# (emptied first). About 30 s; stops Vigil and the browser and removes its files.
# Usage: VIGIL_BIN_DIR=<folder holding vigil> bash scripts/checks/50-browser.sh [--readme-images docs/images]
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
# shellcheck source=scripts/private-postgres.sh
. scripts/private-postgres.sh   # free_port

if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
        echo "browser: installing Debian's chromium and chromium-driver"
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver; } \
            >/dev/null || { echo "browser: apt-get install chromium chromium-driver failed"; exit 1; }
    else
        echo "browser: chromium or chromedriver is missing: apt-get install chromium chromium-driver (as root)"; exit 1
    fi
fi

venv=.build/browser-venv
if ! "$venv/bin/python" -c 'import selenium' >/dev/null 2>&1; then
    echo "browser: installing selenium into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q "selenium==4.51.0"
fi
extra=()
if [[ ${1:-} == --readme-images ]]; then
    # Only for refreshing the README's images: Pillow compresses them.
    "$venv/bin/python" -c 'import PIL' >/dev/null 2>&1 || "$venv/bin/pip" install -q "pillow==13.0.0"
    extra=(--readme-images "$root/${2:?--readme-images needs a folder}")
fi

bin_dir=${VIGIL_BIN_DIR:-$(swift build --show-bin-path)}
[[ -x $bin_dir/vigil ]] || { echo "browser: no vigil binary in $bin_dir"; exit 1; }

work=$(mktemp -d /tmp/vigil-browser.XXXXXX)
vigil_pid=
# shellcheck disable=SC2329   # run by the EXIT trap
cleanup() {
    if [[ -n $vigil_pid ]]; then
        kill "$vigil_pid" 2>/dev/null || true
        wait "$vigil_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

port=$(free_port)
export VIGIL_DATABASE_URL="sqlite://$work/vigil.sqlite"
operator=browser-operator operator_password="operator-$RANDOM-$RANDOM-password"
viewer=browser-viewer viewer_password="viewer-$RANDOM-$RANDOM-password"
"$bin_dir/vigil" users add "$operator" --role operator --password-stdin <<<"$operator_password" >"$work/users.log" 2>&1 \
    && "$bin_dir/vigil" users add "$viewer" --role viewer --password-stdin <<<"$viewer_password" >>"$work/users.log" 2>&1 \
    || { cat "$work/users.log"; echo "browser: vigil users add failed"; exit 1; }

(cd "$work" && VIGIL_PORT=$port VIGIL_HOST=127.0.0.1 VIGIL_PROVIDERS=sandbox VIGIL_LOG_LEVEL=warning \
    exec "$bin_dir/vigil" serve >"$work/vigil.log" 2>&1) &
vigil_pid=$!
for _ in $(seq 150); do
    python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/healthz', timeout=1)" \
        >/dev/null 2>&1 && break
    kill -0 "$vigil_pid" 2>/dev/null || { cat "$work/vigil.log"; echo "browser: vigil serve exited"; exit 1; }
    sleep 0.1
done

shots=.build/browser-screenshots
rm -rf "$shots"
echo "browser: $(chromium --version 2>/dev/null | head -1) and selenium $("$venv/bin/python" -c 'import selenium; print(selenium.__version__)') against vigil serve on 127.0.0.1:$port"
status=0
"$venv/bin/python" scripts/browser/console_test.py --base "http://127.0.0.1:$port" \
    --operator "$operator:$operator_password" --viewer "$viewer:$viewer_password" \
    --screenshots "$root/$shots" "${extra[@]}" || status=$?
if [[ $status -ne 0 ]]; then
    echo "browser: vigil's log (last 30 lines):"
    tail -n 30 "$work/vigil.log"
    echo "browser: failed; screenshots in $shots"
fi
exit "$status"
