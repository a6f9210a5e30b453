# mpi_paper.awk — the on-paper scaling of data-parallel training across nodes, from the step
# time measured here (bench/mpi.sh's summary lines: "config layout step_seconds parameters").
#
# Assumptions: every node computes what one process with two threads computes here (weak
# scaling: the global batch grows with the nodes, --batch-size = N x the per-node batch); the
# gradient of every float of the parameter block (4 bytes each) is summed once per step after the
# backward pass, without overlap with computation (as lib/train/dist.c does); the sum moves
# 2 (N-1)/N x bytes per node, as a ring allreduce does (dist.c's reduce-scatter by MPI_Alltoallv and
# MPI_Allgatherv move the same bytes per node, on a switch where every pair of nodes has the link's
# bandwidth); the link runs at its nominal rate, latency ignored (a few hundred 16 MB pieces'
# messages at most); summing the pieces costs nothing beside the transfer.
# Efficiency = compute / (compute + exchange).
$2 == "1p2t" { step[$1] = $3; params[$1] = $4; order[++n] = $1 }
END {
    print "# on paper: step time and efficiency on N nodes (weak scaling, ring allreduce, no overlap)"
    printf "%-4s %9s %10s %5s %9s %11s %10s %10s\n", "cfg", "MB/step", "compute s", "N", "Gbit/s", "exchange s", "step s", "efficiency"
    for (i = 1; i <= n; i++) {
        c = order[i]; bytes = 4 * params[c]
        split("2 8 32", nodes, " "); split("10 100", links, " ")
        for (a = 1; a <= 3; a++)
            for (b = 1; b <= 2; b++) {
                N = nodes[a]; bw = links[b] * 1e9 / 8
                t = 2 * (N - 1) / N * bytes / bw
                printf "%-4s %9.0f %10.2f %5d %9d %11.3f %10.2f %9.0f%%\n", c, bytes / 1e6, step[c], N, links[b], t, step[c] + t,
                       100 * step[c] / (step[c] + t)
            }
    }
}
