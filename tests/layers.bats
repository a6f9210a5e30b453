#!/usr/bin/env bats
# layers.bats — lib/ is in layers: a file in lib/<layer>/ includes only the layers allowed below
# (the table in docs/HACKING.md), and nothing in lib/ includes a tool.

bats_require_minimum_version 1.5.0

# layer: the layers its files may include
allowed() {
    case "$1" in
        util)   echo "util" ;;
        nn)     echo "util nn" ;;
        io)     echo "util nn io" ;;
        policy) echo "util nn io policy" ;;
        train)  echo "util nn io policy train" ;;
        ilt)    echo "util nn io policy ilt" ;;
        sim)    echo "util sim" ;;
        rollout) echo "util io policy sim rollout" ;;
        video)  echo "util video" ;;
        *)      echo "" ;;
    esac
}

@test "every file in lib/<layer>/ includes only the layers it may" {
    local root="$BATS_TEST_DIRNAME/.." bad="" n=0
    for dir in "$root"/lib/*/; do
        layer=$(basename "$dir")
        ok=$(allowed "$layer")
        if [ -z "$ok" ]; then bad="$bad; lib/$layer is not a known layer (add it to tests/layers.bats and docs/HACKING.md)"; continue; fi
        while IFS=: read -r file line text; do
            n=$((n + 1))
            inc=$(sed -n 's/^#include "\([a-z_]*\)\/.*/\1/p' <<<"$text")
            [ -z "$inc" ] && continue
            [[ " $ok " == *" $inc "* ]] || bad="$bad; ${file#"$root"/}:$line includes $inc/"
        done < <(grep -Hn '^#include "' "$dir"*.[ch] 2>/dev/null)
    done
    echo "$n includes checked${bad}"
    [ "$n" -gt 100 ] && [ -z "$bad" ]
}

@test "nothing in lib/ includes a tool or a test" {
    run grep -rnE '^#include "(tools|tests)/|^#include "\.\./' "$BATS_TEST_DIRNAME/../lib"
    echo "$output"
    [ "$status" -eq 1 ]
}
