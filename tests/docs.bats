#!/usr/bin/env bats
# docs.bats — the documents agree with the code and with each other: the README's summary figures
# are the ones in docs/results.md, links between documents resolve, the README's tools table lists
# exactly the tools there are, and the documents speak only of the toolkit.

bats_require_minimum_version 1.5.0

setup_file() {
    export ROOT="$BATS_TEST_DIRNAME/.."
}

# GitHub's anchor of a Markdown heading: lower case, punctuation dropped, spaces to hyphens.
slug() {
    printf '%s\n' "$1" | tr '[:upper:]' '[:lower:]' | sed 's/[^a-z0-9 _-]//g; s/ /-/g'
}

# The lines of FILE's section whose heading has anchor ANCHOR, up to the next heading of the same
# or a higher level.
section() {
    awk -v want="$2" '
        function slug(s) { s = tolower(s); gsub(/[^a-z0-9 _-]/, "", s); gsub(/ /, "-", s); return s }
        /^```/ { fence = !fence }
        !fence && /^#+ / {
            level = index($0, " ") - 1
            if (inside && level <= inside_level) exit
            if (slug(substr($0, level + 2)) == want) { inside = 1; inside_level = level }
        }
        inside { print }' "$1"
}

# "TEXT<TAB>TARGET" for every Markdown link in stdin.
links() {
    grep -o '\[[^]]*\]([^)]*)' | sed 's/^\[\(.*\)\](\(.*\))$/\1\t\2/'
}

@test "section() and slug(): the anchor of a results heading" {
    [ "$(slug 'ACT: training step and inference against PyTorch')" = act-training-step-and-inference-against-pytorch ]
    run section "$ROOT/docs/results.md" act-success-in-simulation
    [[ "${lines[0]}" == "## ACT: success in simulation" ]]
    [[ "$output" != *"## make demo"* ]]
}

@test "README: every figure of the results summary is in a table of the docs/results.md section it links" {
    local summary n=0 bad=""
    summary=$(sed -n '/^<!-- results summary/,/^<!-- results summary end -->/p' "$ROOT/README.md")
    while IFS=$'\t' read -r text target; do
        [[ "$target" == docs/results.md#* ]] || continue
        n=$((n + 1))
        rows=$(section "$ROOT/docs/results.md" "${target#*#}" | grep '^|' || true)
        if [ -z "$rows" ]; then
            bad="$bad; no table under ${target#*#}"
        elif ! grep -qF -- "$text" <<<"$rows"; then
            bad="$bad; '$text' is not in a table of ${target#*#}"
        fi
    done < <(links <<<"$summary")
    echo "$n figures checked$bad"
    [ "$n" -ge 8 ] && [ -z "$bad" ]
}

@test "README: the make demo transcript's result is the run recorded in docs/results.md" {
    line=$(grep -m1 '^success rate: ' "$ROOT/README.md")
    echo "README: $line"
    [ -n "$line" ]
    section "$ROOT/docs/results.md" make-demo | grep '^|' | grep -qF -- "$line"
}

@test "README and docs: relative links name files that exist, and anchors into docs/results.md exist" {
    local bad=""
    for doc in "$ROOT/README.md" "$ROOT"/docs/*.md; do
        dir=$(dirname "$doc")
        while IFS=$'\t' read -r text target; do
            case "$target" in http*|mailto:*) continue ;; esac
            file=${target%%#*} anchor=""
            [[ "$target" == *#* ]] && anchor=${target#*#}
            [ -z "$file" ] && file=$(basename "$doc")
            if [ ! -e "$dir/$file" ]; then bad="$bad; ${doc#"$ROOT"/}: $target: no such file"; continue; fi
            if [ -n "$anchor" ] && [[ "$file" == *.md ]] && [ -z "$(section "$dir/$file" "$anchor")" ]; then
                bad="$bad; ${doc#"$ROOT"/}: $target: no such heading"
            fi
        done < <(links < "$doc")
    done
    echo "${bad#; }"
    [ -z "$bad" ]
}

@test "README: the tools table lists exactly the tools in tools/" {
    local listed expected
    listed=$(sed -n '/^## Tools/,/^## /p' "$ROOT/README.md" | grep -o '^| `[a-z0-9-]*`' | tr -d '|` ' | sort)
    expected=$(for f in "$ROOT"/tools/*.c; do basename "$f" .c; done | sort)
    echo "listed: $listed"
    echo "tools:  $expected"
    [ "$listed" = "$expected" ]
}

@test "README: short (at most 200 lines) and names man pages and documents that exist" {
    [ "$(wc -l < "$ROOT/README.md")" -le 200 ]
    for path in $(grep -o '\(man/man[1-9]/[a-z0-9-]*\.[1-9]\|docs/[A-Za-z]*\.md\|pipelines/[a-z_]*\.\(mk\|sh\)\)' "$ROOT/README.md" | sort -u); do
        echo "$path"
        [ -e "$ROOT/$path" ]
    done
}

@test "README, docs and man pages speak of the toolkit, not of how it was written" {
    run grep -rniE 'session|the issue asks|helper' "$ROOT/README.md" "$ROOT/docs" "$ROOT/man"
    echo "$output"
    [ "$status" -eq 1 ]
}
