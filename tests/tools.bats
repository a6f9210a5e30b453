#!/usr/bin/env bats
# tools.bats — what every tool shares: --help, --version and usage errors behave alike, exit
# statuses come from the enum in lib/util/error.h, every tool has a man page, and every man page
# is mandoc -Tlint clean.

bats_require_minimum_version 1.5.0

setup_file() {
    export ROOT="$BATS_TEST_DIRNAME/.."
}

# The built tools, one per tools/*.c.
tools() {
    local src
    for src in "$ROOT"/tools/*.c; do basename "$src" .c; done
}

@test "every tool: --help on stdout starting 'Usage: TOOL', exit 0, nothing on stderr" {
    for tool in $(tools); do
        run --separate-stderr "$tool" --help
        echo "$tool: status $status, stderr '$stderr', first line '${lines[0]}'"
        [ "$status" -eq 0 ] && [ -z "$stderr" ] && [[ "${lines[0]}" == "Usage: $tool "* ]]
    done
}

@test "every tool: --version prints 'TOOL (ilt) VERSION', exit 0" {
    for tool in $(tools); do
        run --separate-stderr "$tool" --version
        echo "$tool: status $status, output '$output'"
        [ "$status" -eq 0 ] && [[ "$output" =~ ^$tool\ \(ilt\)\ [0-9]+\.[0-9]+\.[0-9]+$ ]]
    done
}

@test "every tool: an unknown option is a usage error: exit 2, 'TOOL: ...' and 'Try 'TOOL --help'.', stdout empty" {
    for tool in $(tools); do
        run --separate-stderr "$tool" --no-such-option
        echo "$tool: status $status, stdout '$output', stderr '$stderr'"
        [ "$status" -eq 2 ] && [ -z "$output" ]
        [[ "$stderr" == "$tool: "* ]]
        [[ "$stderr" == *"Try '$tool --help'." ]]
    done
}

@test "every tool: no short -h or -V (help and version are long options only)" {
    for tool in $(tools); do
        for opt in -h -V; do
            run --separate-stderr "$tool" "$opt"
            echo "$tool $opt: status $status"
            [ "$status" -eq 2 ]
        done
    done
}

@test "tools' exit statuses are named (EXIT_SUCCESS, EXIT_DATA, EXIT_USAGE), not literal numbers" {
    local bad=""
    for tool in $(tools); do
        if grep -nE 'tool_die\([0-9]|exit\([0-9]|\? [0-9] : [0-9]|return [12];' "$ROOT/tools/$tool.c"; then
            bad="$bad $tool"
        fi
    done
    echo "literal exit statuses in:$bad"
    [ -z "$bad" ]
}

@test "every tool has a man page in man/man1" {
    for tool in $(tools); do
        echo "$tool"
        [ -f "$ROOT/man/man1/$tool.1" ]
    done
}

@test "every man page is mandoc -Tlint clean" {
    local pages=("$ROOT"/man/man*/*.[1-9])
    [ "${#pages[@]}" -ge 8 ]
    for page in "${pages[@]}"; do
        run mandoc -Tlint -W warning "$page"
        echo "${page#"$ROOT"/}: $output"
        [ "$status" -eq 0 ] && [ -z "$output" ]
    done
}
