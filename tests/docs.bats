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

# Shell text on stdin: print "TOOL --option" for every long option given to one of our tools
# that the tool's --help does not name. Continued lines are joined; pipes and ';' split commands.
unknown_options() {
    local tools first rest word option help
    tools=" $(for f in "$ROOT"/tools/*.c; do basename "$f" .c; done | tr '\n' ' ') "
    sed -e ':a' -e '/\\$/N; s/\\\n//; ta' | tr '|;' '\n\n' | while read -r first rest; do
        [[ "$tools" == *" $first "* ]] || continue
        help=$("$first" --help 2>&1)
        for word in $rest; do
            case "$word" in
                --*) option=${word%%=*}; grep -qE -- "${option}([^a-z0-9-]|$)" <<<"$help" || echo "$first $option" ;;
            esac
        done
    done
}

# The shell blocks of a Markdown file, and the literal blocks and .Dl lines of a man page.
markdown_shell() { awk '/^```sh/ { b = 1; next } /^```/ { b = 0 } b' "$1"; }
man_commands() {
    awk '/^\.Bd -literal/ { b = 1; next } /^\.Ed/ { b = 0 } b; /^\.Dl / { print substr($0, 5) }' "$1" |
        sed 's/\\e/\\/g; s/\\&//g; s/\\-/-/g'
}

@test "unknown_options() finds an option a tool does not have" {
    run unknown_options <<<'h5slice -q x.hdf5 | chunkify --no-such-thing -k 5 \
        | act-train --stats s.tar --bogus-flag=3'
    [ "${lines[0]}" = "chunkify --no-such-thing" ] && [ "${lines[1]}" = "act-train --bogus-flag" ]
}

@test "README and man pages: every command gives our tools only options they have" {
    local bad=""
    bad+=$(markdown_shell "$ROOT/README.md" | unknown_options | sed 's/^/README.md: /')
    for page in "$ROOT"/man/man*/*.[1-9]; do
        bad+=$(man_commands "$page" | unknown_options | sed "s|^|${page#"$ROOT"/}: |")
    done
    echo "$bad"
    [ -z "$bad" ]
}

@test "README: the pipeline variables it sets exist in the pipeline it runs" {
    local bad="" line mk var inc files
    while IFS= read -r line; do
        mk=$(grep -o 'pipelines/[a-z_]*\.mk' <<<"$line" | head -1)
        [ -n "$mk" ] || continue
        # the pipeline and the files it includes from pipelines/
        files=("$ROOT/$mk")
        for inc in $(sed -n 's|^include \$(PIPELINES)/\([a-z_]*\.mk\)$|\1|p' "$ROOT/$mk"); do
            files+=("$ROOT/pipelines/$inc")
        done
        for var in $(grep -o '\b[A-Z_]*=' <<<"$line" | tr -d = | sort -u); do
            grep -qE "^$var[[:space:]]*[?:]?=" "${files[@]}" || bad="$bad $mk:$var"
        done
    done < <(markdown_shell "$ROOT/README.md" | sed -e ':a' -e '/\\$/N; s/\\\n//; ta')
    echo "unknown:$bad"
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
