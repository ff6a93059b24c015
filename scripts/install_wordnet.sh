#!/usr/bin/env bash
# Install WordNet 3.0 for NLTK without network access to nltk.org.
#
# Debian's `wordnet-base` (data.*, index.*, *.exc) and `wordnet-sense-index`
# (index.sense) hold the Princeton WordNet 3.0 database files. NLTK's WordNet reader
# also needs `lexnames` (lexicographer file numbers, listed in lexnames(5WN)), which
# Debian does not ship as a file, so it is written here.
#
# Result: <repo>/.nltk_data/corpora/wordnet/, which zsbir.split.wordnet finds on its own
# (or point NLTK_DATA at <repo>/.nltk_data). Only needed for name lookup of classes
# without a wnid, for wnids outside the committed table, and for
# scripts/make_imagenet_table.py. Idempotent; needs root (or sudo) only for apt-get.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SRC="${WORDNET_DIR:-/usr/share/wordnet}"
DEST="${1:-$REPO/.nltk_data}/corpora/wordnet"
FILES="data.noun data.verb data.adj data.adv index.noun index.verb index.adj index.adv
noun.exc verb.exc adj.exc adv.exc index.sense"

if [ ! -f "$SRC/data.noun" ] || [ ! -f "$SRC/index.sense" ]; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || { echo "install_wordnet: need root or sudo for apt-get" >&2; exit 1; }
        SUDO="sudo"
    fi
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends \
        wordnet-base wordnet-sense-index
fi

mkdir -p "$DEST"
for f in $FILES; do
    [ -f "$SRC/$f" ] || { echo "install_wordnet: missing $SRC/$f" >&2; exit 1; }
    cp "$SRC/$f" "$DEST/$f"
done

# lexnames(5WN): "<file number>\t<lexicographer file>\t<syntactic category>"
# (1 noun, 2 verb, 3 adjective, 4 adverb).
i=0
: > "$DEST/lexnames"
for name in adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact \
    noun.attribute noun.body noun.cognition noun.communication noun.event noun.feeling \
    noun.food noun.group noun.location noun.motive noun.object noun.person \
    noun.phenomenon noun.plant noun.possession noun.process noun.quantity noun.relation \
    noun.shape noun.state noun.substance noun.time verb.body verb.change verb.cognition \
    verb.communication verb.competition verb.consumption verb.contact verb.creation \
    verb.emotion verb.motion verb.perception verb.possession verb.social verb.stative \
    verb.weather adj.ppl; do
    case "$name" in
        noun.*) cat=1 ;; verb.*) cat=2 ;; adj.*) cat=3 ;; adv.*) cat=4 ;;
    esac
    printf '%02d\t%s\t%d\n' "$i" "$name" "$cat" >> "$DEST/lexnames"
    i=$((i + 1))
done

echo "install_wordnet: WordNet 3.0 ready in $DEST"
