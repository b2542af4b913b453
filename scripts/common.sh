# Shared by scripts/dev.sh and scripts/test.sh: install what is missing (Debian 12, as root or
# with sudo), then configure and build a preset.
set -euo pipefail

PRAETOR_PACKAGES=(
  g++ clang libclang-rt-14-dev cmake ninja-build ccache pkg-config git curl ca-certificates
  libuv1-dev libcereal-dev libfmt-dev nlohmann-json3-dev libhttp-parser-dev libcli11-dev
  libssl-dev libgtest-dev libgmock-dev librapidcheck-dev libbenchmark-dev
)
# What only the test suite needs (scripts/test.sh): the real clients (tests/clients), the
# Patroni end-to-end test (tests/e2e/patroni), and for DNS (issue 13) dig and dnsmasq (the
# company-DNS forwarding test, tests/process/dns_integration.sh). dnsmasq-base, not dnsmasq: it
# ships the same /usr/sbin/dnsmasq without the system service, so nothing starts listening on
# port 53 behind the tests' back. A user starting an agent with scripts/dev.sh does not get
# PostgreSQL installed.
# mariadb-server, mariadb-client, redis-server and redis-tools: the seed's MySQL and Redis
# switchovers found by DNS (tests/e2e/mariadb, tests/e2e/redis), which start their own mysqld and
# redis-server on 127.0.0.100-101:3333 and 127.0.0.110-111:6379 with temp data dirs. On a host
# with systemd, Debian starts the packages' services at install (mariadb on 127.0.0.1:3306,
# redis-server on 127.0.0.1:6379) and enables them at boot. The tests neither use nor stop them,
# and do not collide with them: different addresses (and, for MariaDB, port). Disable them with
# `systemctl disable --now mariadb redis-server` if you do not want them.
PRAETOR_TEST_PACKAGES=(
  python3 python3-consul patroni postgresql-15 postgresql-client-15 util-linux
  bind9-dnsutils dnsmasq-base
  mariadb-server mariadb-client redis-server redis-tools
)

praetor_root() { cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# install_deps [test]: the build dependencies, and with `test` also the test suite's.
install_deps() {
  local missing=()
  local wanted=("${PRAETOR_PACKAGES[@]}")
  [ "${1:-}" = test ] && wanted+=("${PRAETOR_TEST_PACKAGES[@]}")
  for p in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ "${1:-}" = test ]; then
    # The real-client tests (tests/clients) run the npm `consul` package under node. Checked by
    # command, not package: a node from elsewhere (nodesource ships npm inside its nodejs) is
    # fine, and Debian's npm package would conflict with it.
    command -v node > /dev/null || missing+=(nodejs)
    command -v npm > /dev/null || missing+=(npm)
  fi
  if [ ${#missing[@]} -eq 0 ]; then
    echo "==> all build dependencies are installed"
    return
  fi
  echo "==> installing: ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# build_preset <preset> [targets...]
build_preset() {
  local preset=$1
  shift
  local root
  root=$(praetor_root)
  export CCACHE_DIR="${CCACHE_DIR:-$root/.cache/ccache}"
  cmake --preset "$preset" -S "$root" > /dev/null
  cmake --build "$root/build/$preset" -j "$(nproc)" ${1:+--target "$@"}
}
