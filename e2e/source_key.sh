# Sourced by the e2e build scripts. Their outputs live in a cache shared by every checkout on the
# machine (a CI clone elsewhere, a work tree), so a build is reused only when the sources it was
# made from are the same, byte for byte: file times say nothing across checkouts.
#
#   key=$(source_key "$here" pom.xml src build.sh)
source_key() {
  local dir=$1
  shift
  (cd "$dir" && find "$@" -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-64)
}
